"""Plugin codecs that declare ``auto_eligible`` are offered to ``-c auto``; others are not."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_support import make_dist

from nzarc.codecs import registry
from nzarc.planning import AUTO_CANDIDATES, MAX_AUTO_PLUGINS, auto_candidates, plan_codecs
from nzarc.writer import ArchiveWriter

# A run-length codec: a chunk of one repeated byte becomes that byte and its count (9 bytes,
# smaller than zstd's or xz's output); anything else is declined.
RLE = """
from nzarc.codecs.contract import Codec
from nzarc.codecs.hookspecs import hookimpl
from nzarc.codecs.params import check_keys
from nzarc.errors import CodecError, EncodeDeclined


class Rle(Codec):
    codec_id = "{codec_id}"
    version = 1
    auto_eligible = {eligible}

    @classmethod
    def from_params(cls, params):
        check_keys(cls.codec_id, params, ())
        return cls()

    def get_params(self):
        return {{}}

    def encode(self, chunk):
        chunk = bytes(chunk)
        if not chunk or chunk.count(chunk[:1]) != len(chunk):
            raise EncodeDeclined("not one repeated byte")
        return chunk[:1] + len(chunk).to_bytes(8, "little")

    def decode(self, data, raw_len):
        data = bytes(data)
        if len(data) != 9 or int.from_bytes(data[1:], "little") != raw_len:
            raise CodecError("bad run")
        return data[:1] * raw_len


@hookimpl
def nzarc_codecs():
    return [Rle]
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Fake plugin distributions on sys.path, alone: the bundled ppmd plugin (installed in CI)
    is disabled and no neural model is installed, so auto's candidates are known."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("NZARC_STRICT_PLUGINS", raising=False)
    monkeypatch.setenv("NZARC_DISABLE_PLUGINS", "nzarc-ppmd")
    monkeypatch.setenv("NZARC_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(registry, "_registry", None)
    monkeypatch.setattr(registry, "_builtin", None)
    yield root
    for name in [m for m in sys.modules if m.startswith("nzt_auto")]:
        del sys.modules[name]


def _rle(site: Path, name: str, eligible: bool) -> None:
    make_dist(site, f"nzarc-{name}", name, f"nzt_auto_{name}", RLE.format(codec_id=f"{name}.rle", eligible=eligible))


def _codecs_used(data: bytes) -> dict[str, int]:
    out = io.BytesIO()
    with ArchiveWriter(out, codec="auto", encrypt=False) as writer:
        writer.add_bytes("zeros", data)
        stats = writer.close()
    return stats.chunks_per_codec


def test_an_eligible_plugin_codec_is_a_candidate_of_auto(site: Path) -> None:
    _rle(site, "acme", eligible=True)
    wanted = [cid for cid, _, _ in auto_candidates()]
    assert wanted == [cid for cid, _, _ in AUTO_CANDIDATES] + ["acme.rle"]
    assert _codecs_used(bytes(200_000)) == {"acme.rle": 1}


def test_a_plugin_codec_that_does_not_declare_itself_is_left_out(site: Path) -> None:
    _rle(site, "acme", eligible=False)
    assert "acme.rle" not in [cid for cid, _, _ in auto_candidates()]
    assert "acme.rle" not in _codecs_used(bytes(200_000))


def test_auto_offers_at_most_the_first_eligible_plugins_by_id(site: Path) -> None:
    names = [f"p{i}" for i in range(MAX_AUTO_PLUGINS + 2)][::-1]
    for name in names:
        _rle(site, name, eligible=True)
    extra = [cid for cid, _, _ in auto_candidates()][len(AUTO_CANDIDATES):]
    assert extra == sorted(f"{n}.rle" for n in names)[:MAX_AUTO_PLUGINS]
    plan = plan_codecs("auto")
    assert [c.codec_id for c in plan.codecs][-MAX_AUTO_PLUGINS:] == extra


def test_a_plugin_codec_that_declines_leaves_the_chunk_to_the_others(site: Path) -> None:
    _rle(site, "acme", eligible=True)
    used = _codecs_used(b"text that repeats, " * 5000)
    assert "acme.rle" not in used and sum(used.values()) == 1
