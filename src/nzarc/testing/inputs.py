"""The data the conformance kit feeds a codec: deterministic, generated, no files needed.

:func:`adversarial_inputs` is the fixed set every codec must round-trip (edge
sizes, byte patterns, text, binary, already-compressed data), capped at the
chunk size; :func:`stress_inputs` yields varied inputs of up to the chunk size
for long runs; :func:`text_sample` and :func:`records_sample` generate prose
and binary records of a given size. Every generator is deterministic: the same
arguments give the same bytes.
"""

from __future__ import annotations

import functools
import random
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

#: The chunk size the kit assumes when none is given (nzarc's default).
DEFAULT_CHUNK_SIZE = 1 << 20

_SYLLABLES = (
    "th e an in er on re at ou it is en ha ve st al or ar le ng ed nd to of ly "
    "ti me co de ra si pe lo ma no ca di mi se ta wo ri un be fo la ne ho"
).split()
_PUNCT = [", ", ". ", "; ", " ", " ", " ", " ", " ", "! ", "? ", ".\n", ".\n\n"]


def _make_vocabulary() -> tuple[str, ...]:
    rng = random.Random(0x766F6361)
    return tuple(
        "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 1, 2, 2, 3, 4))))
        for _ in range(2000)
    )


_VOCABULARY = _make_vocabulary()


def _words(rng: random.Random, count: int) -> list[str]:
    # Zipf-like ranks: small indices are frequent, as in natural language.
    last = len(_VOCABULARY) - 1
    return [_VOCABULARY[min(last, int(rng.paretovariate(1.1)) - 1)] for _ in range(count)]


def text_sample(size: int, seed: int = 0) -> bytes:
    """Deterministic prose-like ASCII text of exactly ``size`` bytes."""
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        sentence = _words(rng, rng.randint(4, 24))
        sentence[0] = sentence[0].capitalize()
        piece = " ".join(sentence) + rng.choice(_PUNCT)
        out.append(piece)
        total += len(piece)
    return "".join(out).encode("ascii")[:size]


def _utf8_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    alphabet = "aäöüßéèçñ漢字かなカナ한국어Ελληνικάкириллица😀🚀 \n"
    data = "".join(rng.choices(alphabet, k=size)).encode("utf-8")
    return data[:size]


def _code_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    names = [w.lower() for w in _words(rng, 300)]
    lines: list[str] = []
    total = 0
    while total < size:
        depth = rng.randint(0, 3)
        a, b = rng.choice(names), rng.choice(names)
        line = "    " * depth + rng.choice(
            (
                f"def {a}_{b}(x, y={rng.randint(0, 99)}):",
                f"if {a} > {rng.randint(0, 999)}:",
                f"return {a}({b}, {rng.randint(0, 9)})",
                f"{a} = {b}[{rng.randint(0, 15)}] + 0x{rng.getrandbits(16):04x}",
                f"# {' '.join(_words(rng, 6))}",
            )
        )
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines).encode("ascii")[:size]


def _log_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    levels = ("INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR")
    out: list[bytes] = []
    total, t = 0, 1_700_000_000
    while total < size:
        t += rng.randint(0, 3)
        line = (
            f"{t} host{rng.randint(1, 9)} {rng.choice(levels)} pid={rng.randint(100, 9999)} "
            f"{' '.join(_words(rng, rng.randint(3, 10)))} id={rng.getrandbits(32):08x}\n"
        ).encode("ascii")
        out.append(line)
        total += len(line)
    return b"".join(out)[:size]


def records_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray()
    counter = rng.getrandbits(20)
    while len(out) < size:
        counter += rng.randint(1, 5)
        out += counter.to_bytes(4, "little")
        out += rng.getrandbits(16).to_bytes(2, "big")
        out += bytes([rng.randint(0, 3), 0, 0, rng.choice((0, 0, 0, 255))])
        out += rng.choice((b"OK\0\0", b"FAIL", b"\0\0\0\0"))
    return bytes(out[:size])


def _mixed_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    makers = (text_sample, _code_sample, _log_sample, records_sample, _utf8_sample)
    out = bytearray()
    while len(out) < size:
        part = rng.randint(1, max(1, size // 3))
        kind = rng.randrange(len(makers) + 2)
        if kind == len(makers):
            out += rng.randbytes(min(part, 4096))
        elif kind == len(makers) + 1:
            out += bytes([rng.randrange(256)]) * min(part, 8192)
        else:
            out += makers[kind](part, rng.getrandbits(32))
    return bytes(out[:size])


def _compressed_sample(size: int, seed: int) -> bytes:
    """Already-compressed data: nearly incompressible but not uniform random."""
    out = bytearray()
    n = 0
    while len(out) < size:
        out += zlib.compress(text_sample(65536, seed + n), 9)
        n += 1
    return bytes(out[:size])


@functools.lru_cache(maxsize=4)
def adversarial_inputs(chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[tuple[str, bytes], ...]:
    """Named inputs every codec must round-trip (sizes capped at ``chunk_size``)."""
    rng = random.Random(0x6E7A6172)
    items: list[tuple[str, bytes]] = [
        ("empty", b""),
        ("one-zero-byte", b"\x00"),
        ("one-ff-byte", b"\xff"),
        ("one-letter", b"a"),
        ("two-bytes", b"\x00\xff"),
        ("every-byte-value", bytes(range(256))),
        ("every-byte-value-reversed-x16", bytes(range(255, -1, -1)) * 16),
        ("zeros-4096", bytes(4096)),
        ("ff-4096", b"\xff" * 4096),
        ("alternating-8192", b"\x00\xff" * 4096),
        ("random-1000", rng.randbytes(1000)),
        ("random-65536", rng.randbytes(65536)),
        ("text-10000", text_sample(10_000, 1)),
        ("utf8-5000", _utf8_sample(5000, 2)),
        ("code-20000", _code_sample(20_000, 3)),
        ("records-20000", records_sample(20_000, 4)),
        ("compressed-20000", _compressed_sample(20_000, 5)),
    ]
    for size in (4095, 4096, 4097, 32767, 32768, 32769, 65536):
        items.append((f"text-{size}", text_sample(size, size)))
    for size in (chunk_size - 1, chunk_size):
        items.append((f"zeros-{size}", bytes(size)))
        items.append((f"mixed-{size}", _mixed_sample(size, size)))
    return tuple((name, data) for name, data in items if len(data) <= chunk_size)


def stress_inputs(
    count: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    *,
    seed: int = 1,
    corpus: Path | None = None,
) -> Iterator[tuple[str, bytes]]:
    """``count`` varied inputs of up to ``chunk_size`` bytes, deterministic for ``seed``.

    Sizes are spread over the whole range, with extra weight on large ones
    (buffer-boundary bugs need long outputs). With ``corpus``, every other
    input is a window of the concatenation of the files found there.
    """
    rng = random.Random(seed)
    blob = b""
    if corpus is not None and corpus.is_dir():
        files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix != ".tsv")
        blob = b"".join(p.read_bytes() for p in files)
    makers: Sequence[tuple[str, Callable[[int, int], bytes]]] = (
        ("text", text_sample),
        ("code", _code_sample),
        ("log", _log_sample),
        ("records", records_sample),
        ("mixed", _mixed_sample),
        ("utf8", _utf8_sample),
    )
    for i in range(count):
        size = chunk_size if rng.random() < 0.25 else rng.randint(chunk_size // 8, chunk_size)
        size = max(1, size)
        if blob and i % 2:
            start = rng.randrange(max(1, len(blob) - size))
            yield f"stress-{i}-corpus@{start}+{size}", blob[start : start + size]
            continue
        name, make = makers[rng.randrange(len(makers))]
        sub = rng.getrandbits(32)
        yield f"stress-{i}-{name}(size={size},seed={sub})", make(size, sub)
