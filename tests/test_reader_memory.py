"""Reader memory does not grow with the number of index rows or pending members beyond a few
documented bytes each (spec/FORMAT.md §11): listing a million-row index, and a pipe full of
entry frames that never finish."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import msgpack
import pytest

from nzarc.crypto import keys as keymod
from nzarc.crypto.suites import make_aead
from nzarc.errors import LimitExceeded
from nzarc.format import limits
from nzarc.format.frames import encode_finish, encode_index_frame, encode_trailer
from nzarc.format.header import CodecEntry, Header, encode_header, pack_prelude
from nzarc.format.indexstream import PendingQueue
from nzarc.format.layout import LEN_PREFIX, TAG_ENTRY, TAG_INDEX
from nzarc.format.member import Entry, Member
from nzarc.format.nameset import BYTES_PER_PREFIX, NameSet
from nzarc.format.stream import SegmentWriter

SEG = 1 << 20


def _entry_frame(name: str) -> bytes:
    """The E frame of directory ``name`` (mode 0755, mtime 0) at offset 0, canonical."""
    body = b"\x85" + msgpack.packb("m") + msgpack.packb(0o755) + msgpack.packb("mt") + b"\x00"
    body += msgpack.packb("o") + b"\x00" + msgpack.packb("p") + msgpack.packb(name)
    body += msgpack.packb("t") + msgpack.packb("d")
    return bytes([TAG_ENTRY]) + LEN_PREFIX.pack(len(body)) + body


def _index_body(names: list[str]) -> bytes:
    rows = b"".join(msgpack.packb([n, "d", 0o755, 0, 0, 0, None, None]) for n in names)
    head = msgpack.packb("entries") + b"\xdd" + len(names).to_bytes(4, "big")
    return (
        b"\x84" + msgpack.packb("chunks") + msgpack.packb(b"", use_bin_type=True)
        + msgpack.packb("counts") + msgpack.packb([0]) + head + rows
        + msgpack.packb("total") + b"\x00"
    )


def _write(path: Path, names: list[str], *, finish: bool = True) -> None:
    """An unencrypted archive of directories ``names`` (E, F per member, then the index).
    Without ``finish`` no F frame is written: every member stays pending until the index."""
    header = Header(suite="none", stanzas=(), codecs=(CodecEntry("nzarc.store", 1, {}, "nzarc"),),
                    chunk_size=1 << 20, segment_size=SEG, salt=bytes(32), pad=False)
    hb = encode_header(header)
    prelude = pack_prelude(hb)
    mac = keymod.header_mac(keymod.ZERO_KEY, prelude, hb)
    with open(path, "wb") as f:
        f.write(prelude + hb + mac)
        aead = make_aead("none", keymod.payload_key(keymod.ZERO_KEY, bytes(32), mac))
        sw = SegmentWriter(f.write, aead, SEG)
        done = encode_finish(0, bytes(32)) if finish else b""
        pos = 0
        batch: list[bytes] = []
        for name in names:
            batch.append(_entry_frame(name) + done)
            if len(batch) == 4096:
                piece = b"".join(batch)
                sw.write(piece)
                pos += len(piece)
                batch = []
        piece = b"".join(batch)
        sw.write(piece)
        pos += len(piece)
        index_frame = encode_index_frame(_index_body(names))
        assert index_frame[0] == TAG_INDEX
        sw.write(index_frame + encode_trailer(pos, pos + len(index_frame)))
        sw.close()


def _peak_kib(code: str, *args: str, stdin: Path | None = None) -> tuple[int, int, str]:
    """Run ``code`` in a fresh interpreter; (peak RSS in KiB before, after, its stderr)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc/self/status (Linux)")
    wrapper = (
        "import sys\n"
        "def peak():\n"
        "    # VmHWM belongs to this image (ru_maxrss would carry the forking parent's peak)\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
        "from nzarc.cli import main\n"
        "before = peak()\n" + code + "\nprint('PEAK', before, peak(), file=sys.stderr)\n"
    )
    with open(stdin, "rb") if stdin else open("/dev/null", "rb") as feed:
        # a pipe, not the file: cat keeps the reader's input non-seekable
        cat = subprocess.Popen(["cat"], stdin=feed, stdout=subprocess.PIPE) if stdin else None
        proc = subprocess.run(
            [sys.executable, "-c", wrapper, *args],
            stdin=cat.stdout if cat else subprocess.DEVNULL,
            capture_output=True,
            timeout=600,
        )
        if cat:
            cat.stdout.close()  # type: ignore[union-attr]
            cat.wait()
    err = proc.stderr.decode()
    line = [ln for ln in err.splitlines() if ln.startswith("PEAK")][-1]
    _, before, after = line.split()
    return int(before), int(after), err + proc.stdout.decode()[-200:]


def test_listing_a_million_row_index_stays_under_300_mb(tmp_path: Path) -> None:
    n = 1_000_000
    names = [f"d{i // 1000:03d}/e{i:07d}" for i in range(n)]
    path = tmp_path / "million.nzarc"
    _write(path, names)
    code = (
        "import io, contextlib\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    rc = main(['list', sys.argv[1]])\n"
        "lines = out.getvalue().splitlines()\n"
        "print('LISTED', rc, len(lines), lines[0], lines[-1], file=sys.stderr)\n"
    )
    # the captured listing (about 14 MB of text) counts against the budget too
    before, after, err = _peak_kib(code, str(path))
    assert f"LISTED 0 {n} {names[0]} {names[-1]}" in err, err
    assert after < 300 * 1024, f"peak RSS {after} KiB"
    print("PEAKS", before, after)


def test_a_pipe_of_unfinished_entries_costs_a_few_bytes_per_member(tmp_path: Path) -> None:
    # The slope between two sizes, so that what extraction loads once (codecs, threads,
    # buffers) does not count as a per-member cost.
    peaks = {}
    for n in (50_000, 250_000):
        names = [f"e{i:07d}" for i in range(n)]
        path = tmp_path / f"pending-{n}.nzarc"
        _write(path, names, finish=False)
        code = "rc = main(['extract', '-', '-C', sys.argv[1]])\nprint('RC', rc, file=sys.stderr)"
        _, after, err = _peak_kib(code, str(tmp_path / f"out-{n}"), stdin=path)
        assert "RC 1" in err and "index before every member was finished" in err, err
        peaks[n] = after
    per_member = (peaks[250_000] - peaks[50_000]) * 1024 / 200_000
    print("PEAKS", peaks, f"{per_member:.0f} B per member")
    # NameSet (<= 64 B per name) + pending rows (4 B + ~25 B) + slack; was about 900 B each
    assert per_member < 200, f"{per_member:.0f} bytes per member"


def test_name_set_costs_a_bounded_number_of_bytes_per_prefix() -> None:
    names = NameSet()
    tracemalloc.start()
    try:
        for i in range(50_000):
            names.add(f"dir{i % 100}/{'x' * 40}{i}", "file")
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(names) == 50_100
    assert peak < BYTES_PER_PREFIX * len(names) + (64 << 10), peak


def test_pending_queue_keeps_order_and_bounds_its_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    q = PendingQueue()
    members = [Entry(Member(f"m{i}", "file", 0o644, i, None, None), i * 3) for i in range(2000)]
    members.append(Entry(Member("l", "symlink", 0o777, 1, 0, None, "m0"), 6000))
    for e in members:
        q.push(e)
    assert len(q) == len(members) and q.second_offset() == 3
    for e in members:
        assert q.first() == e and q.pop() == e
    assert len(q) == 0 and q.second_offset() is None
    with pytest.raises(IndexError):
        q.first()
    monkeypatch.setattr(limits, "MAX_INDEX_BYTES", 100)
    small = PendingQueue()
    small.push(members[0])
    with pytest.raises(LimitExceeded, match="awaiting their finish frames"):
        for e in members[1:]:
            small.push(e)
