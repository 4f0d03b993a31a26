"""Speed and quality of the nzarc-int-v1 runtime (integer SmolLM2) against a float32 reference.

Usage (from the repository root, model installed in $NZARC_HOME)::

    python -m bench.neural_runtime speed [--threads 2] [--prefill 1x512 4x1024] [--incremental 64 256]
        [--gguf PATH.gguf]   (adds the float32 forward of the same weights, same shapes)
    python -m bench.neural_runtime quality --gguf PATH.gguf [--bytes 200000] [--window 2048]
        [--act-levels 1|2]   (the runtime's activation precision; speed takes it too)
        [--runtimes nzarc-int-v1 nzarc-int-v2]   (each file under each runtime, the same windows)
    ... [--out bench/RESULTS-neural-runtime.json]

``tok_per_cpu_s`` divides by the process's CPU time: with ``--threads 1`` on a shared, loaded
machine it approximates the single-core rate; ``tok_per_s`` is wall-clock.

Quality: bits per byte = sum over tokens of -log2(f/2**24) / bytes, each file slice cut into
windows of ``--window`` tokens (each window starts with BOS and predicts its own tokens; the
first token of a window is coded given BOS only). The float32 reference runs the same
dequantised GGUF weights in plain PyTorch (rotate adjacent pairs, softmax in float64) on the
same windows. With several ``--runtimes`` each row also gives every runtime's bpb and its
difference from the first one's in percent (``--gguf`` is then optional). Files come from
../shared/corpus.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import nzarc.neural  # noqa: F401  (sets the OpenMP wait policy before torch loads)

# isort: split
import torch

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
FILES = ["canterbury/alice29.txt", "calgary/book1", "enwik/enwik6"]


def _model():
    from nzarc.neural.runtime import RuntimeOptions
    from nzarc.neural.store import SMOLLM2_NAME, ModelStore

    store = ModelStore.default()
    e = store.find(SMOLLM2_NAME)
    if e is None:
        sys.exit("model not installed: run `nzarc model install smollm2-135m`")
    return store.load(e.sha256, RuntimeOptions.from_env(os.environ))


def _windows(m, data: bytes, window: int) -> tuple[list[list[int]], int]:
    ids = m.tokenizer.encode(data)
    step = window - 1
    return [[m.bos_id] + ids[i : i + step] for i in range(0, len(ids), step)], len(ids)


# ------------------------------------------------------------------------------- speed


def bench_speed(args: argparse.Namespace) -> dict:
    m = _model().with_act_levels(args.act_levels)
    g = torch.Generator().manual_seed(0)
    out: dict = {"prefill": [], "incremental": []}
    # warm-up: GEMM self-test, kernel loading (numba's on-disk cache) outside the timings
    list(m.prefill_freqs(torch.full((1, 16), m.bos_id, dtype=torch.int64)))
    m.session(1, 2).step(torch.tensor([m.bos_id]))
    for spec in args.prefill:
        b, t = (int(x) for x in spec.split("x"))
        toks = torch.randint(100, 40000, (b, t), generator=g)
        toks[:, 0] = m.bos_id
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in m.prefill_freqs(toks):
            pass
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        out["prefill"].append(
            {
                "batch": b,
                "window": t,
                "tok_per_s": round(b * t / dt, 1),
                "tok_per_cpu_s": round(b * t / dc, 1),
            }
        )
        print(
            f"prefill     batch {b:4d} window {t:5d}: {b * t / dt:8.1f} tok/s  {b * t / dc:8.1f} tok/cpu-s",
            flush=True,
        )
    for b in args.incremental:
        s = m.session(b, args.inc_len + args.inc_steps)
        for _ in range(args.inc_len):  # fill the caches to a realistic depth
            s.step(torch.randint(100, 40000, (b,), generator=g))
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.inc_steps):
            s.step(torch.randint(100, 40000, (b,), generator=g))
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        rate, crate = b * args.inc_steps / dt, b * args.inc_steps / dc
        out["incremental"].append(
            {
                "batch": b,
                "depth": args.inc_len,
                "tok_per_s": round(rate, 1),
                "tok_per_cpu_s": round(crate, 1),
            }
        )
        print(
            f"incremental batch {b:4d} depth {args.inc_len:5d}: {rate:8.1f} tok/s  {crate:8.1f} tok/cpu-s",
            flush=True,
        )
    return out


# ----------------------------------------------------------------------------- quality


class FloatReference:
    """float32 forward of the dequantised GGUF weights (the quality baseline)."""

    def __init__(self, gguf: str) -> None:
        from nzarc.neural.gguf_import import read_gguf_floats

        cfg, fl, _ = read_gguf_floats(gguf)
        self.cfg = cfg
        self.w = {k: torch.from_numpy(v) for k, v in fl.items()}

    def _rope(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        d = x.shape[-1]
        th = float(self.cfg["rope_theta"]) ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
        ang = pos[:, None].double() * th[None]
        c, s = torch.cos(ang).float()[:, None, :], torch.sin(ang).float()[:, None, :]
        y = torch.empty_like(x)
        y[..., 0::2] = x[..., 0::2] * c - x[..., 1::2] * s
        y[..., 1::2] = x[..., 0::2] * s + x[..., 1::2] * c
        return y

    @torch.no_grad()
    def logprobs(self, tok: list[int]) -> torch.Tensor:
        cfg, w = self.cfg, self.w
        T, H, KV, D = len(tok), cfg["n_head"], cfg["n_kv_head"], cfg["head_dim"]
        eps = cfg["eps"]

        def rms(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
            return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * g

        pos = torch.arange(T)
        h = w["embed"][torch.tensor(tok)].clone()
        mask = torch.full((T, T), float("-inf")).triu(1)
        for li in range(cfg["n_layer"]):
            p = f"{li}."
            x = rms(h, w[p + "attn_norm"])
            q = self._rope((x @ w[p + "wq"].t()).view(T, H, D), pos)
            k = self._rope((x @ w[p + "wk"].t()).view(T, KV, D), pos).repeat_interleave(H // KV, 1)
            v = (x @ w[p + "wv"].t()).view(T, KV, D).repeat_interleave(H // KV, 1)
            a = torch.softmax(torch.einsum("thd,shd->hts", q, k) / math.sqrt(D) + mask, -1)
            h = h + torch.einsum("hts,shd->thd", a, v).reshape(T, H * D) @ w[p + "wo"].t()
            x = rms(h, w[p + "ffn_norm"])
            h = (
                h
                + (torch.nn.functional.silu(x @ w[p + "wg"].t()) * (x @ w[p + "wu"].t()))
                @ w[p + "wd"].t()
            )
        logits = rms(h, w["out_norm"]) @ w["embed"].t()
        return torch.log_softmax(logits.double(), -1)


    @torch.no_grad()
    def forward(self, tok: torch.Tensor, cache: list | None = None) -> torch.Tensor:
        """Batched float32 logits [B, T, V] for tok [B, T]; with ``cache`` (a list, filled on
        the first call) positions continue from the cached ones (incremental decoding)."""
        cfg, w = self.cfg, self.w
        B, T = tok.shape
        H, KV, D = cfg["n_head"], cfg["n_kv_head"], cfg["head_dim"]
        eps = cfg["eps"]
        p0 = int(cache[-1]) if cache else 0

        def rms(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
            return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * g

        pos = torch.arange(p0, p0 + T)
        h = w["embed"][tok]
        G = H // KV
        for li in range(cfg["n_layer"]):
            p = f"{li}."
            x = rms(h, w[p + "attn_norm"])
            q = self._rope((x @ w[p + "wq"].t()).view(B, T, H, D), pos).transpose(1, 2)
            k = self._rope((x @ w[p + "wk"].t()).view(B, T, KV, D), pos).transpose(1, 2)
            v = (x @ w[p + "wv"].t()).view(B, T, KV, D).transpose(1, 2)
            if cache is None or p0 == 0:  # prefill: causal attention over the window
                if cache is not None:  # preallocated caches, as a decoder would keep them
                    room = max(64, T)
                    kc = torch.zeros(B, KV, T + room, D)
                    vc = torch.zeros(B, KV, T + room, D)
                    kc[:, :, :T], vc[:, :, :T] = k, v
                    cache.append([kc, vc])
                o = torch.nn.functional.scaled_dot_product_attention(
                    q, k.repeat_interleave(G, 1), v.repeat_interleave(G, 1), is_causal=True
                )
            else:  # one new position: grouped-query attention against the caches in place
                kc, vc = cache[li]
                if p0 + T > kc.shape[2]:
                    kc = torch.cat([kc, torch.zeros_like(kc)], dim=2)
                    vc = torch.cat([vc, torch.zeros_like(vc)], dim=2)
                    cache[li] = [kc, vc]
                kc[:, :, p0 : p0 + T], vc[:, :, p0 : p0 + T] = k, v
                qg = q.reshape(B, KV, G * T, D)
                a = torch.softmax(qg @ kc[:, :, : p0 + T].transpose(-1, -2) / math.sqrt(D), -1)
                o = (a @ vc[:, :, : p0 + T]).reshape(B, H, T, D)
            h = h + o.transpose(1, 2).reshape(B, T, H * D) @ w[p + "wo"].t()
            x = rms(h, w[p + "ffn_norm"])
            h = h + (torch.nn.functional.silu(x @ w[p + "wg"].t()) * (x @ w[p + "wu"].t())) @ w[
                p + "wd"
            ].t()
        if cache is not None:
            if p0 == 0:
                cache.append(T)  # the last item counts the cached positions
            else:
                cache[-1] += T
        return rms(h, w["out_norm"]) @ w["embed"].t()


def bench_float_speed(args: argparse.Namespace) -> dict:
    """The same shapes through the float32 forward of the dequantised weights."""
    ref = FloatReference(args.gguf)
    g = torch.Generator().manual_seed(0)
    ref.forward(torch.full((1, 16), 100, dtype=torch.int64))  # warm-up
    out: dict = {"prefill": [], "incremental": []}
    for spec in args.prefill:
        b, t = (int(x) for x in spec.split("x"))
        toks = torch.randint(100, 40000, (b, t), generator=g)
        t0, c0 = time.perf_counter(), time.process_time()
        ref.forward(toks)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        out["prefill"].append({"batch": b, "window": t, "tok_per_s": round(b * t / dt, 1),
                               "tok_per_cpu_s": round(b * t / dc, 1)})  # fmt: skip
        print(f"fp32 prefill     batch {b:4d} window {t:5d}: {b * t / dt:8.1f} tok/s", flush=True)
    for b in args.incremental:
        cache: list = []
        ref.forward(torch.randint(100, 40000, (b, args.inc_len), generator=g), cache)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.inc_steps):
            ref.forward(torch.randint(100, 40000, (b, 1), generator=g), cache)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        rate = b * args.inc_steps / dt
        out["incremental"].append({"batch": b, "depth": args.inc_len, "tok_per_s": round(rate, 1),
                                   "tok_per_cpu_s": round(b * args.inc_steps / dc, 1)})  # fmt: skip
        print(f"fp32 incremental batch {b:4d} depth {args.inc_len:5d}: {rate:8.1f} tok/s", flush=True)
    return out


def bench_quality(args: argparse.Namespace) -> dict:
    base = _model().with_act_levels(args.act_levels)
    models = [base.with_runtime(rt) for rt in args.runtimes]
    m = models[0]
    ref = FloatReference(args.gguf) if args.gguf else None
    rows = []
    for name in args.files:
        path = CORPUS / name
        if not path.is_file():
            print(f"skip {name}: corpus not found")
            continue
        data = path.read_bytes()[: args.bytes]
        wins, ntok = _windows(m, data, args.window)
        bits = [0.0] * len(models)
        bits_float = 0.0
        t0 = time.perf_counter()
        for w in wins:
            tgt = torch.tensor(w[1:])
            inp = torch.tensor([w[:-1]]) if len(w) > 1 else None
            if inp is None:
                continue
            for k, mk in enumerate(models):
                for s0, f in mk.prefill_freqs(inp):
                    n = f.shape[1]
                    sel = f[0, torch.arange(n), tgt[s0 : s0 + n]].double()
                    bits[k] += float(-(torch.log2(sel) - mk.freq_bits).sum())
            if ref is not None:
                lp = ref.logprobs(w[:-1])
                bits_float += float(-lp[torch.arange(len(tgt)), tgt].sum()) / math.log(2)
        dt = time.perf_counter() - t0
        bits_int = bits[0]
        row = {"file": name, "bytes": len(data), "tokens": ntok, "window": args.window,
               "act_levels": args.act_levels, "runtime": m.runtime_id,
               "bpb_int": round(bits_int / len(data), 4)}  # fmt: skip
        if len(models) > 1:
            row["bpb_by_runtime"] = {mk.runtime_id: round(b / len(data), 5) for mk, b in zip(models, bits, strict=True)}
            row["vs_first_pct"] = {mk.runtime_id: round(100 * (b / bits_int - 1), 3) for mk, b in zip(models, bits, strict=True)}
        if ref is not None:
            row["bpb_float"] = round(bits_float / len(data), 4)
            row["int_vs_float_pct"] = round(100 * (bits_int / bits_float - 1), 2)
        row["seconds"] = round(dt, 1)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return {"quality": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.neural_runtime", description=__doc__.split("\n")[0]
    )
    ap.add_argument("what", choices=["speed", "quality"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefill", nargs="*", default=["1x512", "4x1024"])
    ap.add_argument("--incremental", nargs="*", type=int, default=[64, 256])
    ap.add_argument("--inc-len", type=int, default=256)
    ap.add_argument("--inc-steps", type=int, default=8)
    ap.add_argument("--gguf", help="the source GGUF, for the float32 reference")
    ap.add_argument("--files", nargs="*", default=FILES)
    ap.add_argument("--bytes", type=int, default=200_000)
    ap.add_argument("--window", type=int, default=2048)
    ap.add_argument("--act-levels", type=int, default=1, choices=[1, 2],
                    help="the runtime's activation precision (spec/NEURAL.md 3.4)")
    ap.add_argument("--runtimes", nargs="+", default=["nzarc-int-v1"],
                    choices=["nzarc-int-v1", "nzarc-int-v2"],
                    help="quality: the runtimes to compare on the same windows (the first is the baseline)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from nzarc.neural.runtime import RuntimeOptions, kernels_name, matmul_backend

    options = RuntimeOptions.from_env(os.environ)
    if args.what == "speed":
        res = bench_speed(args)
        if args.gguf:  # the float32 baseline, same shapes, same run
            res["fp32"] = bench_float_speed(args)
    else:
        res = bench_quality(args)
    res["env"] = {"threads": args.threads, "backend": matmul_backend(options), "kernels": kernels_name(options),
                  "torch": torch.__version__, "machine": platform.machine(),
                  "loadavg": os.getloadavg()[0]}  # fmt: skip
    if args.out:
        old = json.loads(args.out.read_text()) if args.out.exists() else {}
        old[args.what] = res
        args.out.write_text(json.dumps(old, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
