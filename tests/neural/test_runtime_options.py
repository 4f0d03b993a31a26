"""How a model is run: RuntimeOptions, per-options loading and caching, loading through the
store, and the cheap import of the runtime package."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nzarc.errors import ModelMismatch
from nzarc.neural import store
from nzarc.neural.runtime import RuntimeOptions, load_model
from nzarc.neural.runtime.session import TorchKV

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "bad",
    [{"device": "tpu"}, {"threads": 0}, {"threads": True}, {"kernels": "numba"}, {"matmul": "int8"}],
)
def test_bad_options_raise_value_error(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        RuntimeOptions(**bad)  # type: ignore[arg-type]


def test_cuda_takes_the_torch_path_only() -> None:
    """The fused kernels are CPU code: on CUDA ``auto`` means torch and ``fused`` is refused."""
    from nzarc.neural.runtime import kernels_name

    assert kernels_name(RuntimeOptions(device="cuda")) == "torch"
    assert kernels_name(RuntimeOptions(device="cuda", kernels="torch")) == "torch"
    with pytest.raises(ValueError, match="CPU only"):
        RuntimeOptions(device="cuda", kernels="fused")


def test_loading_on_cuda_without_cuda_is_a_resource_error(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    from nzarc.errors import ResourceError

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ResourceError, match="CUDA") as info:
        load_model(tiny.path, RuntimeOptions(device="cuda", matmul="fp64"))
    assert info.value.hint and "--device cpu" in info.value.hint


def test_options_from_the_environment() -> None:
    assert RuntimeOptions.from_env({}) == RuntimeOptions()
    got = RuntimeOptions.from_env({"NZARC_KERNELS": " Torch ", "NZARC_MATMUL": "fp64", "NZARC_HOME": "x"})
    assert got == RuntimeOptions(kernels="torch", matmul="fp64")
    assert RuntimeOptions.from_env({"NZARC_KERNELS": "fused?", "NZARC_MATMUL": "no"}) == RuntimeOptions()
    assert RuntimeOptions.from_env({"NZARC_MATMUL": "intmm"}).matmul == "intmm"


def test_models_are_cached_per_path_and_options(tiny) -> None:
    a = load_model(tiny.path)
    assert load_model(str(tiny.path)) is a and load_model(tiny.path, RuntimeOptions()) is a
    slow = load_model(tiny.path, RuntimeOptions(kernels="torch", matmul="fp64"))
    assert slow is not a and (slow.kernels, slow.matmul) == ("torch", "fp64")
    assert slow.options == RuntimeOptions(kernels="torch", matmul="fp64") and slow.device == "cpu"
    ids = torch.tensor([[tiny.bos_id, *tiny.tokenizer.encode(b"options never change a table")]])
    assert torch.equal(slow.prefill_all(ids), a.prefill_all(ids))
    s = slow.session(batch=3, max_len=20)
    assert isinstance(s.cache, TorchKV) and s.cache.nbytes == 3 * 20 * slow.kv_bytes_per_token


def test_the_store_loads_by_sha256(tiny, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models"
    models.mkdir()
    sha = tiny.weights_sha256
    shutil.copyfile(tiny.path, models / f"{sha}.nzm")
    monkeypatch.setenv("NZARC_HOME", str(tmp_path))
    options = RuntimeOptions(kernels="torch")
    m = store.ModelStore.default().load(sha, options)
    assert m.path == models / f"{sha}.nzm" and m.weights_sha256 == sha and m.options == options
    assert store.load_model(sha, options) is m
    by_path = store.load_model(tiny.path)
    assert by_path.path == tiny.path and by_path.weights_sha256 == sha
    with pytest.raises(ModelMismatch, match="not installed"):
        store.load_model("0" * 64)


def test_importing_the_package_and_the_store_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "import nzarc.neural.store, nzarc.neural.codec\n"
        "from nzarc.neural.runtime import RuntimeOptions, file_sha256\n"
        "RuntimeOptions.from_env({})\n"
        "print(sorted(m for m in ('torch', 'numpy', 'numba') if m in sys.modules))\n"
        "from nzarc.neural.runtime import IntModel\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO / "src")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "True"]


def test_pow2_is_the_exact_power_of_two() -> None:
    """The torch path's powers of two, built from their bits (no library ``pow`` on any device)."""
    from nzarc.neural.runtime.torch_quant import pow2

    e = torch.arange(-1022, 1024, dtype=torch.int64)
    want = torch.ldexp(torch.ones(e.shape, dtype=torch.float64), e.double())
    got = pow2(e)
    assert torch.equal(got, want) and got.dtype == torch.float64
    assert torch.equal(e, torch.arange(-1022, 1024, dtype=torch.int64))  # the input is left as it was
