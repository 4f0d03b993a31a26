"""The codec table a writer declares: only what short archives use, the smallest with ``auto``."""

from __future__ import annotations

import io
import os
import random

import msgpack
import pytest
from helpers_format import NoSeekWriter, SeededRng, read_all

from nzarc.format.layout import PRELUDE_LEN
from nzarc.planning import CodecPlan, EncodedGroup, smallest_table
from nzarc.writer import SEAL_CHUNKS, ArchiveWriter

# ---------------------------------------------------------------------------- smallest_table

#: Header bytes of a table: 100 for everything else, then each slot's entry.
ENTRY_COST = {0: 20, 1: 30, 2: 400}


def header_len(table: list[int]) -> int:
    return 100 + sum(ENTRY_COST[s] for s in table)


def plan(auto: bool) -> CodecPlan:
    return CodecPlan(entries=[], codecs=[], candidates=[1, 2], auto=auto)


def group(sizes: list[dict[int, int]]) -> tuple[list[bytes], EncodedGroup]:
    """sizes: per chunk, output length by slot (slot 0 is the chunk itself)."""
    chunks = [bytes(s[0]) for s in sizes]
    outputs = [{slot: bytes([slot]) * n for slot, n in s.items()} for s in sizes]
    chosen = [min(out.items(), key=lambda item: (len(item[1]), item[0])) for out in outputs]
    return chunks, EncodedGroup(chosen, outputs)


def always(slot: int, out: bytes, chunk: bytes) -> bool:
    return True


def test_unused_slots_are_left_out():
    chunks, g = group([{0: 1000, 1: 500}, {0: 50}])
    for auto in (False, True):
        table, choice = smallest_table(plan(auto), chunks, g, always, header_len)
        assert table == [0, 1] and [s for s, _ in choice] == [1, 0]


def test_auto_drops_a_codec_whose_entry_costs_more_than_it_saves():
    # slot 2 saves 300 bytes on the first chunk, its entry costs 400: zstd-like slot 1 instead
    chunks, g = group([{0: 1000, 1: 500, 2: 200}, {0: 900, 1: 450}])
    table, choice = smallest_table(plan(True), chunks, g, always, header_len)
    assert table == [0, 1] and choice == [(1, b"\x01" * 500), (1, b"\x01" * 450)]
    # without auto the requested codec stays
    table, choice = smallest_table(plan(False), chunks, g, always, header_len)
    assert table == [0, 1, 2] and [s for s, _ in choice] == [2, 1]


def test_auto_keeps_a_codec_that_pays_for_its_entry():
    chunks, g = group([{0: 4000, 1: 2000, 2: 1000}, {0: 900, 1: 450, 2: 430}])
    table, choice = smallest_table(plan(True), chunks, g, always, header_len)
    assert table == [0, 2] and [s for s, _ in choice] == [2, 2]


def test_auto_can_drop_every_codec():
    chunks, g = group([{0: 100, 1: 90, 2: 80}])
    table, choice = smallest_table(plan(True), chunks, g, always, header_len)
    assert table == [0] and choice == [(0, bytes(100))]


def test_a_fallback_output_must_be_acceptable():
    chunks, g = group([{0: 1000, 1: 500, 2: 200}])
    refused = []

    def not_slot_1(slot: int, out: bytes, chunk: bytes) -> bool:
        refused.append(slot)
        return slot != 1

    # slot 1 (500 bytes) would be cheaper than slot 2 (200 bytes + its 400-byte entry), but its
    # unchecked output fails the check: slot 2 stays
    table, choice = smallest_table(plan(True), chunks, g, not_slot_1, header_len)
    assert 1 in refused
    assert table == [0, 2] and choice == [(2, b"\x02" * 200)]
    table, choice = smallest_table(plan(True), chunks, g, always, header_len)
    assert table == [0, 1] and choice == [(1, b"\x01" * 500)]


# ---------------------------------------------------------------------------- the writer


def write(chunks_data: bytes, **opts) -> bytes:
    out = NoSeekWriter()
    with ArchiveWriter(out, rng=SeededRng(b"table"), encrypt=False, **opts) as w:
        w.add_bytes("a", chunks_data, mtime_ns=1)
    return bytes(out.data)


def table_ids(data: bytes) -> list[str]:
    hlen = int.from_bytes(data[12:16], "big")
    header = msgpack.unpackb(data[PRELUDE_LEN : PRELUDE_LEN + hlen])
    return [c["id"] for c in header["codecs"]]


def test_incompressible_input_declares_store_only():
    data = write(os.urandom(3000))
    assert table_ids(data) == ["nzarc.store"]
    assert len(read_all(io.BytesIO(data))["a"]) == 3000


def test_auto_equals_zstd_19_byte_for_byte_on_a_short_archive():
    text = b"the quick brown fox jumps over the lazy dog\n" * 200
    for payload in (text, os.urandom(5000), b""):
        assert write(payload, codec="auto") == write(payload, codec="zstd", level=19)


@pytest.mark.parametrize(
    "n_chunks", [0, 1, SEAL_CHUNKS - 1, SEAL_CHUNKS, SEAL_CHUNKS + 1, SEAL_CHUNKS + 2, 3 * SEAL_CHUNKS]
)
def test_bytes_do_not_depend_on_jobs_around_the_sealing_point(n_chunks: int):
    rnd = random.Random(n_chunks)
    # alternate incompressible and compressible chunks: both slots in use
    parts = [
        rnd.randbytes(256) if i % 2 else bytes(rnd.choice(b"ab") for _ in range(256))
        for i in range(n_chunks)
    ]
    payload = b"".join(parts)
    outs = {jobs: write(payload, chunk_size=256, jobs=jobs, codec="zstd", level=3) for jobs in (1, 2, 3)}
    assert outs[1] == outs[2] == outs[3]
    assert read_all(io.BytesIO(outs[1]))["a"] == payload
    expected = ["nzarc.store", "nzarc.zstd"] if n_chunks else ["nzarc.store"]
    assert table_ids(outs[1]) == expected


def test_long_archive_declares_every_planned_codec():
    # nothing compresses, but the table was written before the end was known
    payload = os.urandom(256 * (SEAL_CHUNKS + 2))
    data = write(payload, chunk_size=256, codec="zstd", level=3)
    assert table_ids(data) == ["nzarc.store", "nzarc.zstd"]
    assert read_all(io.BytesIO(data))["a"] == payload


def test_many_members_before_the_first_chunk_do_not_hold_the_header_forever():
    out = NoSeekWriter()
    with ArchiveWriter(out, rng=SeededRng(b"t"), encrypt=False, codec="zstd") as w:
        for i in range(20000):  # ~ 60 bytes of frames each, no chunk cut
            w.add_dir(f"directory-with-a-longish-name-{i:06d}", mtime_ns=1)
        assert len(out.data) > 0  # the header and full segments were written meanwhile
    assert table_ids(bytes(out.data)) == ["nzarc.store", "nzarc.zstd"]
    assert len(read_all(io.BytesIO(bytes(out.data)))) == 20000
