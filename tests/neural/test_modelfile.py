"""The canonical model file: deterministic writing, strict mmap reading."""

from __future__ import annotations

import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest

from nzarc.errors import FormatError, LimitExceeded
from nzarc.neural.modelfile import MAGIC, ModelFile, write_model_file
from nzarc.neural.tiny import build_tiny_model


def _write(path: Path) -> None:
    with open(path, "wb") as f:
        write_model_file(
            f, {"a": 1}, {"x": np.arange(10, dtype=np.int32), "y": np.ones((3, 5), np.int8)}
        )


def test_round_trip_and_alignment(tmp_path: Path) -> None:
    p = tmp_path / "m.nzm"
    _write(p)
    mf = ModelFile(p)
    assert mf.config == {"a": 1}
    assert mf.tensor("x").tolist() == list(range(10))
    assert mf.tensor("y").shape == (3, 5)
    with pytest.raises(FormatError):
        mf.tensor("z")


def test_tiny_conversion_is_deterministic(tmp_path: Path) -> None:
    a = build_tiny_model(3, tmp_path / "a.nzm", n_layer=1, max_len=64)
    b = build_tiny_model(3, tmp_path / "b.nzm", n_layer=1, max_len=64)
    c = build_tiny_model(4, tmp_path / "c.nzm", n_layer=1, max_len=64)
    ha, hb, hc = (hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b, c))
    assert ha == hb != hc


def test_mapping_is_copy_on_write(tmp_path: Path) -> None:
    p = tmp_path / "m.nzm"
    _write(p)
    before = p.read_bytes()
    mf = ModelFile(p)
    mf.tensor("x")[0] = 99  # writes go to private pages only
    assert p.read_bytes() == before


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:5],
        lambda b: b"XXXXXXXX" + b[8:],
        lambda b: b[:8] + struct.pack("<I", 1 << 30) + b[12:],
        lambda b: b[:12] + b"}" + b[13:],
        lambda b: b[: len(b) - 100],
    ],
)
def test_malformed_files_raise_format_errors(tmp_path: Path, mutate) -> None:
    p = tmp_path / "m.nzm"
    _write(p)
    p.write_bytes(mutate(p.read_bytes()))
    with pytest.raises((FormatError, LimitExceeded)):
        ModelFile(p)


def test_magic_constant() -> None:
    buf = io.BytesIO()
    write_model_file(buf, {}, {"t": np.zeros(1, np.uint8)})
    assert buf.getvalue().startswith(MAGIC)


@pytest.mark.parametrize("change", ["shape", "multiplier", "table", "runtime"])
def test_runtime_rejects_inconsistent_model_files(tmp_path: Path, change: str) -> None:
    from nzarc.errors import NzarcError
    from nzarc.neural.runtime import IntModel

    src = build_tiny_model(5, tmp_path / "a.nzm", n_layer=1, max_len=64)
    mf = ModelFile(src)
    cfg = dict(mf.config)
    tensors = {n: np.array(mf.tensor(n)) for n in mf.names()}
    if change == "shape":
        tensors["blk.0.o.w"] = tensors["blk.0.o.w"][:, :-1]
    elif change == "multiplier":
        tensors["lm.m"][3] = 1 << 20
    elif change == "table":
        tensors["exp_attn"][-1] = 1
    else:
        cfg["runtime_id"] = "nzarc-int-v0"
    bad = tmp_path / "bad.nzm"
    with open(bad, "wb") as f:
        write_model_file(f, cfg, tensors)
    IntModel(src)  # the unmodified file loads
    with pytest.raises(NzarcError):
        IntModel(bad)
