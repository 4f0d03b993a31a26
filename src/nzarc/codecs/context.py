"""What a caller tells codecs about the machine they run on: :class:`CodecContext`.

Contract: a context is a frozen, hashable value chosen by the caller (the command line
builds one from its options and its environment; a library caller passes one, or gets
:data:`DEFAULT_CONTEXT`, the CPU). It selects *where and how* a codec computes, never what:
a codec's output bytes are the same under every context, so nothing of it is recorded in an
archive. A codec class opts in with ``takes_context = True``; the pipeline then builds it
as ``cls(context=ctx)`` / ``cls.from_params(params, context=ctx)``, and builds every other
codec exactly as it would without a context. Importing this module is cheap (no torch).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from nzarc.errors import UsageError
from nzarc.events import ProgressSink

__all__ = ["CodecContext", "DEFAULT_CONTEXT", "DEVICES", "KERNELS", "MATMULS", "WindowRunner"]

#: Devices a codec may be asked to compute on.
DEVICES: tuple[str, ...] = ("cpu", "cuda")
#: Element-wise routes of model-running codecs (``auto``: the codec's own choice).
KERNELS: tuple[str, ...] = ("auto", "fused", "torch")
#: Exact integer GEMM routes of model-running codecs (``auto``: the codec's own choice).
MATMULS: tuple[str, ...] = ("auto", "intmm", "fp32", "fp64")


class WindowRunner(Protocol):
    """Where a model-running codec has its independent windows coded (e.g. a cluster).

    ``model`` names the work: the model's SHA-256, its activation precision and its runtime
    id (``act_levels`` and ``runtime`` of the neural codec). ``encode_windows`` returns the coded stream of every window of token
    ids, in the order given; ``decode_windows`` the token ids of every ``(stream, symbols)``
    job, in the order given. ``encode_lanes`` / ``decode_lanes`` do the same for the lanes
    of a version-2 neural codec (a lane is a sequence of windows coded through one adaptive
    state, :mod:`nzarc.neural.mix.lanes`): the streams of every window of every lane, and the
    token ids of every window of every lane of ``(stream, symbols)`` windows. As work
    finishes, the runner sends ``progress`` (when given) an ``encode`` / ``decode``
    :class:`~nzarc.events.ProgressEvent` of its tokens, with ``workers`` its number of
    workers, on the calling thread; ``check()``, when given, is called while waiting (it raises to stop the work). A runner must
    compute exactly what the codec computes in-process (the same functions, on the same
    pinned model), so it never changes the bytes; a failure to reach its workers is an
    :class:`~nzarc.errors.NzarcError`.
    """

    def encode_windows(
        self,
        model: tuple[str, int, str],
        windows: Sequence[Sequence[int]],
        progress: ProgressSink | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[bytes]: ...

    def decode_windows(
        self,
        model: tuple[str, int, str],
        jobs: Sequence[tuple[bytes, int]],
        progress: ProgressSink | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[list[int]]: ...

    def encode_lanes(
        self,
        model: tuple[str, int, str],
        lanes: Sequence[Sequence[Sequence[int]]],
        progress: ProgressSink | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[list[bytes]]: ...

    def decode_lanes(
        self,
        model: tuple[str, int, str],
        lanes: Sequence[Sequence[tuple[bytes, int]]],
        progress: ProgressSink | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[list[list[int]]]: ...


@dataclass(frozen=True)
class CodecContext:
    """Resources and routes for the codecs of one archive (see the module docstring).

    ``device``: one of :data:`DEVICES`; the availability of a device is the caller's to
    check (a codec asked for a device it cannot reach raises its own error).
    ``kernels`` / ``matmul``: route hints for codecs that run models (one of
    :data:`KERNELS` / :data:`MATMULS`; ``fused`` is CPU code, refused with another
    device). ``decode_memory``: bytes a codec may hold for one
    decoding batch (None: the codec's default). ``windows``: a :class:`WindowRunner`
    that codes the windows of codecs that cut their work into windows (None: in-process);
    it is not part of the value (equality and hash ignore it). ``progress``: the sink that
    receives the model-work events (:data:`~nzarc.events.MODEL_KINDS`) of the codecs built
    with this context, from the threads they run on (None: no reports); like ``windows`` it
    is not part of the value. Bad values raise
    :class:`~nzarc.errors.UsageError` (a ``ValueError``).
    """

    device: str = "cpu"
    kernels: str = "auto"
    matmul: str = "auto"
    decode_memory: int | None = None
    windows: WindowRunner | None = field(default=None, compare=False, hash=False, repr=False)
    progress: ProgressSink | None = field(default=None, compare=False, hash=False, repr=False)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise UsageError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.kernels not in KERNELS:
            raise UsageError(f"kernels must be one of {KERNELS}, got {self.kernels!r}")
        if self.device != "cpu" and self.kernels == "fused":
            raise UsageError(f"the fused kernels run on the CPU only, not on {self.device!r}")
        if self.matmul not in MATMULS:
            raise UsageError(f"matmul must be one of {MATMULS}, got {self.matmul!r}")
        memory = self.decode_memory
        if memory is not None and (not isinstance(memory, int) or isinstance(memory, bool) or memory < 1):
            raise UsageError(f"decode_memory must be None or an integer >= 1, got {memory!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], device: str | None = None) -> CodecContext:
        """A context from environment variables, for the edge of a program (the command line).

        ``NZARC_KERNELS`` (``torch`` or ``fused``), ``NZARC_MATMUL`` (``intmm``, ``fp32`` or
        ``fp64``) and ``NZARC_NEURAL_MEMORY`` (bytes > 0); other values, and absent variables,
        mean the defaults. ``device`` is the caller's choice (None: the CPU).
        """
        kernels = environ.get("NZARC_KERNELS", "").strip().lower()
        matmul = environ.get("NZARC_MATMUL", "").strip().lower()
        memory = environ.get("NZARC_NEURAL_MEMORY", "").strip()
        return cls(
            device=device or "cpu",
            kernels=kernels if kernels in ("fused", "torch") else "auto",
            matmul=matmul if matmul in ("intmm", "fp32", "fp64") else "auto",
            decode_memory=int(memory) if memory.isdigit() and int(memory) > 0 else None,
        )


#: The context of a caller that names none: the CPU, every route and budget the codec's default.
DEFAULT_CONTEXT = CodecContext()
