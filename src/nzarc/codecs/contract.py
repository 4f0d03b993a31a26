"""The nzarc codec contract.

This docstring is the contract between nzarc and every codec, built in or
third-party. ``spec/CODECS.md`` explains it at more length for plugin authors.

Identity
    A codec is a subclass of :class:`Codec` with two class attributes:

    ``codec_id``
        A namespaced id, ``<namespace>.<name>``, lowercase ASCII letters,
        digits, ``_`` and ``-``, at most 64 bytes (``nzarc.zstd``,
        ``nzarc.neural``, ``acme.foo``). The ``nzarc.`` namespace is reserved
        for codecs shipped with nzarc.
    ``version``
        A positive integer, the *bitstream version*. Bump it whenever a byte
        string produced by ``encode`` could decode differently, or a stream
        produced by the new code could not be decoded by the old. An archive
        records ``(codec_id, version)``; a reader refuses any pair it does not
        have.

Parameters
    ``__init__(**params)`` takes keyword parameters only, each with a
    default: ``cls()`` is the codec with its default parameters (what
    ``nzarc create -c <id>`` writes with). Every parameter
    value is msgpack-serialisable (``None``, ``bool``, ``int``, ``str``,
    ``bytes``, lists and maps of these; no floats). ``from_params`` validates
    a mapping read from an archive header and raises :class:`CodecParamsError`
    (a :class:`CodecError`) for unknown keys, wrong types or out-of-range values. ``get_params``
    returns a plain dict such that ``from_params(get_params())`` is an equal
    codec. Parameters that only affect encoding (a compression level) may be
    recorded; decoding must not depend on anything that is not recorded.

Encoding
    ``encode(chunk) -> bytes`` is a pure function of ``(params, chunk)``:
    the same input gives the same bytes on every machine, thread count and
    run. ``encode`` may raise :class:`EncodeDeclined` to decline a chunk (the
    writer then falls back to another codec). The writer treats any
    :class:`CodecError` from ``encode`` as a decline, so a codec that raises
    the plain class (or its own ``error_class``) there keeps working.

Decoding
    ``decode(data, raw_len) -> bytes`` returns exactly ``raw_len`` bytes or
    raises :class:`CodecError` (the class itself, or ``error_class``: a corrupt
    stream). It is called only on data that was already
    authenticated, but must still treat it as hostile: it never allocates
    more than ``max_decode_memory(raw_len)`` bytes, never runs longer than
    a time linear in ``len(data) + raw_len``, and never raises anything but
    :class:`CodecError` (or :class:`ModelMismatch`/``LimitExceeded`` where
    those apply). ``raw_len`` is at most the archive's chunk size cap.

Expansion limit
    ``max_ratio`` (class attribute, default None: unlimited) is the largest ratio
    ``raw_len / len(data)`` the codec can legitimately produce. A reader refuses
    (:class:`LimitExceeded`, before decoding it) a chunk that declares more, unless
    the caller's decode policy sets another limit; the writer never writes an output
    above it (the chunk goes to the next candidate, or is stored). A codec whose
    decode time follows ``raw_len`` rather than ``len(data)`` at a high cost per byte
    should declare one.

Batching (optional)
    ``encode_many`` / ``decode_many`` take a sequence of chunks and return
    results in the same order, equal element by element to the one-at-a-time
    methods. The defaults loop. A codec that gains from batching (the neural
    codec runs many windows through the model at once) overrides them.

Pre-filter (optional)
    ``accepts(chunk) -> bool`` is a cheap test (microseconds per MiB) that
    lets automatic selection skip a codec for chunks it cannot win on (the
    neural codec declines data that is clearly not text). Default: True.

Automatic selection (optional)
    ``auto_eligible = True`` offers a codec that is not built in to ``-c auto`` (built with
    its default params, after zstd, xz and the neural codec; at most
    :data:`nzarc.planning.MAX_AUTO_PLUGINS` of them, by codec id). Auto encodes every chunk
    the codec ``accepts`` with it, so a codec should declare itself eligible only when it
    is fast enough to run on everything a user archives (MB/s, not kB/s) or filters with
    ``accepts`` to what it wins on. Default: False.

Round-trip guarantee
    A codec whose implementation cannot guarantee ``decode(encode(x)) == x``
    sets ``verify_after_encode = True``; the writer then decodes every chunk
    it produced before committing it and falls back to another codec (never
    losing data) when the check fails.

Models
    ``required_models()`` returns the :class:`ModelPin` of every model the
    codec needs to decode with its current parameters. The writer copies
    these pins into the archive header. A reader compares the header's pins
    with ``required_models()`` of the codec built from the header's params
    and raises :class:`ModelMismatch` on any difference, before decoding.
    ``from_params`` itself raises :class:`ModelMismatch` when the model named
    in the params is not installed.

Concurrency
    ``releases_gil = True`` tells the pipeline that ``encode``/``decode``
    spend their time in code that releases the GIL, so a thread pool gives
    real parallelism; otherwise it may use processes. Instances must be
    safe to call from several threads at once, or set ``thread_safe = False``.
    ``batches_internally = True`` tells the pipeline to hand each group of
    chunks to one ``encode_many``/``decode_many`` call, undivided: the codec
    batches across chunks itself and uses every core for one call (the neural
    codec runs all windows of all chunks through the model as one batch).

Context (optional)
    ``takes_context = True`` tells the pipeline that ``__init__`` and ``from_params``
    accept a keyword ``context``, a :class:`nzarc.codecs.context.CodecContext` naming the
    device and routes the caller chose. A context never changes a codec's bytes.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from nzarc.errors import CodecError, CodecParamsError

__all__ = ["Codec", "ModelPin", "ModelDescriptor", "CODEC_ID_RE", "validate_codec_class"]

CODEC_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,30}\.[a-z0-9][a-z0-9_.-]{0,31}$")


@dataclass(frozen=True)
class ModelPin:
    """The identity of a model a codec needs, as pinned in an archive header.

    ``name`` is the human name (``smollm2-135m``), ``weights_sha256`` and
    ``tokenizer_sha256`` are lowercase hex SHA-256 digests, ``runtime_id`` names
    the integer semantics (``nzarc-int-v1``), and ``extra`` holds any further
    values that must match exactly (window size, for instance).
    """

    name: str
    weights_sha256: str
    tokenizer_sha256: str
    runtime_id: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "weights_sha256": self.weights_sha256,
            "tokenizer_sha256": self.tokenizer_sha256,
            "runtime": self.runtime_id,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_wire(cls, value: Mapping[str, Any]) -> ModelPin:
        return cls(
            name=value["name"],
            weights_sha256=value["weights_sha256"],
            tokenizer_sha256=value["tokenizer_sha256"],
            runtime_id=value["runtime"],
            extra=dict(value.get("extra", {})),
        )


_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ModelDescriptor:
    """A model a plugin knows about, as returned by the ``nzarc_models()`` hook.

    ``name`` is the human name codecs use in their params (``smollm2-135m``);
    ``weights_sha256``/``tokenizer_sha256`` are lowercase hex SHA-256 digests
    of the files; ``runtime_id`` names the integer semantics
    (``nzarc-int-v1``); ``how_to_obtain`` is one line telling a user how to
    install it (a command such as ``nzarc model install smollm2-135m``).
    """

    name: str
    weights_sha256: str
    tokenizer_sha256: str
    runtime_id: str
    how_to_obtain: str

    def __post_init__(self) -> None:
        for attr in ("name", "runtime_id", "how_to_obtain"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value:
                raise TypeError(f"ModelDescriptor.{attr} must be a non-empty str, got {value!r}")
        for attr in ("weights_sha256", "tokenizer_sha256"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not _SHA256_RE.match(value):
                raise TypeError(
                    f"ModelDescriptor.{attr} must be 64 lowercase hex digits, got {value!r}"
                )

    def pin(self, extra: Mapping[str, Any] | None = None) -> ModelPin:
        """The header pin for this model (``extra`` as the codec requires)."""
        return ModelPin(
            name=self.name,
            weights_sha256=self.weights_sha256,
            tokenizer_sha256=self.tokenizer_sha256,
            runtime_id=self.runtime_id,
            extra=dict(extra or {}),
        )


class Codec(ABC):
    """Base class of every codec. See the module docstring for the contract."""

    codec_id: ClassVar[str]
    version: ClassVar[int]
    error_class: ClassVar[type[CodecError]] = CodecError
    releases_gil: ClassVar[bool] = False
    thread_safe: ClassVar[bool] = True
    batches_internally: ClassVar[bool] = False
    verify_after_encode: ClassVar[bool] = False
    #: Offered to ``-c auto`` when installed (see "Automatic selection").
    auto_eligible: ClassVar[bool] = False
    #: Largest plausible ``raw_len / len(data)``; None: unlimited (see "Expansion limit").
    #: A class attribute; an instance may narrow or widen it from its params (the neural
    #: codec's bitstream version), and readers and writers read it from the instance.
    max_ratio: float | None = None
    #: True when ``encode_many`` and ``decode_many`` take a keyword ``cancel`` (a
    #: :class:`nzarc.signals.CancelToken`) and call its ``check()`` between steps, so an
    #: interrupted run stops within one step rather than at the end of the chunks.
    cancellable: ClassVar[bool] = False
    #: True when ``__init__`` and ``from_params`` take a keyword ``context`` (a
    #: :class:`nzarc.codecs.context.CodecContext`: the device and routes to compute with,
    #: never anything that changes the bytes); the pipeline passes the caller's context
    #: to such codecs only, and builds every other codec without one.
    takes_context: ClassVar[bool] = False
    #: Names of the models (``ModelDescriptor.name``) the codec can use; informational,
    #: shown by ``nzarc codecs``. What an archive pins comes from ``required_models()``.
    uses_models: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Codec:
        """Build a codec from header params, validating them; raise CodecParamsError."""
        if not isinstance(params, Mapping):
            raise CodecParamsError(f"{cls.codec_id}: params must be a map")
        try:
            return cls(**dict(params))
        except TypeError as exc:
            raise CodecParamsError(f"{cls.codec_id}: bad params: {exc}") from None

    @abstractmethod
    def get_params(self) -> dict[str, Any]:
        """Return the msgpack-serialisable params that rebuild this codec."""

    @abstractmethod
    def encode(self, chunk: bytes) -> bytes:
        """Compress one chunk; deterministic for given params."""

    @abstractmethod
    def decode(self, data: bytes, raw_len: int) -> bytes:
        """Return exactly raw_len bytes or raise CodecError."""

    def max_decode_memory(self, raw_len: int) -> int:
        """Upper bound on the bytes ``decode`` allocates for a chunk of raw_len."""
        return 4 * raw_len + (1 << 20)

    def encode_many(self, chunks: Sequence[bytes]) -> list[bytes]:
        return [self.encode(c) for c in chunks]

    def decode_many(self, items: Sequence[tuple[bytes, int]]) -> list[bytes]:
        return [self.decode(d, n) for d, n in items]

    def accepts(self, chunk: bytes) -> bool:
        return True

    def required_models(self) -> list[ModelPin]:
        return []

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self.get_params() == other.get_params()
        )

    def __hash__(self) -> int:
        return hash((self.codec_id, self.version))

    def __repr__(self) -> str:
        return f"<codec {self.codec_id} v{self.version} {self.get_params()!r}>"


def validate_codec_class(cls: object) -> None:
    """Raise ``TypeError`` naming what is wrong if ``cls`` breaks the contract's shape."""
    if not isinstance(cls, type) or not issubclass(cls, Codec):
        raise TypeError(f"{cls!r} is not a subclass of nzarc.codecs.contract.Codec")
    codec_id = getattr(cls, "codec_id", None)
    if not isinstance(codec_id, str) or not CODEC_ID_RE.fullmatch(codec_id):
        raise TypeError(f"{cls.__qualname__}.codec_id {codec_id!r} is not a namespaced id")
    version = getattr(cls, "version", None)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version < 2**31:
        raise TypeError(f"{cls.__qualname__}.version {version!r} is not a positive int")
    ratio = getattr(cls, "max_ratio", None)
    if ratio is not None and (
        isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not ratio >= 1
    ):
        raise TypeError(f"{cls.__qualname__}.max_ratio {ratio!r} is not None or a number >= 1")
    if getattr(cls, "__abstractmethods__", None):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise TypeError(f"{cls.__qualname__} does not implement {missing}")
