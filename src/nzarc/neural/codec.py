"""``nzarc.neural``: text compressed by the exact integer language model and a range coder.

Importing this module is cheap: torch, the runtime and the model are loaded
only when a codec is used. ``spec/NEURAL-CODEC.md`` ("Range coding and the
nzarc.neural bitstream") is the normative description of the bitstream;
this docstring summarises it.

Params (all recorded in the archive header)
    ``{"model": <lowercase hex SHA-256 of the model file>, "window": N, "act_levels": P}``.
    ``"model"`` is left out when it is :data:`DEFAULT_MODEL_SHA256`, the pinned
    SmolLM2-135M conversion (a reader takes an absent ``"model"`` to mean exactly
    that hash, never "whatever is installed"); the model pin in the header
    still carries the full hash.
    ``N`` (``MIN_WINDOW..MAX_WINDOW``, at most the model's longest window) is
    the number of tokens coded per independent window. ``P`` (1 or 2) is the
    runtime's activation precision (spec/NEURAL.md section 3.4); an absent
    ``"act_levels"`` means 1, the precision of archives written before the
    param existed. Writers use ``DEFAULT_ACT_LEVELS`` (2: about 1% fewer bits
    than 1, for about 25% more creation and 8% more extraction time). Where the model runs
    (the CPU; the range coder runs on the device of the tables it is given),
    the routes it takes and how many threads it uses do not affect the bytes,
    so they are not params.

Bitstream (version 1) of a chunk of ``raw_len`` bytes
    1. The chunk is tokenised (:meth:`Tokenizer.encode`, lossless for every
       byte string) into ``T`` tokens, ``T <= MAX_TOKENS_PER_BYTE * raw_len``.
    2. The tokens are cut into ``W = ceil(T / N)`` windows of ``N`` tokens
       (the last one holds the rest). Window ``w`` is coded on its own: the
       model is fed ``BOS, t_0, ..., t_{n-2}`` and token ``t_i`` is range-coded
       (:mod:`nzarc.neural.coder`) with the model's frequency table for
       position ``i`` (``cum`` = sum of the table below ``t_i``, ``freq`` =
       its entry, ``total = 2**freq_bits``).
    3. The chunk is ``varint(T)``, then ``varint(len(stream_w))`` for each of
       the ``W`` windows, then the ``W`` streams concatenated. A varint is
       unsigned LEB128 in its shortest form.

Decoding checks, before any model work: ``T`` within its bound (``T = 0``
iff ``raw_len = 0``), canonical varints, every stream length at most
``ceil(freq_bits / 8) * n + 1`` for its ``n`` symbols, and the lengths adding
up to exactly the rest of the data. Then every window of every chunk in the
call is decoded in lockstep batches through the runtime's incremental session
(batch size bounded by a memory budget), each range-coded stream must end
canonically, and the detokenised bytes must be exactly ``raw_len`` long.
Any failure raises :class:`CodecError`. Decoding time is linear in
``raw_len`` (at most ``2 * raw_len`` model steps).

Resources
    The default window is ``DEFAULT_WINDOW`` tokens: longer windows give
    the model more context (fewer bits) but cost more per token and more
    KV-cache memory per window when decoding. A decoding batch holds as many
    windows as fit ``NZARC_NEURAL_MEMORY`` bytes (default 2 GiB) of KV cache
    and tables; a larger budget means larger batches and faster decoding.

Environment
    Read once, when a codec is constructed (never during its work):
    ``NZARC_NEURAL_MEMORY`` (above), and the runtime's routes
    (:meth:`RuntimeOptions.from_env <nzarc.neural.runtime.options.RuntimeOptions.from_env>`:
    ``NZARC_KERNELS``, ``NZARC_MATMUL``), which never change the bytes.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from nzarc.codecs.contract import Codec, ModelPin
from nzarc.errors import CodecError, ModelMismatch, NzarcError
from nzarc.neural.runtime.options import RuntimeOptions
from nzarc.neural.store import SMOLLM2_MODEL_SHA256
from nzarc.neural.textdetect import looks_like_text
from nzarc.signals import CancelToken

__all__ = [
    "NeuralCodec",
    "DEFAULT_MODEL_NAME",
    "DEFAULT_MODEL_SHA256",
    "DEFAULT_WINDOW",
    "DEFAULT_ACT_LEVELS",
    "INSTALL_HINT",
    "register_model",
    "set_progress_hook",
]

DEFAULT_MODEL_NAME = "smollm2-135m"
#: SHA-256 of the default model file; the meaning of params without ``"model"``.
DEFAULT_MODEL_SHA256 = SMOLLM2_MODEL_SHA256
INSTALL_HINT = f"run `nzarc model install {DEFAULT_MODEL_NAME}`"
DEFAULT_WINDOW = 4096
#: Activation precision written by default (see the module docstring).
DEFAULT_ACT_LEVELS = 2
MIN_WINDOW = 8
MAX_WINDOW = 8192
#: The tokenizer emits at most two tokens per input byte (an escape pair).
MAX_TOKENS_PER_BYTE = 2
#: Tokens prefilled per model call when encoding (windows are batched up to this).
PREFILL_TOKENS = 4096
#: Rows of frequency tables held at once when encoding (bounds the slab memory).
PREFILL_ROWS = 256
#: Memory budget of one decoding batch (KV caches and frequency tables), in bytes.
DEFAULT_DECODE_MEMORY = 2 << 30
#: Largest raw_len / coded length read or written (about 4x the best measured on text, ~8).
MAX_RATIO = 32
#: Decoding checks for corrupt streams every this many steps (an early exit).
_CHECK_EVERY = 64

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_ID = "nzarc.neural"

_PROGRESS: Callable[[str, int], None] | None = None
_REGISTERED: dict[str, Any] = {}
_REGISTERED_LOCK = threading.Lock()


def register_model(model: Any) -> str:
    """Make an already loaded model usable by SHA-256 in this process (tests, tools).

    Returns the model's ``weights_sha256``. Registered models are looked up
    before the model store.
    """
    sha = str(model.weights_sha256)
    with _REGISTERED_LOCK:
        _REGISTERED[sha] = model
    return sha


def set_progress_hook(hook: Callable[[str, int], None] | None) -> None:
    """Report model work as it happens: ``hook(kind, tokens)`` with ``kind`` ``"encode"``
    or ``"decode"`` and ``tokens`` the number of tokens just finished, or ``kind``
    ``"encode-planned"`` / ``"decode-planned"`` and the number of tokens a call is about to
    work on. Just before its ``*-planned`` report a call reports ``"encode-bytes"`` /
    ``"decode-bytes"`` with the raw bytes of the chunks it works on (in place of a token
    count). One call reports on one thread. Counts are deltas, so calls from several threads
    add up; a hook ignores kinds it does not know. The hook must be cheap and thread-safe;
    ``None`` removes it.
    """
    global _PROGRESS
    _PROGRESS = hook


def _report(kind: str, tokens: int) -> None:
    hook = _PROGRESS
    if hook is not None and tokens:
        hook(kind, tokens)


def _decode_memory(environ: Mapping[str, str]) -> int:
    """The decoding batch budget ``NZARC_NEURAL_MEMORY`` in ``environ`` names (bytes > 0),
    else :data:`DEFAULT_DECODE_MEMORY`."""
    raw = environ.get("NZARC_NEURAL_MEMORY", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return DEFAULT_DECODE_MEMORY


def _store() -> Any:
    from nzarc.neural.store import ModelStore

    return ModelStore.default()


def _default_model_sha() -> str:
    """The SHA-256 of the installed default model; ModelMismatch when none is installed."""
    from nzarc.neural.store import SMOLLM2_MODEL_SHA256

    try:
        store = _store()
        if store.find_sha(SMOLLM2_MODEL_SHA256) is not None:
            return SMOLLM2_MODEL_SHA256
        entry = store.find(DEFAULT_MODEL_NAME)
    except NzarcError:
        raise
    except Exception as exc:  # an unreadable store is the same as no model for the user
        raise ModelMismatch(f"{_ID}: cannot read the model store: {exc}", hint=INSTALL_HINT) from None
    if entry is None:
        raise ModelMismatch(f"{_ID}: the model {DEFAULT_MODEL_NAME} is not installed", hint=INSTALL_HINT)
    return str(entry.sha256)


def _model_installed(sha: str) -> bool:
    with _REGISTERED_LOCK:
        if sha in _REGISTERED:
            return True
    try:
        return _store().path_for(sha).is_file()
    except Exception:
        return False


def _load(sha: str, options: RuntimeOptions) -> Any:
    with _REGISTERED_LOCK:
        model = _REGISTERED.get(sha)
    if model is not None:
        return model
    from nzarc.neural.resources import check_runtime_memory, memory_failure

    try:
        path = _store().path_for(sha)
    except Exception:  # a missing model is reported below, after the memory check
        path = None
    check_runtime_memory(path)  # before torch/numba: under a low limit they abort the process
    try:
        from nzarc.neural.runtime import load_model
    except (ImportError, OSError, MemoryError) as exc:
        raise (memory_failure("torch and the neural runtime", exc) or exc) from None
    try:
        if path is None:
            path = _store().path_for(sha)  # ModelMismatch: not installed
        return load_model(path, options, weights_sha256=sha)
    except NzarcError:
        raise
    except Exception as exc:
        memory = memory_failure(f"model {sha[:16]}…", exc)
        if memory is not None:
            raise memory from None
        raise ModelMismatch(f"{_ID}: cannot load model {sha[:16]}…: {exc}", hint=INSTALL_HINT) from None


def __getattr__(name: str) -> Any:
    """``MODELS``: the models this codec can use, for the ``nzarc_models()`` hook (lazy)."""
    if name == "MODELS":
        from nzarc.codecs.contract import ModelDescriptor
        from nzarc.neural import store

        return (
            ModelDescriptor(
                name=store.SMOLLM2_NAME,
                weights_sha256=store.SMOLLM2_MODEL_SHA256,
                tokenizer_sha256=store.SMOLLM2_TOKENIZER_SHA256,
                runtime_id="nzarc-int-v1",
                how_to_obtain=f"nzarc model install {store.SMOLLM2_NAME}",
            ),
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----------------------------------------------------------------------------- varints


def _put_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _get_varint(data: bytes, pos: int, limit: int, what: str) -> tuple[int, int]:
    """Read a shortest-form LEB128 value ``<= limit`` at ``pos``; return (value, next pos)."""
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise CodecError(f"{_ID}: chunk ends inside the {what}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if value > limit:
            raise CodecError(f"{_ID}: {what} {value}… exceeds its limit {limit}")
        if not byte & 0x80:
            if byte == 0 and shift:
                raise CodecError(f"{_ID}: {what} is not in shortest form")
            return value, pos
        shift += 7


# ----------------------------------------------------------------------------- the codec


class NeuralCodec(Codec):
    """The exact integer language model driving a range coder; see the module docstring."""

    codec_id: ClassVar[str] = _ID
    version: ClassVar[int] = 1
    releases_gil: ClassVar[bool] = True
    batches_internally: ClassVar[bool] = True
    cancellable: ClassVar[bool] = True
    uses_models: ClassVar[tuple[str, ...]] = (DEFAULT_MODEL_NAME,)
    max_ratio: ClassVar[float | None] = MAX_RATIO

    def __init__(
        self, model: str | None = None, window: int = DEFAULT_WINDOW, act_levels: int = DEFAULT_ACT_LEVELS
    ) -> None:
        if model is None:
            model = _default_model_sha()
        if not isinstance(model, str) or not _SHA_RE.match(model):
            raise CodecError(f"{_ID}: param 'model' must be a lowercase hex SHA-256, got {model!r}")
        if not isinstance(window, int) or isinstance(window, bool):
            raise CodecError(f"{_ID}: param 'window' must be an integer")
        if not MIN_WINDOW <= window <= MAX_WINDOW:
            raise CodecError(f"{_ID}: param 'window' = {window} is outside {MIN_WINDOW}..{MAX_WINDOW}")
        # (numpy: not imported until a neural codec is made)
        from nzarc.neural.intops import ACT_LEVELS

        if act_levels not in ACT_LEVELS or isinstance(act_levels, bool) or not isinstance(act_levels, int):
            raise CodecError(f"{_ID}: param 'act_levels' must be one of {', '.join(map(str, ACT_LEVELS))}")
        if not _model_installed(model):
            raise ModelMismatch(
                f"{_ID}: model {model} is not installed",
                hint=f"{INSTALL_HINT} (the archive needs the model with SHA-256 {model})",
            )
        self.model_sha = model
        self.window = window
        self.act_levels = act_levels
        self._runtime_options = RuntimeOptions.from_env(os.environ)
        self._decode_memory = _decode_memory(os.environ)
        self._model_obj: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> NeuralCodec:
        if not isinstance(params, Mapping):
            raise CodecError(f"{_ID}: params must be a map")
        unknown = set(params) - {"model", "window", "act_levels"}
        if unknown:
            raise CodecError(
                f"{_ID}: unknown param(s) {sorted(map(str, unknown))} (allowed: model, window, act_levels)"
            )
        if "window" not in params:
            raise CodecError(f"{_ID}: param 'window' is required")
        if params.get("act_levels") == 1:
            raise CodecError(f"{_ID}: param 'act_levels' = 1 must be left out (an absent value means 1)")
        return cls(
            model=params.get("model", DEFAULT_MODEL_SHA256),
            window=params["window"],
            act_levels=params.get("act_levels", 1),
        )

    def get_params(self) -> dict[str, Any]:
        if self.model_sha == DEFAULT_MODEL_SHA256:
            return self._run_params()
        return {"model": self.model_sha} | self._run_params()

    def _run_params(self) -> dict[str, Any]:
        """How the model is run: the window, and the precision unless it is 1 (also the pin's extra)."""
        if self.act_levels == 1:
            return {"window": self.window}
        return {"window": self.window, "act_levels": self.act_levels}

    # ------------------------------------------------------------------ model access

    def _model(self) -> Any:
        with self._lock:
            if self._model_obj is None:
                model = _load(self.model_sha, self._runtime_options)
                if self.window > int(model.max_len):
                    raise CodecError(
                        f"{_ID}: window {self.window} exceeds the model's longest window {model.max_len}"
                    )
                self._model_obj = model.with_act_levels(self.act_levels)
            return self._model_obj

    def required_models(self) -> list[ModelPin]:
        model = self._model()
        return [
            ModelPin(
                name=str(model.name),  # from the model file itself, so equal wherever the file is
                weights_sha256=self.model_sha,
                tokenizer_sha256=str(model.tokenizer_sha256),
                runtime_id=str(model.runtime_id),
                extra=self._run_params(),
            )
        ]

    def accepts(self, chunk: bytes) -> bool:
        return looks_like_text(chunk)

    def max_decode_memory(self, raw_len: int) -> int:
        return self._decode_memory + 64 * raw_len + (64 << 20)

    # ------------------------------------------------------------------ encoding

    def encode(self, chunk: bytes) -> bytes:
        return self.encode_many([chunk])[0]

    def encode_many(self, chunks: Sequence[bytes], *, cancel: CancelToken | None = None) -> list[bytes]:
        """Encode ``chunks``; ``cancel`` is checked between prefill slabs and windows
        (:class:`~nzarc.signals.Cancelled` once it is set)."""
        from nzarc.neural.coder import RangeEncoder

        model = self._model()
        if int(model.freq_bits) > 30:
            raise CodecError(f"{_ID}: frequency tables of {model.freq_bits} bits are not supported")
        n = self.window
        token_lists = [model.tokenizer.encode(bytes(c)) for c in chunks]
        windows: list[list[int]] = []
        owner: list[int] = []
        for ci, toks in enumerate(token_lists):
            for start in range(0, len(toks), n):
                windows.append(toks[start : start + n])
                owner.append(ci)
        streams: list[bytes] = [b""] * len(windows)
        _report("encode-bytes", sum(len(c) for c in chunks))
        _report("encode-planned", sum(len(w) for w in windows))
        for wi, cums, freqs in _window_intervals(model, windows, cancel):
            enc = RangeEncoder(model.freq_bits)
            enc.encode_many(cums, freqs)
            streams[wi] = enc.finish()
        outputs: list[bytearray] = []
        for toks in token_lists:
            out = bytearray()
            _put_varint(out, len(toks))
            outputs.append(out)
        per_chunk: list[list[bytes]] = [[] for _ in chunks]
        for wi, ci in enumerate(owner):
            per_chunk[ci].append(streams[wi])
        for out, parts in zip(outputs, per_chunk, strict=True):
            for s in parts:
                _put_varint(out, len(s))
            for s in parts:
                out += s
        return [bytes(o) for o in outputs]

    # ------------------------------------------------------------------ decoding

    def _parse(self, data: bytes, raw_len: int) -> tuple[int, list[bytes]]:
        """Validate a chunk's layout; return (token count, window streams)."""
        if not isinstance(raw_len, int) or isinstance(raw_len, bool) or raw_len < 0:
            raise CodecError(f"{_ID}: invalid raw length {raw_len!r}")
        data = bytes(data)
        total, pos = _get_varint(data, 0, MAX_TOKENS_PER_BYTE * raw_len, "token count")
        if raw_len and not total:
            raise CodecError(f"{_ID}: no tokens for a {raw_len}-byte chunk")
        if not total:
            if pos != len(data):
                raise CodecError(f"{_ID}: {len(data) - pos} bytes after an empty chunk")
            return 0, []
        n = self.window
        count = -(-total // n)
        per_symbol = -(-int(self._model().freq_bits) // 8)
        lengths = []
        for w in range(count):
            symbols = min(n, total - w * n)
            length, pos = _get_varint(data, pos, per_symbol * symbols + 1, "window length")
            lengths.append(length)
        if sum(lengths) != len(data) - pos:
            raise CodecError(
                f"{_ID}: window lengths add up to {sum(lengths)} bytes, the chunk holds {len(data) - pos}"
            )
        streams = []
        for length in lengths:
            streams.append(data[pos : pos + length])
            pos += length
        return total, streams

    def decode(self, data: bytes, raw_len: int) -> bytes:
        return self.decode_many([(data, raw_len)])[0]

    def decode_many(
        self, items: Sequence[tuple[bytes, int]], *, cancel: CancelToken | None = None
    ) -> list[bytes]:
        """Decode ``items``; ``cancel`` is checked at every model step
        (:class:`~nzarc.signals.Cancelled` once it is set)."""
        parsed = [self._parse(d, r) for d, r in items]
        results: list[bytes | None] = [b"" if total == 0 else None for total, _ in parsed]
        todo = [i for i, r in enumerate(results) if r is None]
        if not todo:
            return [b"" for _ in items]
        model = self._model()
        n = self.window
        jobs: list[tuple[int, int, bytes, int]] = []  # (chunk, window index, stream, symbols)
        for ci in todo:
            total, streams = parsed[ci]
            for w, s in enumerate(streams):
                jobs.append((ci, w, s, min(n, total - w * n)))
        jobs.sort(key=lambda j: -j[3])
        tokens: dict[tuple[int, int], list[int]] = {}
        _report("decode-bytes", sum(items[ci][1] for ci in todo))
        _report("decode-planned", sum(j[3] for j in jobs))
        for group in _decode_groups(model, [j[3] for j in jobs], self._decode_memory):
            sel = [jobs[k] for k in group]
            decoded = _decode_windows(model, [j[2] for j in sel], [j[3] for j in sel], cancel)
            for (ci, w, _, _), toks in zip(sel, decoded, strict=True):
                tokens[(ci, w)] = toks
        for ci in todo:
            ids: list[int] = []
            for w in range(len(parsed[ci][1])):
                ids.extend(tokens.pop((ci, w)))
            out = model.tokenizer.decode(ids)
            if len(out) != items[ci][1]:
                raise CodecError(f"{_ID}: chunk decoded to {len(out)} bytes, expected {items[ci][1]}")
            results[ci] = out
        return [r if r is not None else b"" for r in results]


# ----------------------------------------------------------------------------- model work


def _window_intervals(
    model: Any, windows: list[list[int]], cancel: CancelToken | None = None
) -> Iterator[tuple[int, list[int], list[int]]]:
    """Yield ``(window index, cums, freqs)`` of every token of every window (prefill);
    ``cancel`` is checked before every model call."""
    import torch

    if not windows:
        return
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
    bos = int(model.bos_id)
    k = 0
    while k < len(order):
        if cancel is not None:
            cancel.check()
        length = len(windows[order[k]])
        per_call = max(1, PREFILL_TOKENS // length)
        group = order[k : k + per_call]
        k += len(group)
        inputs = torch.full((len(group), length), bos, dtype=torch.int64)
        targets = torch.zeros((len(group), length), dtype=torch.int64)
        for row, wi in enumerate(group):
            toks = torch.as_tensor(windows[wi], dtype=torch.int64)
            inputs[row, 1 : len(toks)] = toks[:-1]
            targets[row, : len(toks)] = toks
        slab = max(1, PREFILL_ROWS // len(group))
        cums = torch.empty_like(targets)
        freqs = torch.empty_like(targets)
        for t0, table in model.prefill_freqs(inputs, slab=slab):
            if cancel is not None:
                cancel.check()
            span = table.shape[1]
            tgt = targets[:, t0 : t0 + span].unsqueeze(2)
            # int32 is exact: a table sums to 2**freq_bits <= 2**30 (and int32 is 3x faster).
            cdf = torch.cumsum(table, dim=2, dtype=torch.int32)
            hi = cdf.gather(2, tgt).squeeze(2).to(torch.int64)
            f = table.gather(2, tgt).squeeze(2).to(torch.int64)
            cums[:, t0 : t0 + span] = hi - f
            freqs[:, t0 : t0 + span] = f
        for row, wi in enumerate(group):
            n = len(windows[wi])
            yield wi, cums[row, :n].tolist(), freqs[row, :n].tolist()
            _report("encode", n)


def _kv_bytes_per_token(model: Any) -> int:
    """Bytes of KV cache one token of one window takes in the runtime's session."""
    declared = getattr(model, "kv_bytes_per_token", None)
    if isinstance(declared, int) and declared > 0:
        return declared
    # Without a declared figure: the torch path's caches (K float32 [hd], V float64 [hd + 1]) per KV head.
    try:
        layers, kv, hd = int(model.n_layer), int(model.n_kv), int(model.hd)
    except (AttributeError, TypeError, ValueError):
        return 0
    return layers * kv * (4 * hd + 8 * (hd + 1))


def _decode_groups(model: Any, counts: list[int], budget: int) -> list[list[int]]:
    """Split windows (sorted by decreasing length) into batches that fit ``budget`` bytes.

    Batches are balanced: with ``g`` batches needed, each holds about ``len / g``
    windows, so no batch runs a full window's steps for a handful of rows.
    """
    kv = _kv_bytes_per_token(model)
    tables = 4 * 8 * int(model.vocab_size)  # int32 table, cumulative sums, temporaries
    groups: list[list[int]] = []
    k = 0
    while k < len(counts):
        cap = max(1, budget // (counts[k] * kv + tables))  # counts[k] is the longest left
        rest = len(counts) - k
        size = -(-rest // -(-rest // cap))  # balanced: ceil(rest / ceil(rest / cap)) <= cap
        groups.append(list(range(k, k + size)))
        k += size
    return groups


def _decode_windows(
    model: Any, streams: list[bytes], counts: list[int], cancel: CancelToken | None = None
) -> list[list[int]]:
    """Decode windows (sorted by decreasing symbol count) in one lockstep batch; ``cancel``
    is checked before every model step."""
    import torch

    from nzarc.neural.coder import BatchRangeDecoder

    batch = len(streams)
    longest = counts[0]
    session = model.session(batch=batch, max_len=longest)
    device = getattr(model, "device", None) or "cpu"
    decoder = BatchRangeDecoder(streams, counts, int(model.freq_bits), device=device)
    counts_t = torch.as_tensor(counts, dtype=torch.int64)
    out = torch.zeros((batch, longest), dtype=torch.int64)
    tokens = torch.full((batch,), int(model.bos_id), dtype=torch.int64)
    done = 0
    for t in range(longest):
        if cancel is not None:
            cancel.check()
        live = int((counts_t > t).sum())  # windows are sorted: rows 0..live-1 are unfinished
        if live == batch:
            symbols = decoder.step(session.step(tokens)).cpu()
        else:
            rows = torch.arange(live)
            symbols = decoder.step(session.step(tokens[:live], rows), rows).cpu()
        out[:live, t] = symbols
        tokens[:live] = symbols
        done += live
        if t % _CHECK_EVERY == _CHECK_EVERY - 1:
            decoder.check()
            _report("decode", done)
            done = 0
    decoder.finish()
    _report("decode", done)
    return [out[b, : counts[b]].tolist() for b in range(batch)]
