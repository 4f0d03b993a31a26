"""Helper for bench/scale_pipe.sh: generate a stream, archive stdin to stdout, or extract stdin to stdout.

    python bench/pipe_tool.py gen BYTES            # deterministic compressible+random mix on stdout
    python bench/pipe_tool.py create PUBKEY        # stdin -> archive (one member "stream") -> stdout
    python bench/pipe_tool.py extract IDENTITY     # archive on stdin -> member bytes on stdout
"""

from __future__ import annotations

import hashlib
import sys


def gen(total: int) -> None:
    out = sys.stdout.buffer
    words = [w.encode() for w in "nzarc stream chunk segment header index key entry member codec".split()]
    blocks = []
    for i in range(16):
        h = hashlib.sha256(str(i).encode()).digest()
        if i % 4 == 3:  # incompressible block
            blocks.append(b"".join(hashlib.sha256(h + j.to_bytes(4, "big")).digest() for j in range(1 << 15)))
        else:
            text = bytearray()
            j = 0
            while len(text) < 1 << 20:
                text += words[(h[j % 32] + j * 7) % len(words)] + b" %d " % j
                j += 1
            blocks.append(bytes(text[: 1 << 20]))
    sent = 0
    k = 0
    while sent < total:
        block = blocks[(k * 5 + k // 16) % 16][: total - sent]
        out.write(block)
        sent += len(block)
        k += 1
    out.flush()


def create(recipient: str) -> None:
    from nzarc.writer import ArchiveWriter

    with ArchiveWriter(sys.stdout.buffer, recipients=[recipient], codec="zstd", level=3, jobs=2) as w:
        w.add_file("stream", sys.stdin.buffer, mtime_ns=0)
    print(f"create: {w.stats}", file=sys.stderr)


def extract(identity: str) -> None:
    from nzarc.reader import ArchiveReader

    out = sys.stdout.buffer
    with ArchiveReader(sys.stdin.buffer, identities=[identity], jobs=2) as r:
        for md in r.iter_members():
            for piece in md.chunks():
                out.write(piece)
            print(f"extract: {md.member.name} {md.member.size} bytes verified", file=sys.stderr)
    out.flush()


if __name__ == "__main__":
    cmd, arg = sys.argv[1], sys.argv[2]
    {"gen": lambda: gen(int(arg)), "create": lambda: create(arg), "extract": lambda: extract(arg)}[cmd]()
