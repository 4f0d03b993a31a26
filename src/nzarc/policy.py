"""What a reader is willing to decode: :class:`DecodePolicy`.

An archive's decode cost follows what its chunks *declare* (``raw_len``), not the archive's
size: a few kilobytes of neural-coded chunks cost minutes of model time. A reader of
untrusted archives can therefore refuse codecs (``codecs``, an allow-list) and chunks that
claim to expand more than a plausible ratio (``max_ratio``).

Contract
    * ``codecs``: ``None`` allows every installed codec; otherwise the set of codec ids a
      reader may decode. ``nzarc.store`` (slot 0 of every archive, decoded by copying) is
      always allowed. The check runs on the codec slots the read needs, before any codec is
      built (so before any model is loaded): on a seekable file, the slots the index says
      hold chunks; on a pipe, every slot the header declares (the index comes last).
      A refused codec raises :class:`~nzarc.errors.CodecRefused`.
    * ``max_ratio``: ``None`` applies each codec's own ``max_ratio`` (the codec contract:
      the largest ratio ``raw_len / len(coded)`` it can legitimately produce; ``None`` there
      means unlimited); a number applies to every codec instead (``inf`` lifts every cap).
      A chunk whose ``raw_len`` is more than the limit times its coded length raises
      :class:`~nzarc.errors.LimitExceeded` before that chunk is decoded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nzarc.errors import CodecRefused, LimitExceeded, UsageError

if TYPE_CHECKING:
    from nzarc.codecs.contract import Codec


class _Declared(Protocol):
    @property
    def codecs(self) -> list[dict[str, object]]: ...


class _Indexed(Protocol):
    @property
    def chunks_per_codec(self) -> dict[str, int]: ...


class ArchiveView(Protocol):
    """What :meth:`DecodePolicy.check_reader` needs of a reader (an ArchiveReader)."""

    @property
    def seekable(self) -> bool: ...

    def info(self) -> _Indexed: ...

    def header_info(self) -> _Declared: ...

__all__ = ["DecodePolicy", "DEFAULT_POLICY", "parse_codec_list", "ALWAYS_ALLOWED"]

#: Allowed whatever the list says: every archive declares it in slot 0, and it only copies.
ALWAYS_ALLOWED = "nzarc.store"


def parse_codec_list(text: str) -> frozenset[str]:
    """``"zstd,store"`` -> ``{"nzarc.zstd", "nzarc.store"}``: comma-separated aliases
    (``store``, ``zstd``, ``neural``) or codec ids; :class:`~nzarc.errors.UsageError` on an empty list or a name
    that is neither."""
    from nzarc.codecs.contract import CODEC_ID_RE
    from nzarc.codecs.names import ALIASES as _ALIASES

    out: set[str] = set()
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        codec_id = _ALIASES.get(name, name)
        if not CODEC_ID_RE.fullmatch(codec_id):
            raise UsageError(
                f"{raw.strip()!r} is not a codec (use store, zstd, xz, neural or a codec id)"
            )
        out.add(codec_id)
    if not out:
        raise UsageError("the codec list is empty")
    return frozenset(out)


def _short(codec_id: str) -> str:
    """``nzarc.zstd`` -> ``zstd`` for the built-in codecs (the CLI's aliases)."""
    return codec_id.removeprefix("nzarc.") if codec_id.startswith("nzarc.") else codec_id


@dataclass(frozen=True)
class DecodePolicy:
    """Which codecs a reader decodes and how far a chunk may expand; see the module docstring."""

    codecs: frozenset[str] | None = None
    max_ratio: float | None = None

    def __post_init__(self) -> None:
        if self.codecs is not None:
            object.__setattr__(self, "codecs", frozenset(self.codecs))
        r = self.max_ratio
        if r is not None and (isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0):
            raise UsageError(f"max_ratio must be a positive number or None, not {r!r}")

    def allows(self, codec_id: str) -> bool:
        return self.codecs is None or codec_id == ALWAYS_ALLOWED or codec_id in self.codecs

    def check_codecs(self, codec_ids: Iterable[str]) -> None:
        """Raise CodecRefused for the first codec id the policy does not allow."""
        for codec_id in codec_ids:
            if not self.allows(codec_id):
                allowed = sorted((self.codecs or frozenset()) | {ALWAYS_ALLOWED})
                wider = ",".join(_short(c) for c in sorted({*allowed, codec_id}))
                raise CodecRefused(
                    f"the archive needs codec {codec_id}, which is not allowed here "
                    f"(allowed: {', '.join(allowed)})",
                    hint=f"if the archive is trusted, allow it too (--codecs {wider})",
                )

    def check_reader(self, reader: ArchiveView) -> None:
        """Refuse, as a full read of ``reader`` (an ArchiveReader) would, the codecs it needs:
        those holding chunks per the index on a seekable file, every declared one on a pipe
        (for ``nzarc list``, which decodes nothing; a pipe is not consumed)."""
        if self.codecs is None:
            return
        if reader.seekable:
            self.check_codecs(sorted(reader.info().chunks_per_codec))
        else:
            self.check_codecs(str(c.get("id")) for c in reader.header_info().codecs)

    def ratio_limit(self, codec: Codec) -> float | None:
        """The expansion limit for chunks of ``codec`` (None: unlimited)."""
        limit = self.max_ratio if self.max_ratio is not None else getattr(codec, "max_ratio", None)
        return None if limit is None or math.isinf(limit) else float(limit)

    def check_chunks(
        self, codecs: dict[int, Codec], items: Sequence[tuple[int, bytes, int]], first: int | None
    ) -> None:
        """Raise LimitExceeded for the first ``(slot, coded, raw_len)`` above its ratio limit;
        ``first`` is the number of the first chunk (for the message), when known."""
        for i, (slot, data, raw_len) in enumerate(items):
            codec = codecs.get(slot)
            if codec is None:  # an unused slot: the decoder reports that
                continue
            limit = self.ratio_limit(codec)
            if limit is None or raw_len <= limit * len(data):
                continue
            name = f"chunk {first + i}" if first is not None else "a chunk"
            ratio = f"{raw_len / len(data):.4g}" if len(data) else "unbounded"
            raise LimitExceeded(
                f"{name} ({getattr(codec, 'codec_id', slot)}) declares {raw_len} bytes from "
                f"{len(data)} coded bytes: ratio {ratio}, above the limit {limit:g}",
                hint="if the archive is trusted, allow a higher ratio (--max-ratio N)",
            )


#: Each codec's own limits and every installed codec: what ``nzarc.open`` uses by default.
DEFAULT_POLICY = DecodePolicy()
