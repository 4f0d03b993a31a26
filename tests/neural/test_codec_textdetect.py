"""The neural codec's "clearly not text" pre-filter."""

from __future__ import annotations

import time

import numpy as np

from nzarc.neural.textdetect import SAMPLE_BYTES, looks_like_text
from nzarc.testing import text_sample

RNG = np.random.default_rng(0)


def test_text_is_accepted() -> None:
    assert looks_like_text(b"")
    assert looks_like_text(b"x")
    assert looks_like_text(text_sample(200_000, 3))
    assert looks_like_text("Grüße, naïve café — 東京 ✓\n".encode() * 3000)
    assert looks_like_text(b"col1,col2\n1,2\n" * 10_000)
    # A few Latin-1 letters in ASCII text, as in old HTML pages.
    assert looks_like_text((b"plain ascii text " * 40 + b"M\xfcller ") * 200)
    # Terminal transcripts with escapes and the odd NUL.
    assert looks_like_text((b"\x1b[1mbold\x1b[0m line\r\n" * 30 + b"\x00") * 100)


def test_binary_is_rejected() -> None:
    assert not looks_like_text(RNG.integers(0, 256, 1 << 20, dtype=np.uint8).tobytes())
    assert not looks_like_text(bytes(4096))
    assert not looks_like_text(np.arange(100_000, dtype="<u4").tobytes())
    assert not looks_like_text(b"\xff\xd8\xff\xe0" + RNG.integers(0, 256, 5000, dtype=np.uint8).tobytes())


def test_only_a_bounded_sample_is_read() -> None:
    big = text_sample(SAMPLE_BYTES, 1) * 256  # 16 MiB of text
    start = time.perf_counter()
    assert looks_like_text(big)
    assert time.perf_counter() - start < 0.5  # milliseconds when the machine is idle
    # Binary in every sampled region of an otherwise huge chunk is still seen.
    noise = RNG.integers(0, 256, 1 << 22, dtype=np.uint8).tobytes()
    assert not looks_like_text(noise + big[: 1 << 22])
    assert looks_like_text(memoryview(big)[: 1 << 20])
