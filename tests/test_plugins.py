"""Plugin loading: isolation of broken plugins, strict mode, disabling, conflicts, messages."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_support import make_dist

import nzarc
from nzarc.codecs import builtin
from nzarc.codecs.registry import (
    CodecInfo,
    PluginWarning,
    Registry,
    describe_codecs,
    get_registry,
)
from nzarc.errors import PluginError, UnsupportedCodec

GOOD_CODEC = """
from nzarc.codecs.contract import Codec
from nzarc.codecs.hookspecs import hookimpl
from nzarc.codecs.params import check_keys


class {cls}(Codec):
    codec_id = "{codec_id}"
    version = {version}

    @classmethod
    def from_params(cls, params):
        check_keys(cls.codec_id, params, ())
        return cls()

    def get_params(self):
        return {{}}

    def encode(self, chunk):
        return bytes(chunk)[::-1]

    def decode(self, data, raw_len):
        return bytes(data)[::-1]


@hookimpl
def nzarc_codecs():
    return [{cls}]
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for fake distributions; the environment is cleared of overrides."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("NZARC_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("NZARC_DISABLE_PLUGINS", raising=False)
    yield root
    for name in [m for m in sys.modules if m.startswith("nzt_")]:
        del sys.modules[name]


@pytest.fixture
def broken(site: Path) -> Path:
    make_dist(
        site,
        "nzarc-broken",
        "broken",
        "nzt_broken",
        "raise RuntimeError('deliberately broken plugin')\n",
    )
    return site


def load(**kwargs: object) -> tuple[Registry, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = Registry.load(**kwargs)  # type: ignore[arg-type]
    return reg, [w for w in caught if issubclass(w.category, PluginWarning)]


def zstd_round_trip(reg: Registry) -> None:
    codec = reg.latest("nzarc.zstd")(level=3)
    data = b"still works " * 1000
    assert codec.decode(codec.encode(data), len(data)) == data


# -- broken plugins ------------------------------------------------------------------------


def test_broken_plugin_warns_naming_distribution_and_error(broken: Path) -> None:
    reg, caught = load()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "nzarc-broken" in message
    assert "'broken'" in message
    assert "RuntimeError: deliberately broken plugin" in message
    assert reg.warnings == [message]
    assert {"nzarc.store", "nzarc.zstd"} <= {i.codec_id for i in reg.codecs()}
    zstd_round_trip(reg)


def test_broken_plugin_does_not_stop_create_and_extract(broken: Path, tmp_path: Path) -> None:
    try:
        with pytest.warns(PluginWarning, match="nzarc-broken.*RuntimeError"):
            get_registry(reload=True)
        source = tmp_path / "in"
        source.mkdir()
        payload = b"compressible line\n" * 5000
        (source / "data.txt").write_bytes(payload)
        archive = tmp_path / "a.nzarc"
        stats = nzarc.create(archive, [source], passphrase="pw", codec="zstd")
        assert stats.chunks_per_codec.get("nzarc.zstd", 0) >= 1
        with nzarc.open(archive, passphrase="pw") as reader:
            reader.extract(tmp_path / "out")
        assert (tmp_path / "out" / "in" / "data.txt").read_bytes() == payload
    finally:
        sys.path.remove(str(broken))
        get_registry(reload=True)


def test_strict_mode_turns_load_errors_into_plugin_error(broken: Path) -> None:
    with pytest.raises(PluginError, match="nzarc-broken.*RuntimeError: deliberately broken"):
        Registry.load(strict=True)


def test_strict_mode_from_environment(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NZARC_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as excinfo:
        Registry.load()
    assert excinfo.value.hint is not None and "NZARC_DISABLE_PLUGINS=broken" in excinfo.value.hint
    monkeypatch.setenv("NZARC_STRICT_PLUGINS", "0")
    reg, caught = load()
    assert len(caught) == 1 and reg.warnings


@pytest.mark.parametrize("token", ["broken", "nzarc-broken", "NZARC_Broken", "nzarc-broken:broken"])
def test_disable_list_skips_plugin_without_importing_it(broken: Path, token: str) -> None:
    reg, caught = load(disabled=[token])
    assert caught == [] and reg.warnings == []
    assert reg.disabled == ["nzarc-broken:broken"]
    assert "nzt_broken" not in sys.modules
    zstd_round_trip(reg)


def test_disable_list_from_environment(broken: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NZARC_DISABLE_PLUGINS", " something-else , nzarc-broken ")
    reg, caught = load()
    assert caught == [] and reg.disabled == ["nzarc-broken:broken"]


def test_disable_token_for_other_entry_point_name_does_not_match(broken: Path) -> None:
    _, caught = load(disabled=["nzarc-broken:other"])
    assert len(caught) == 1


def test_builtin_plugin_cannot_be_disabled(site: Path) -> None:
    reg, _ = load(disabled=["builtin", "nzarc"])
    assert {"nzarc.store", "nzarc.zstd"} <= {i.codec_id for i in reg.codecs()}
    assert reg.disabled == []


# -- invalid plugins -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from nzarc.codecs.hookspecs import hookimpl\n"
            "@hookimpl\ndef nzarc_codecs():\n    return [int]\n",
            "returned an invalid codec: <class 'int'> is not a subclass",
        ),
        (
            "from nzarc.codecs.hookspecs import hookimpl\n"
            "@hookimpl\ndef nzarc_codecs():\n    raise KeyError('oops')\n",
            "nzarc_codecs() raised KeyError",
        ),
        (
            "from nzarc.codecs.hookspecs import hookimpl\n"
            "@hookimpl\ndef nzarc_codec():\n    return []\n",
            "unknown hook 'nzarc_codec'",
        ),
        (
            "from nzarc.codecs.hookspecs import hookimpl\n"
            "@hookimpl\ndef nzarc_codecs(registry):\n    return []\n",
            "invalid hooks",
        ),
        ("VALUE = 1\n", "implements no @hookimpl-marked hook"),
        (
            "from nzarc.codecs.hookspecs import hookimpl\n"
            "@hookimpl\ndef nzarc_codecs():\n    return 'nzarc.x'\n",
            "must return a list, not str",
        ),
        (
            "from nzarc.codecs.hookspecs import hookimpl\n"
            "@hookimpl\ndef nzarc_models():\n    return [{'name': 'm'}]\n",
            "nzarc_models() returned dict",
        ),
        (
            GOOD_CODEC.format(cls="Fancy", codec_id="nzarc.fancy", version=1),
            "reserved namespace 'nzarc.'",
        ),
        (
            GOOD_CODEC.format(cls="BadVersion", codec_id="acme.ok", version=0),
            "BadVersion.version 0 is not a positive int",
        ),
        (
            GOOD_CODEC.format(cls="BadId", codec_id="NoNamespace", version=1),
            "BadId.codec_id 'NoNamespace' is not a namespaced id",
        ),
        (
            "from nzarc.codecs.contract import Codec\n"
            "from nzarc.codecs.hookspecs import hookimpl\n"
            "class Half(Codec):\n    codec_id = 'acme.half'\n    version = 1\n"
            "    def get_params(self):\n        return {}\n"
            "@hookimpl\ndef nzarc_codecs():\n    return [Half]\n",
            "Half does not implement decode, encode",
        ),
    ],
)
def test_invalid_plugin_is_skipped_with_precise_warning(
    site: Path, source: str, expected: str
) -> None:
    make_dist(site, "acme-bad", "bad", "nzt_bad", source)
    reg, caught = load()
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert expected in str(caught[0].message)
    assert "acme-bad" in str(caught[0].message)
    assert not [i for i in reg.codecs() if i.distribution == "acme-bad"]


# -- working plugins, conflicts --------------------------------------------------------------


def test_good_plugin_registers_with_its_distribution(site: Path) -> None:
    make_dist(
        site,
        "acme-rev",
        "rev",
        "nzt_rev",
        GOOD_CODEC.format(cls="Rev", codec_id="acme.rev", version=2),
    )
    reg, caught = load(strict=True)
    assert caught == []
    info = next(i for i in reg.codecs() if i.codec_id == "acme.rev")
    assert (info.version, info.distribution, info.plugin, info.module) == (
        2,
        "acme-rev",
        "rev",
        "nzt_rev",
    )
    assert info.distribution_version == "1.0"
    assert reg.latest("acme.rev") is info.cls
    assert reg.codec_class("acme.rev", 2) is info.cls
    assert reg.distribution_of("acme.rev") == "acme-rev"
    row = next(r for r in describe_codecs(reg) if r["id"] == "acme.rev")
    assert row == {
        "id": "acme.rev",
        "version": 2,
        "distribution": "acme-rev",
        "distribution_version": "1.0",
        "plugin": "rev",
        "module": "nzt_rev",
        "releases_gil": False,
        "verify_after_encode": False,
        "auto_eligible": False,
        "models": [],
    }


def test_same_codec_id_from_two_distributions_names_both(site: Path) -> None:
    make_dist(
        site,
        "acme-one",
        "one",
        "nzt_one",
        GOOD_CODEC.format(cls="A", codec_id="acme.dup", version=1),
    )
    make_dist(
        site,
        "acme-two",
        "two",
        "nzt_two",
        GOOD_CODEC.format(cls="B", codec_id="acme.dup", version=1),
    )
    with pytest.raises(PluginError) as excinfo:
        Registry.load(strict=False)
    message = str(excinfo.value)
    assert "acme.dup" in message and "acme-one" in message and "acme-two" in message
    assert "NZARC_DISABLE_PLUGINS" in (excinfo.value.hint or "")


def test_same_codec_id_other_version_from_other_distribution_conflicts(site: Path) -> None:
    make_dist(
        site,
        "acme-one",
        "one",
        "nzt_one",
        GOOD_CODEC.format(cls="A", codec_id="acme.dup", version=1),
    )
    make_dist(
        site,
        "acme-two",
        "two",
        "nzt_two",
        GOOD_CODEC.format(cls="B", codec_id="acme.dup", version=2),
    )
    with pytest.raises(PluginError, match="acme-one.*acme-two"):
        Registry.load()


def test_conflict_is_resolved_by_disabling_one(site: Path) -> None:
    make_dist(
        site,
        "acme-one",
        "one",
        "nzt_one",
        GOOD_CODEC.format(cls="A", codec_id="acme.dup", version=1),
    )
    make_dist(
        site,
        "acme-two",
        "two",
        "nzt_two",
        GOOD_CODEC.format(cls="B", codec_id="acme.dup", version=1),
    )
    reg, _ = load(disabled=["acme-two"])
    assert reg.distribution_of("acme.dup") == "acme-one"


def test_models_are_collected_and_conflicting_models_rejected(site: Path) -> None:
    model = (
        "from nzarc.codecs.contract import ModelDescriptor\n"
        "from nzarc.codecs.hookspecs import hookimpl\n"
        "@hookimpl\ndef nzarc_models():\n"
        "    return [ModelDescriptor('tiny-lm', '{w}' * 64, 'b' * 64, 'nzarc-int-v1',"
        " 'nzarc model install tiny-lm')]\n"
    )
    make_dist(site, "acme-m1", "m1", "nzt_m1", model.format(w="a"))
    reg, caught = load(strict=True)
    assert "tiny-lm" in [m.name for m in reg.models()]
    assert reg.model("tiny-lm") is not None
    assert reg.model("tiny-lm").pin().weights_sha256 == "a" * 64  # type: ignore[union-attr]
    make_dist(site, "acme-m2", "m2", "nzt_m2", model.format(w="c"))
    with pytest.raises(PluginError, match="tiny-lm.*acme-m1.*acme-m2"):
        Registry.load()


def test_partial_failure_reported_by_builtin_plugin(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (site / "nzt_neural_broken.py").write_text("raise ImportError('missing native library')\n")
    monkeypatch.setattr(builtin, "_NEURAL_MODULE", "nzt_neural_broken")
    reg, caught = load()
    assert len(caught) == 1
    assert "builtin" in reg.warnings[0] and "missing native library" in reg.warnings[0]
    assert {i.codec_id for i in reg.codecs()} >= {"nzarc.store", "nzarc.zstd"}
    with pytest.raises(PluginError, match="neural codec is unavailable"):
        Registry.load(strict=True)


# -- messages and process-wide registry ------------------------------------------------------


def test_unsupported_codec_names_id_version_and_distribution(site: Path) -> None:
    reg, _ = load()
    with pytest.raises(UnsupportedCodec) as excinfo:
        reg.codec_class("acme.gone", 3, distribution="acme-gone")
    assert str(excinfo.value) == (
        "codec acme.gone version 3 is not installed; it is provided by the distribution acme-gone"
    )
    assert excinfo.value.hint == "install it: pip install acme-gone"


def test_unsupported_codec_without_or_with_unsafe_distribution(site: Path) -> None:
    reg, _ = load()
    for dist in (None, "evil; rm -rf ~", "-e git+https://x"):
        with pytest.raises(UnsupportedCodec) as excinfo:
            reg.codec_class("acme.gone", 1, distribution=dist)
        assert str(excinfo.value) == "codec acme.gone version 1 is not installed"
        assert "pip install" not in (excinfo.value.hint or "")


def test_unsupported_version_of_installed_codec(site: Path) -> None:
    reg, _ = load()
    with pytest.raises(UnsupportedCodec) as excinfo:
        reg.codec_class("nzarc.zstd", 9, distribution="nzarc")
    assert "nzarc.zstd version 9" in str(excinfo.value)
    assert "installed: version 1 from nzarc" in str(excinfo.value)
    assert excinfo.value.hint == "upgrade it: pip install -U nzarc"


def test_unsupported_codec_hint_when_distribution_failed_or_disabled(broken: Path) -> None:
    reg, _ = load()
    with pytest.raises(UnsupportedCodec) as excinfo:
        reg.codec_class("broken.codec", 1, distribution="nzarc-broken")
    assert "failed to load" in (excinfo.value.hint or "")
    reg, _ = load(disabled=["broken"])
    with pytest.raises(UnsupportedCodec) as excinfo:
        reg.codec_class("broken.codec", 1, distribution="nzarc_broken")
    assert excinfo.value.hint == "nzarc_broken is disabled by NZARC_DISABLE_PLUGINS"


def test_latest_and_distribution_of_unknown_id_raise(site: Path) -> None:
    reg, _ = load()
    with pytest.raises(UnsupportedCodec, match="acme.none"):
        reg.latest("acme.none")
    with pytest.raises(UnsupportedCodec, match="acme.none"):
        reg.distribution_of("acme.none")


def test_get_registry_is_cached_until_reload() -> None:
    first = get_registry()
    assert get_registry() is first
    second = get_registry(reload=True)
    assert second is not first and get_registry() is second
    assert all(isinstance(i, CodecInfo) for i in second.codecs())


def test_listing_codecs_does_not_import_torch() -> None:
    script = (
        "import sys, nzarc\n"
        "from nzarc.codecs.registry import describe_codecs\n"
        "ids = [row['id'] for row in describe_codecs()]\n"
        "assert 'nzarc.zstd' in ids, ids\n"
        "print('torch' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_explicit_entry_points_are_loaded_exactly(site: Path) -> None:
    from importlib import metadata

    (site / "nzt_loose.py").write_text(
        textwrap.dedent(GOOD_CODEC.format(cls="Loose", codec_id="loose.codec", version=1))
    )
    ep = metadata.EntryPoint(name="loose", value="nzt_loose", group="nzarc")
    reg, caught = load(entry_points=[ep], strict=True)
    assert caught == []
    assert [(i.codec_id, i.distribution, i.plugin) for i in reg.codecs()] == [
        ("loose.codec", None, "loose")
    ]
    assert reg.distribution_of("loose.codec") is None


def test_builtin_codecs_load_without_installed_metadata(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importlib import metadata

    monkeypatch.setattr(metadata, "entry_points", lambda **_: [])
    reg, caught = load(strict=True)
    assert caught == []
    assert reg.distribution_of("nzarc.zstd") == "nzarc"
    zstd_round_trip(reg)
