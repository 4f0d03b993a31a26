"""``create -m/--codec-opt KEY=VALUE``: codec params through the command line, for built-in
and plugin codecs alike, with ``-l`` and ``--window`` as its shorthands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from cli_support import run_nzarc

TEXT = b"the quick brown fox jumps over the lazy dog, then naps in the sun. " * 300
#: Text the tiny model shrinks, so the neural codec keeps its chunks.
PROSE = b"the " * 3000
MTIME_NS = 1_600_000_000_000_000_000


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NZARC_HOME whose default model is a tiny seeded one, installed as a user would."""
    from nzarc.neural.tiny import install_tiny_home

    return install_tiny_home(tmp_path_factory.mktemp("codec-opts"))


@pytest.fixture
def text(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "text.txt"
    path.parent.mkdir()
    path.write_bytes(TEXT)
    os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return path


def _create(home: Path, out: Path, src: Path, *options: str) -> bytes:
    run_nzarc("create", "--no-encrypt", *options, "-o", out, src, home=home).assert_ok()
    return out.read_bytes()


def _codec_params(home: Path, archive: Path, codec_id: str) -> dict[str, object]:
    info = json.loads(run_nzarc("info", "--json", archive, home=home).assert_ok().stdout)
    (entry,) = [c for c in info["codecs"] if c["id"] == codec_id]
    assert info["chunks_per_codec"].get(codec_id, 0) >= 1, info
    params: dict[str, object] = entry["params"]
    return params


def test_a_plugin_codec_receives_its_option(home: Path, text: Path, tmp_path: Path) -> None:
    default = tmp_path / "default.nzarc"
    _create(home, default, text, "-c", "ppmd.ppmd")
    assert _codec_params(home, default, "ppmd.ppmd")["order"] != 11
    archive = tmp_path / "order11.nzarc"
    _create(home, archive, text, "-c", "ppmd.ppmd", "-m", "order=11", "--codec-opt", "variant=H")
    params = _codec_params(home, archive, "ppmd.ppmd")
    assert (params["order"], params["variant"]) == (11, "H")
    out = tmp_path / "out"
    run_nzarc("extract", "-C", out, archive, home=home).assert_ok()
    assert (out / "text.txt").read_bytes() == TEXT


@pytest.mark.parametrize(
    ("codec", "key", "taken"),
    [("zstd", "bogus", "level"), ("ppmd.ppmd", "ordr", "memory, order, variant")],
)
def test_an_unknown_key_is_a_usage_error_naming_it(
    home: Path, text: Path, tmp_path: Path, codec: str, key: str, taken: str
) -> None:
    out = tmp_path / "a.nzarc"
    done = run_nzarc("create", "--no-encrypt", "-c", codec, "-m", f"{key}=3", "-o", out, text,
                     home=home).assert_clean_error(2)
    (line,) = [ln for ln in done.stderr.splitlines() if ln.startswith("nzarc: error: ")]
    assert f"-m {key}=3" in line and f"takes no param {key!r}" in line, line
    assert f"hint: its params: {taken}" in done.stderr, done.stderr
    assert not out.exists()


def test_a_value_the_codec_refuses_names_the_option(home: Path, text: Path, tmp_path: Path) -> None:
    done = run_nzarc("create", "--no-encrypt", "-c", "ppmd.ppmd", "-m", "order=99", "-o",
                     tmp_path / "a.nzarc", text, home=home).assert_clean_error(2)
    assert "nzarc: error: -m order=99: " in done.stderr and "order" in done.stderr, done.stderr


def test_a_shorthand_that_contradicts_the_option_is_refused(home: Path, text: Path, tmp_path: Path) -> None:
    done = run_nzarc("create", "--no-encrypt", "-c", "zstd", "-m", "level=5", "-l", "6", "-o",
                     tmp_path / "a.nzarc", text, home=home).assert_clean_error(2)
    assert "nzarc: error: -l 6 contradicts -m level=5" in done.stderr, done.stderr


@pytest.mark.parametrize("codec", ["zstd", "xz"])
def test_level_shorthand_equals_the_option(home: Path, text: Path, tmp_path: Path, codec: str) -> None:
    short = _create(home, tmp_path / "l.nzarc", text, "-c", codec, "-l", "5")
    long = _create(home, tmp_path / "m.nzarc", text, "-c", codec, "-m", "level=5")
    assert short == long
    assert _codec_params(home, tmp_path / "m.nzarc", f"nzarc.{codec}")["level"] == 5
    default = _create(home, tmp_path / "d.nzarc", text, "-c", codec)
    assert default != short  # the level reached the codec


def test_window_shorthand_equals_the_option(home: Path, tmp_path: Path) -> None:
    text = tmp_path / "prose.txt"
    text.write_bytes(PROSE)
    os.utime(text, ns=(MTIME_NS, MTIME_NS))
    short = _create(home, tmp_path / "w.nzarc", text, "-c", "neural", "--window", "256")
    long = _create(home, tmp_path / "m.nzarc", text, "-c", "neural", "-m", "window=256")
    assert short == long
    assert _codec_params(home, tmp_path / "m.nzarc", "nzarc.neural")["window"] == 256
    other = _create(home, tmp_path / "o.nzarc", text, "-c", "neural", "-m", "window=64")
    assert other != short  # the window reached the codec


def test_the_bitstream_version_is_an_option_by_its_params_name(home: Path, tmp_path: Path) -> None:
    """``-m version=2 -m lanes=L`` writes the version-2 bitstream, named as in the archive's
    params (spec/NEURAL-CODEC.md section 5.1), and the archive extracts."""
    import random

    rng = random.Random(5)  # words in no order: compressible, but far below the codec's max_ratio
    words = "the cat sat on a mat and then it ran off to see what was there".split()
    data = " ".join(rng.choice(words) for _ in range(2500)).encode()
    text = tmp_path / "words.txt"
    text.write_bytes(data)
    os.utime(text, ns=(MTIME_NS, MTIME_NS))
    archive = tmp_path / "v2.nzarc"
    _create(home, archive, text, "-c", "neural", "-m", "window=256", "-m", "version=2", "-m", "lanes=1")
    params = _codec_params(home, archive, "nzarc.neural")
    assert params["version"] == 2 and params["lanes"] == 1
    run_nzarc("extract", "-C", tmp_path / "out", archive, home=home).assert_ok()
    assert (tmp_path / "out" / "words.txt").read_bytes() == data
    bad = run_nzarc("create", "--no-encrypt", "-c", "neural", "-m", "bitstream=2", "-o", tmp_path / "b.nzarc", text, home=home)
    assert "bitstream" in bad.assert_clean_error(2).stderr


def test_version_2_has_room_for_the_ratios_its_mixer_reaches(home: Path, tmp_path: Path) -> None:
    """Repeats that version 2 codes at about 200x (above version 1's limit of 32) are written
    with it, not stored, and read back with a reader's defaults."""
    from nzarc.neural.codec import MAX_RATIO, MAX_RATIO_V2, NeuralCodec

    assert NeuralCodec.max_ratio == MAX_RATIO == 32 and MAX_RATIO_V2 == 1024
    text = tmp_path / "prose.txt"
    text.write_bytes(PROSE)
    os.utime(text, ns=(MTIME_NS, MTIME_NS))
    archive = tmp_path / "v2.nzarc"
    _create(home, archive, text, "-c", "neural", "-m", "window=256", "-m", "version=2", "-m", "lanes=1")
    info = json.loads(run_nzarc("info", "--json", archive, home=home).assert_ok().stdout)
    assert info["chunks_per_codec"] == {"nzarc.neural": 1}, info
    assert next(c for c in info["codecs"] if c["id"] == "nzarc.neural")["params"]["version"] == 2
    run_nzarc("extract", "-C", tmp_path / "out", archive, home=home).assert_ok()
    assert (tmp_path / "out" / "prose.txt").read_bytes() == PROSE
    refused = run_nzarc("extract", "--max-ratio", "32", "-C", tmp_path / "out2", archive, home=home)
    assert "ratio" in refused.assert_clean_error(1).stderr
