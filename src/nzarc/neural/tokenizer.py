"""Lossless byte-level BPE tokenizer with an escape path for bytes the vocabulary lacks.

The vocabulary, merges and pre-tokenizer ("smollm": each digit on its own,
then the GPT-2 regex) come from the model file. Encoding:

1. The input is split into *good* spans (valid UTF-8 text none of whose
   bytes lacks a single-byte token) and *bad* characters (undecodable bytes,
   and characters whose UTF-8 form contains a byte the vocabulary lacks).
2. Each good span is BPE-encoded (with ``tokenizers``) and checked:
   if the tokens do not decode to exactly the span's bytes, the span is
   emitted as one single-byte token per byte instead.
3. Each byte of a bad character is emitted as its single-byte token, or, for
   a byte ``b`` with no such token, as the pair ``[escape_id, token(b ^ escape_xor)]``.

Decoding maps every id to its bytes (special ids other than the escape id
decode to their literal text) and resolves escape pairs, so
``decode(encode(x)) == x`` for every byte string ``x``. Encoding is a
function of the input only; decoding never depends on how encoding split
the input. ``sha256`` is the SHA-256 of the canonical JSON serialisation of
the whole specification (vocab, merges, specials, pre-tokenizer, escape rule).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from nzarc.errors import CodecError, FormatError

__all__ = ["Tokenizer", "byte_to_unicode"]


def byte_to_unicode() -> dict[int, str]:
    """The GPT-2 byte -> printable character table used by byte-level BPE."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table = {b: chr(b) for b in keep}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


_B2U = byte_to_unicode()
_U2B = {u: b for b, u in _B2U.items()}


class Tokenizer:
    """See the module docstring. Build with :meth:`from_spec` or :meth:`from_json`."""

    def __init__(self, spec: Mapping[str, Any], blob: bytes) -> None:
        try:
            vocab = [str(t) for t in spec["vocab"]]
            merges = [str(m) for m in spec["merges"]]
            special = {int(i) for i in spec["special"]}
            self.escape_id = int(spec["escape_id"])
            self.escape_xor = int(spec["escape_xor"])
            if spec["kind"] != "byte-bpe" or spec["pretokenizer"] != "smollm":
                raise FormatError("unsupported tokenizer kind or pre-tokenizer")
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError("malformed tokenizer specification") from e
        self.sha256 = hashlib.sha256(blob).hexdigest()
        self.vocab = vocab
        self.merges = merges
        self.vocab_size = len(vocab)
        self._dec: list[bytes] = []
        single: dict[int, int] = {}
        for i, tok in enumerate(vocab):
            if i in special:
                self._dec.append(tok.encode("utf-8"))
                continue
            try:
                bs = bytes(_U2B[ch] for ch in tok)
            except KeyError:
                bs = tok.encode("utf-8")
            self._dec.append(bs)
            if len(tok) == 1 and tok in _U2B and _U2B[tok] not in single:
                single[_U2B[tok]] = i
        self._single = single
        self.missing = sorted(set(range(256)) - set(single))
        if not (0 <= self.escape_id < len(vocab)) or self.escape_id not in special:
            raise FormatError("tokenizer escape id must be a special token")
        for b in self.missing:
            if (b ^ self.escape_xor) not in single:
                raise FormatError("tokenizer escape rule maps a byte onto another missing byte")
            if 0x80 <= b <= 0xBF:
                raise FormatError("tokenizers lacking UTF-8 continuation bytes are not supported")
        self._bad_re = re.compile(self._bad_class(self.missing))
        self._tk: Any = None
        self._tk_lock = threading.Lock()

    # ------------------------------------------------------------------ building

    @classmethod
    def from_json(cls, blob: bytes) -> Tokenizer:
        try:
            spec = json.loads(blob.decode("ascii"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise FormatError("tokenizer specification is not valid JSON") from e
        if not isinstance(spec, dict):
            raise FormatError("malformed tokenizer specification")
        return cls(spec, blob)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Tokenizer:
        blob = json.dumps(
            dict(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=True
        ).encode("ascii")
        return cls(spec, blob)

    @staticmethod
    def _bad_class(missing: Sequence[int]) -> str:
        parts = [r"\udc80-\udcff"]  # bytes that are not valid UTF-8 (surrogateescape)
        for b in missing:
            if b < 0x80:
                parts.append(re.escape(chr(b)))
            elif 0xC2 <= b <= 0xDF:
                lo = (b & 0x1F) << 6
                parts.append(f"\\U{lo:08x}-\\U{lo + 63:08x}")
            elif 0xE0 <= b <= 0xEF:
                lo = (b & 0x0F) << 12
                parts.append(f"\\U{lo:08x}-\\U{lo + 0xFFF:08x}")
            elif 0xF0 <= b <= 0xF4:
                lo = (b & 0x07) << 18
                parts.append(f"\\U{lo:08x}-\\U{min(lo + 0x3FFFF, 0x10FFFF):08x}")
            # 0xc0, 0xc1, 0xf5-0xff never occur in valid UTF-8: covered by surrogateescape
        return "[" + "".join(parts) + "]"

    def _backend(self) -> Any:
        with self._tk_lock:
            if self._tk is None:
                from tokenizers import Tokenizer as HFTokenizer
                from tokenizers import models, pre_tokenizers

                merges = []
                for m in self.merges:
                    a, sep, b = m.partition(" ")
                    if not sep:
                        raise FormatError("malformed tokenizer merge")
                    merges.append((a, b))
                bpe = models.BPE(vocab={t: i for i, t in enumerate(self.vocab)}, merges=merges)
                tk = HFTokenizer(bpe)
                tk.pre_tokenizer = pre_tokenizers.Sequence(
                    [
                        pre_tokenizers.Digits(individual_digits=True),
                        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
                    ]
                )
                self._tk = tk
            return self._tk

    # ----------------------------------------------------------------- encoding

    def _bytes_tokens(self, data: bytes) -> list[int]:
        out: list[int] = []
        for b in data:
            t = self._single.get(b)
            if t is None:
                out.append(self.escape_id)
                out.append(self._single[b ^ self.escape_xor])
            else:
                out.append(t)
        return out

    def encode(self, data: bytes) -> list[int]:
        """Token ids for ``data`` (any bytes); ``decode`` inverts it exactly."""
        data = bytes(data)
        text = data.decode("utf-8", "surrogateescape")
        pieces: list[tuple[bool, str]] = []
        pos = 0
        for m in self._bad_re.finditer(text):
            if m.start() > pos:
                pieces.append((True, text[pos : m.start()]))
            pieces.append((False, m.group()))
            pos = m.end()
        if pos < len(text):
            pieces.append((True, text[pos:]))
        good = [s for ok, s in pieces if ok]
        encs = self._backend().encode_batch(good, add_special_tokens=False) if good else []
        out: list[int] = []
        gi = 0
        dec = self._dec
        for ok, s in pieces:
            if ok:
                ids = encs[gi].ids
                gi += 1
                raw = s.encode("utf-8")
                if self.escape_id in ids or b"".join(dec[i] for i in ids) != raw:
                    ids = self._bytes_tokens(raw)
                out.extend(ids)
            else:
                out.extend(self._bytes_tokens(s.encode("utf-8", "surrogateescape")))
        return out

    # ----------------------------------------------------------------- decoding

    def decode(self, ids: Iterable[int]) -> bytes:
        """Bytes of a token sequence; raises CodecError on ids out of range or a bad escape."""
        dec = self._dec
        n = self.vocab_size
        esc = self.escape_id
        out: list[bytes] = []
        pending = False
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise CodecError(f"token id {i} out of range for this tokenizer")
            if pending:
                bs = dec[i]
                if (
                    len(bs) != 1
                    or (bs[0] ^ self.escape_xor) not in self.missing
                    or self._single.get(bs[0]) != i
                ):
                    raise CodecError("invalid escape sequence in token stream")
                out.append(bytes([bs[0] ^ self.escape_xor]))
                pending = False
            elif i == esc:
                pending = True
            else:
                out.append(dec[i])
        if pending:
            raise CodecError("token stream ends inside an escape sequence")
        return b"".join(out)

    def token_bytes(self, i: int) -> bytes:
        """The bytes of a single non-escape token."""
        return self._dec[i]
