"""Version-2 decoding with and without guessed tokens, on the same streams, in one process.

Usage (from the repository root; runs the installed model, slow)::

    python -m bench.neural_guess FILE [--bytes 48000] [--window 4096] [--lanes 8] [--json out.json]

``FILE`` is a path under ``../shared/corpus`` (e.g. ``logs/loghub_Apache_2k.log``). The first
``--bytes`` bytes are tokenised, cut into version-2 lanes and coded with
:func:`nzarc.neural.mix.lanes.encode_lanes`; the streams are then decoded with
:func:`~nzarc.neural.mix.lanes.decode_lanes` twice, with guesses and with a drafter that
guesses nothing, one after the other. Each decode is checked against the encoded tokens
(the run fails otherwise) and timed; the ratio of the two times is the gain of guessing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench.common import DEFAULT_CORPUS


def run(name: str, nbytes: int, window: int, lanes: int) -> dict[str, object]:
    """Encode the slice once, decode it with and without guesses; seconds of each."""
    from nzarc.neural.codec import NeuralCodec
    from nzarc.neural.mix import lanedecode
    from nzarc.neural.mix.lanes import decode_lanes, encode_lanes, split_tokens

    data = (DEFAULT_CORPUS / name).read_bytes()[:nbytes]
    model = NeuralCodec(window=window)._model()
    tokens = model.tokenizer.encode(data)
    units, _ = split_tokens([tokens], window, lanes)
    t0 = time.perf_counter()
    coded = encode_lanes(model, units)
    row: dict[str, object] = {
        "file": name, "bytes": len(data), "tokens": len(tokens), "window": window,
        "lanes": len(units), "encode_s": round(time.perf_counter() - t0, 1),
    }  # fmt: skip
    streams = [[(s, len(w)) for s, w in zip(cs, u, strict=True)] for cs, u in zip(coded, units, strict=True)]
    want = [[list(w) for w in u] for u in units]
    guess = lanedecode.Drafter.draft
    seconds: dict[str, float] = {}
    try:
        for label in ("guesses", "no_guesses"):
            if label == "no_guesses":
                lanedecode.Drafter.draft = lambda self, limit: []  # type: ignore[method-assign]
            t0 = time.perf_counter()
            got = decode_lanes(model, streams, 2 << 30)
            seconds[label] = time.perf_counter() - t0
            if got != want:
                raise SystemExit(f"{name}: decoding {label.replace('_', ' ')} gave other tokens")
            print(f"  {name}: {label} {seconds[label]:.1f} s", flush=True)
    finally:
        lanedecode.Drafter.draft = guess  # type: ignore[method-assign]
    row.update({f"{label}_s": round(t, 1) for label, t in seconds.items()})
    row["speedup"] = round(seconds["no_guesses"] / seconds["guesses"], 3)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.neural_guess", description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--bytes", type=int, default=48000)
    ap.add_argument("--window", type=int, default=4096)
    ap.add_argument("--lanes", type=int, default=8)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    row = run(args.file, args.bytes, args.window, args.lanes)
    print(json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(row, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
