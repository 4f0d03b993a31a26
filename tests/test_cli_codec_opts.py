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
    from nzarc.neural.codec import DEFAULT_MODEL_NAME
    from nzarc.neural.store import ModelStore
    from nzarc.neural.tiny import write_tiny_gguf

    root = tmp_path_factory.mktemp("codec-opts")
    ModelStore(root / "home").install_gguf(write_tiny_gguf(0, root / "tiny.gguf"), name=DEFAULT_MODEL_NAME)
    return root / "home"


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
