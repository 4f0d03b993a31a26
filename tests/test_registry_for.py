"""registry_for: nzarc's own codecs resolve without loading other plugins; the rest as before."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from nzarc.codecs import registry
from nzarc.codecs.registry import PluginWarning, Registry, registry_for
from nzarc.errors import PluginError


@pytest.fixture
def broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution whose plugin fails to import; a fresh registry state."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "nzt_fastpath_broken.py").write_text("raise RuntimeError('broken on import')\n")
    info = root / "nzarc_fastpath_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: nzarc-fastpath-broken\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text("[nzarc]\nbroken = nzt_fastpath_broken\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("NZARC_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("NZARC_DISABLE_PLUGINS", raising=False)
    monkeypatch.setattr(registry, "_registry", None)
    monkeypatch.setattr(registry, "_builtin", None)
    yield
    sys.modules.pop("nzt_fastpath_broken", None)


def test_own_codecs_need_only_the_builtin_plugin(broken_plugin: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginWarning)
        reg = registry_for(["nzarc.store", "nzarc.zstd", "nzarc.neural"])
    assert "nzt_fastpath_broken" not in sys.modules
    assert reg.distribution_of("nzarc.zstd") == "nzarc"
    codec = reg.latest("nzarc.zstd").from_params({"level": 3})
    data = b"fast path " * 500
    assert codec.decode(codec.encode(data), len(data)) == data
    assert registry_for(["nzarc.store"]) is reg  # loaded once
    assert registry._registry is None  # the full registry was not loaded


def test_other_codec_ids_load_every_plugin(broken_plugin: None) -> None:
    with pytest.warns(PluginWarning, match="nzarc-fastpath-broken"):
        reg = registry_for(["nzarc.zstd", "acme.codec"])
    assert reg is registry.get_registry()
    assert registry_for(["nzarc.zstd"]) is reg  # once loaded, the full registry serves all


def test_strict_mode_always_loads_every_plugin(
    broken_plugin: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NZARC_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="nzarc-fastpath-broken"):
        registry_for(["nzarc.zstd"])


def test_builtin_registry_matches_the_full_one_for_own_codecs(broken_plugin: None) -> None:
    fast = Registry.load_builtin()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)
        full = Registry.load()
    own = [i for i in full.codecs() if i.codec_id.startswith("nzarc.")]
    assert [(i.codec_id, i.version, i.cls, i.distribution) for i in fast.codecs()] == [
        (i.codec_id, i.version, i.cls, i.distribution) for i in own
    ]
    assert fast.models() == []


def test_zstd_create_and_extract_do_not_import_torch_or_other_plugins(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.txt").write_bytes(b"plain text, compressed by zstd\n" * 200)
    script = textwrap.dedent(
        f"""
        import sys
        from nzarc.cli import main
        from nzarc.codecs import registry
        assert main(["create", "-q", "-o", {str(tmp_path / "a.nz")!r}, "-c", "zstd", "-l", "3",
                     "--no-encrypt", {str(src)!r}]) == 0
        assert main(["extract", "-q", {str(tmp_path / "a.nz")!r}, "-C",
                     {str(tmp_path / "out")!r}]) == 0
        heavy = sorted(m for m in ("torch", "numpy") if m in sys.modules)
        print(heavy, registry._registry is None)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "[] True"
    assert (tmp_path / "out" / "in" / "a.txt").read_bytes() == (src / "a.txt").read_bytes()
