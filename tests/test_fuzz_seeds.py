"""The neural_codec fuzz target's per-input work stays bounded (fuzz/neural_support.py).

fuzz/run gives every input one second. One input of that target is two decodes and one
encode with the tiny model; a decode takes at most ``2 * raw_len`` tokens in windows of
TINY_WINDOW tokens, decoded side by side, so its cost is set by MAX_RAW and TINY_WINDOW.
With MAX_RAW 128 and window 16, seeds took up to 2 s on a loaded machine; these tests keep
the bounds from creeping back up.
"""

from __future__ import annotations

import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

from fuzz import neural_support

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"


def _load_run() -> ModuleType:
    """fuzz/run (a script without a .py suffix) as a module; its main does not run."""
    loader = SourceFileLoader("fuzz_run", str(FUZZ / "run"))
    spec = importlib.util.spec_from_loader("fuzz_run", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_bounds_are_small() -> None:
    assert neural_support.MAX_RAW <= 64
    assert neural_support.TINY_WINDOW <= 8
    assert all(len(t) <= neural_support.MAX_RAW for t in neural_support.CODEC_SEED_TEXTS)


def test_every_input_asks_for_at_most_max_raw_bytes() -> None:
    lengths = {neural_support.raw_len_of(bytes([b]) + b"rest") for b in range(256)}
    assert lengths == set(range(neural_support.MAX_RAW + 1))
    # the target reads raw_len through that function
    assert "raw_len = neural_support.raw_len_of(data)" in (FUZZ / "fuzz_neural_codec.py").read_text()


def test_seeds_decode_and_fit_the_input_limit() -> None:
    from nzarc.codecs.context import CodecContext
    from nzarc.events import ProgressEvent

    max_len = _load_run().TARGETS["neural_codec"][0]
    tokens: list[int] = []

    def sink(event: ProgressEvent) -> None:
        if event.kind == "decode":
            tokens.append(event.tokens)

    codec = neural_support.tiny_codec(CodecContext(progress=sink))
    assert codec.window == neural_support.TINY_WINDOW  # type: ignore[attr-defined]
    seeds = list(neural_support.codec_seeds())
    assert len(seeds) == len(neural_support.CODEC_SEED_TEXTS)
    for seed, text in zip(seeds, neural_support.CODEC_SEED_TEXTS, strict=True):
        assert len(seed) <= max_len  # libFuzzer would cut a longer seed
        raw_len = neural_support.raw_len_of(seed)
        assert raw_len == len(text)
        tokens.clear()
        assert codec.decode(seed[1:], raw_len) == text  # type: ignore[attr-defined]
        assert sum(tokens) <= 2 * raw_len
        assert (sum(tokens) > 0) == (raw_len > 0)  # the sink hears every decoding
