"""The writer's and reader's shared pipeline pieces: the codec plan for a codec choice, the
smallest codec table and level checks (:mod:`nzarc.planning`), and the default job count
(:mod:`nzarc.workers`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nzarc import workers
from nzarc.errors import UnsupportedCodec
from nzarc.levels import CodecOptionError
from nzarc.planning import (
    AUTO_CANDIDATES,
    AUTO_ZSTD_LEVEL,
    CodecPlan,
    EncodedGroup,
    auto_candidates,
    check_level,
    plan_codecs,
    smallest_table,
)
from nzarc.workers import default_jobs

XZ_DEFAULT = {"level": 9, "extreme": True}


def _slots(plan: CodecPlan) -> list[tuple[str, dict[str, object]]]:
    return [(entry.codec_id, entry.params) for entry in plan.entries]


@pytest.fixture(autouse=True)
def no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NZARC_HOME", str(tmp_path / "empty-home"))


def test_store_plans_slot_zero_alone() -> None:
    plan = plan_codecs("store")
    assert _slots(plan) == [("nzarc.store", {})]
    assert plan.candidates == [] and not plan.auto
    assert [c.codec_id for c in plan.codecs] == ["nzarc.store"]


@pytest.mark.parametrize("choice", ["zstd", "nzarc.zstd"])
def test_zstd_plans_store_then_zstd_at_the_level_given(choice: str) -> None:
    plan = plan_codecs(choice, {"level": 4})
    assert _slots(plan) == [("nzarc.store", {}), ("nzarc.zstd", {"level": 4})]
    assert plan.candidates == [1] and not plan.auto


def test_xz_plans_store_then_xz_at_its_default() -> None:
    plan = plan_codecs("xz")
    assert _slots(plan) == [("nzarc.store", {}), ("nzarc.xz", XZ_DEFAULT)]
    assert plan.candidates == [1]


@pytest.mark.parametrize(("level", "zstd_level"), [(None, AUTO_ZSTD_LEVEL), (3, 3)])
def test_auto_plans_zstd_and_xz_as_candidates(level: int | None, zstd_level: int) -> None:
    plan = plan_codecs("auto", None if level is None else {"level": level})
    slots = _slots(plan)
    # the level is the zstd candidate's; xz keeps its own
    assert slots[:3] == [("nzarc.store", {}), ("nzarc.zstd", {"level": zstd_level}),
                         ("nzarc.xz", XZ_DEFAULT)]
    # the neural codec only with a model; then any installed plugin codec that is auto-eligible
    plugins = [cid for cid, _, _ in auto_candidates()[len(AUTO_CANDIDATES):]]
    assert [cid for cid, _ in slots[3:]] in (plugins, ["nzarc.neural", *plugins])
    assert plan.auto and plan.candidates == list(range(1, len(slots)))
    assert [c.codec_id for c in plan.codecs] == [codec_id for codec_id, _ in slots]


def test_an_unknown_codec_is_unsupported() -> None:
    with pytest.raises(UnsupportedCodec):
        plan_codecs("acme.nothing")


@pytest.mark.parametrize(("codec", "level", "message"), [
    ("store", 1, "nzarc.store takes no level"),
    ("neural", 3, "nzarc.neural takes no level"),
    ("zstd", 23, "not a level of nzarc.zstd"),
    ("zstd", -8, "not a level of nzarc.zstd"),
    ("auto", 99, "not a level of nzarc.zstd"),  # under auto the level is zstd's
    ("xz", 10, "not a level of nzarc.xz"),
])
def test_check_level_refuses(codec: str, level: int, message: str) -> None:
    with pytest.raises(CodecOptionError, match=message) as info:
        check_level(codec, level)
    assert info.value.hint
    with pytest.raises(CodecOptionError, match=message):
        plan_codecs(codec, {"level": level})


@pytest.mark.parametrize(("codec", "level"), [
    ("store", None), ("neural", None), ("zstd", -7), ("zstd", 22), ("auto", 3), ("xz", 0),
    ("xz", 9),
])
def test_check_level_accepts(codec: str, level: int | None) -> None:
    check_level(codec, level)


def test_default_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_jobs(3) == 3
    assert default_jobs(1) == 1
    monkeypatch.setattr(workers.os, "cpu_count", lambda: 6)
    assert default_jobs(None) == 6
    monkeypatch.setattr(workers.os, "cpu_count", lambda: None)
    assert default_jobs(None) == 1
    for bad in (0, -2):
        with pytest.raises(ValueError, match="jobs must be at least 1"):
            default_jobs(bad)


# Three chunks of 100 bytes; slots 1..3 are candidates. Each chunk's chosen output is its
# smallest, but every table entry costs ENTRY bytes of header, so one codec for all wins.
CHUNKS = [bytes([i]) * 100 for i in range(3)]
SIZES = [{1: 40, 2: 38, 3: 90}, {1: 50, 2: 90, 3: 20}, {1: 45, 2: 44, 3: 95}]
ENTRY = 60


def _group() -> EncodedGroup:
    outputs = [{0: chunk, **{s: bytes([s]) * n for s, n in sizes.items()}}
               for chunk, sizes in zip(CHUNKS, SIZES, strict=True)]
    chosen = [min(((s, o) for s, o in out.items()), key=lambda so: len(so[1])) for out in outputs]
    assert [s for s, _ in chosen] == [2, 3, 2]
    return EncodedGroup(chosen=chosen, outputs=outputs)


def _header_len(table: list[int]) -> int:
    return ENTRY * len(table)


def _plan(auto: bool) -> CodecPlan:
    return CodecPlan(entries=[], codecs=[], candidates=[1, 2, 3], auto=auto)


def _cost(table: list[int], choice: list[tuple[int, bytes]]) -> int:
    return _header_len(table) + sum(len(out) for _, out in choice)


def test_smallest_table_picks_the_cheapest_subset() -> None:
    table, choice = smallest_table(_plan(True), CHUNKS, _group(), lambda *a: True, _header_len)
    assert table == [0, 1]
    assert [s for s, _ in choice] == [1, 1, 1]
    assert _cost(table, choice) == 2 * ENTRY + 40 + 50 + 45
    # the per-chunk choice it replaced costs more
    chosen = _group().chosen
    assert _cost([0, 2, 3], chosen) > _cost(table, choice)


def test_smallest_table_skips_an_unacceptable_output() -> None:
    def acceptable(slot: int, out: bytes, chunk: bytes) -> bool:
        return not (chunk == CHUNKS[0] and slot == 1)

    group = _group()
    table, choice = smallest_table(_plan(True), CHUNKS, group, acceptable, _header_len)
    # chunk 0 stored raw under {1}: 2 entries + 100 + 50 + 45 = 315 > 3 entries + 102 = 282
    assert table == [0, 2, 3]
    assert choice == [(s, group.outputs[i][s]) for i, s in enumerate([2, 3, 2])]
    assert _cost(table, choice) == 3 * ENTRY + 38 + 20 + 44


def test_smallest_table_without_auto_keeps_the_chosen_outputs() -> None:
    group = _group()
    table, choice = smallest_table(_plan(False), CHUNKS, group, lambda *a: False, _header_len)
    assert table == [0, 2, 3]
    assert choice == group.chosen
