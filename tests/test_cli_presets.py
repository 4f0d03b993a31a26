"""``create --fast`` / ``--best`` and the neural forecast line: what each preset writes, the
usage errors beside ``-c``, and the up-front statement of the bytes the model will code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_support import run_nzarc

from nzarc.forecast import MAX_SAMPLED_FILES, Forecast, neural_forecast
from nzarc.ratebook import Rate

PROSE = b"the " * 3000


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nzarc.neural.tiny import install_tiny_home

    return install_tiny_home(tmp_path_factory.mktemp("presets"))


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    (src / "prose.txt").write_bytes(PROSE)
    (src / "noise.bin").write_bytes(os.urandom(5000))
    return src


def _info(home: Path, archive: Path) -> dict[str, object]:
    return json.loads(run_nzarc("info", "--json", archive, home=home).assert_ok().stdout)


def _params(info: dict[str, object], codec_id: str) -> dict[str, object]:
    (entry,) = [c for c in info["codecs"] if c["id"] == codec_id]  # type: ignore[union-attr]
    return entry["params"]  # type: ignore[no-any-return]


def test_fast_is_zstd_level_3_and_never_the_model(home: Path, inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "fast.nz"
    r = run_nzarc("create", "--no-encrypt", "--fast", "-o", out, inputs / "prose.txt", home=home).assert_ok()
    assert "neural:" not in r.stderr
    info = _info(home, out)
    assert [c["id"] for c in info["codecs"]] == ["nzarc.store", "nzarc.zstd"]  # type: ignore[index]
    assert _params(info, "nzarc.zstd")["level"] == 3
    out5 = tmp_path / "fast5.nz"  # the caller's own params override the preset's
    run_nzarc("create", "--no-encrypt", "--fast", "-l", "5", "-o", out5, inputs / "prose.txt", home=home).assert_ok()
    assert _params(_info(home, out5), "nzarc.zstd")["level"] == 5


def test_best_is_auto_with_the_mixing_bitstream_in_one_lane(
    home: Path, inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nzarc.planning import plan_codecs
    from nzarc.presets import PRESETS

    monkeypatch.setenv("NZARC_HOME", str(home))
    plan = plan_codecs(PRESETS["best"].codec, PRESETS["best"].params)
    assert plan.auto
    (neural,) = [c for c in plan.codecs if c.codec_id == "nzarc.neural"]
    assert {k: neural.get_params()[k] for k in ("version", "lanes")} == {"version": 2, "lanes": 1}
    out = tmp_path / "best.nz"
    r = run_nzarc("create", "--no-encrypt", "--best", "-o", out, inputs, home=home).assert_ok()
    assert "neural: 11.7 KiB of text in 1 file" in r.stderr  # the model is a candidate
    run_nzarc("extract", "-C", tmp_path / "x", out, home=home).assert_ok()
    assert (tmp_path / "x" / "in" / "prose.txt").read_bytes() == PROSE


def test_best_without_the_model_is_plain_auto(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "best.nz"
    empty = tmp_path / "empty-home"
    run_nzarc("create", "--no-encrypt", "--best", "-o", out, inputs / "prose.txt", home=empty).assert_ok()
    assert "nzarc.neural" not in _info(empty, out)["chunks_per_codec"]  # type: ignore[operator]


@pytest.mark.parametrize("preset", ["--fast", "--best"])
def test_a_preset_beside_a_codec_is_a_usage_error(home: Path, inputs: Path, tmp_path: Path, preset: str) -> None:
    r = run_nzarc("create", "--no-encrypt", preset, "-c", "xz", "-o", tmp_path / "a.nz", inputs, home=home)
    r.assert_clean_error(2)
    assert f"{preset} chooses the codec" in r.stderr
    assert not (tmp_path / "a.nz").exists()
    both = run_nzarc("create", "--fast", "--best", "-o", tmp_path / "a.nz", inputs, home=home)
    assert both.rc == 2 and "not allowed with" in both.stderr


def test_create_says_what_goes_through_the_model_then_records_the_rate(
    home: Path, inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_nzarc("create", "--no-encrypt", "-o", tmp_path / "a.nz", inputs / "prose.txt", home=home).assert_ok()
    (line,) = [ln for ln in first.stderr.splitlines() if ln.startswith("neural:")]
    assert line == (
        "neural: 11.7 KiB of text in 1 file goes through the model; its rate here is not measured"
        " yet (this run records it); --fast leaves the model out"
    )
    # The tiny model is fast: a run shorter than MIN_SECONDS is not recorded, so plant a rate
    # under the key these settings use.
    from nzarc.forecast import rate_key
    from nzarc.neural.codec import NeuralCodec
    from nzarc.workers import default_jobs

    monkeypatch.setenv("NZARC_HOME", str(home))
    key = rate_key(NeuralCodec(), default_jobs(None), "cpu")
    book = home / "rates.json"
    book.write_text(json.dumps({key: {"bytes_per_s": 100.0, "bytes": 5000, "measured": "2026-01-02"}}))
    second = run_nzarc("create", "--no-encrypt", "-o", tmp_path / "b.nz", inputs, home=home).assert_ok()
    (line,) = [ln for ln in second.stderr.splitlines() if ln.startswith("neural:")]
    assert line == (
        "neural: 11.7 KiB of text in 1 file goes through the model; about 2 min at 100 B/s"
        " (measured here 2026-01-02); --fast leaves the model out"
    )
    quiet = run_nzarc("create", "-q", "--no-encrypt", "-o", tmp_path / "c.nz", inputs, home=home).assert_ok()
    assert "neural:" not in quiet.stderr


def test_the_forecast_counts_text_files_only(tmp_path: Path) -> None:
    from nzarc.codecs.store import StoreCodec

    (tmp_path / "a.txt").write_bytes(PROSE)
    (tmp_path / "b.bin").write_bytes(os.urandom(100_000))
    (tmp_path / "empty").write_bytes(b"")

    class Neural(StoreCodec):  # only the id matters to the forecast
        codec_id = "nzarc.neural"

    rate = Rate(1000.0, 1, "2026-12-04")
    fc = neural_forecast([Neural()], [(str(tmp_path), "")], [], False, rate)
    assert fc == Forecast(len(PROSE), 1, False, rate) and fc.seconds == 12.0
    assert neural_forecast([StoreCodec()], [(str(tmp_path), "")], [], False, rate) is None
    excluded = neural_forecast([Neural()], [(str(tmp_path), "")], ["*.txt"], False, rate)
    assert excluded is not None and excluded.empty
    only_stdin = Forecast(0, 0, True, rate)
    assert only_stdin.line().startswith("neural: standard input (size unknown) goes through the model; at 1000 B/s")


def test_the_forecast_extrapolates_past_the_sampled_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nzarc.forecast as forecast
    from nzarc.codecs.store import StoreCodec

    class Neural(StoreCodec):
        codec_id = "nzarc.neural"

    monkeypatch.setattr(forecast, "MAX_SAMPLED_FILES", 4)
    for i in range(8):  # walk order is not sorted: make every file the same kind
        (tmp_path / f"{i}.txt").write_bytes(PROSE)
    fc = neural_forecast([Neural()], [(str(tmp_path), "")], [], False, None)
    assert fc == Forecast(8 * len(PROSE), 8, False, None)
    assert MAX_SAMPLED_FILES == 10_000
