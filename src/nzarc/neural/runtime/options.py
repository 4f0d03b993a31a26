"""How a model is run: :class:`RuntimeOptions`, an explicit value chosen by the caller.

Contract: an options value is frozen and hashable (models are cached per path and options);
it selects *routes*, never results. Every combination computes the same integers
(spec/NEURAL.md), so options are not recorded in archives. Nothing in the runtime reads the
environment: :meth:`RuntimeOptions.from_env` turns a mapping (``os.environ`` at an edge of the
program: the codec's construction, a tool's ``main``) into options. Importing this module is
cheap (no torch, no numpy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RuntimeOptions", "KERNELS", "MATMULS", "DEVICES"]

#: Element-wise routes: ``auto`` takes the fused numba kernels when numba imports, else torch.
KERNELS = ("auto", "fused", "torch")
#: Exact int8 GEMM routes: ``auto`` takes ``torch._int_mm`` when its self-test passes, else
#: ``fp32``; ``intmm`` is refused the same way (it falls back to ``fp32``, never inexact).
MATMULS = ("auto", "intmm", "fp32", "fp64")
#: Devices the runtime computes on. ``cuda`` takes the torch element-wise path (the fused
#: kernels are CPU code) and needs ``torch.cuda.is_available()`` when a model is loaded.
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class RuntimeOptions:
    """Routes and resources of one loaded model.

    ``device``: where the model's tensors live and its work runs, one of :data:`DEVICES`;
    ``"cuda"`` allows ``kernels`` ``auto`` or ``torch`` only (both mean the torch path).
    ``threads``: threads of the fused element-wise kernels; None follows
    ``torch.get_num_threads()`` at each call. Either way at most numba's
    ``NUMBA_NUM_THREADS``. The GEMMs run on torch's own thread setting.
    ``kernels``: one of :data:`KERNELS`. ``matmul``: one of :data:`MATMULS`.

    Bad values raise ValueError (a programming error, not bad input data).
    """

    device: str = "cpu"
    threads: int | None = None
    kernels: str = "auto"
    matmul: str = "auto"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.threads is not None and (
            not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1
        ):
            raise ValueError(f"threads must be None or an integer >= 1, got {self.threads!r}")
        if self.kernels not in KERNELS:
            raise ValueError(f"kernels must be one of {KERNELS}, got {self.kernels!r}")
        if self.device != "cpu" and self.kernels == "fused":
            raise ValueError(f"the fused kernels run on the CPU only, not on {self.device!r}")
        if self.matmul not in MATMULS:
            raise ValueError(f"matmul must be one of {MATMULS}, got {self.matmul!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RuntimeOptions:
        """Options from environment variables (for tests and benchmarks).

        ``NZARC_KERNELS=torch`` selects the torch element-wise path; ``NZARC_MATMUL=fp32``
        or ``fp64`` (or ``intmm``) selects that GEMM route. Other values, and absent
        variables, mean ``auto``.
        """
        kernels = environ.get("NZARC_KERNELS", "").strip().lower()
        matmul = environ.get("NZARC_MATMUL", "").strip().lower()
        return cls(
            kernels="torch" if kernels == "torch" else "auto",
            matmul=matmul if matmul in ("intmm", "fp32", "fp64") else "auto",
        )
