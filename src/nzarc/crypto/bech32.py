"""Bech32 (BIP 173, original checksum constant) in the form age uses for keys.

age writes X25519 public keys as ``age1…`` (HRP ``age``) and identities as
``AGE-SECRET-KEY-1…`` (HRP ``age-secret-key-``, upper case). Unlike BIP 173,
no 90-character length limit applies.
"""

from __future__ import annotations

from nzarc.errors import FormatError

__all__ = [
    "encode",
    "decode",
    "encode_public_key",
    "encode_identity",
    "decode_public_key",
    "decode_identity",
    "PUBLIC_HRP",
    "SECRET_HRP",
]

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_REV = {c: i for i, c in enumerate(_CHARSET)}
_GEN = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
PUBLIC_HRP = "age"
SECRET_HRP = "age-secret-key-"
_MAX_LEN = 1024


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GEN[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert(data: bytes | list[int], src: int, dst: int, pad: bool) -> list[int]:
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << dst) - 1
    for value in data:
        acc = (acc << src) | value
        bits += src
        while bits >= dst:
            bits -= dst
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (dst - bits)) & maxv)
    elif bits >= src or (acc << (dst - bits)) & maxv:
        raise FormatError("bech32: invalid padding")
    return out


def encode(hrp: str, data: bytes) -> str:
    """Encode ``data`` under the lowercase ``hrp``; returns a lowercase string."""
    words = _convert(data, 8, 5, True)
    poly = _polymod(_hrp_expand(hrp) + words + [0] * 6) ^ 1
    checksum = [(poly >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


def decode(text: str) -> tuple[str, bytes]:
    """Decode a Bech32 string (all lower or all upper case) into (lowercase hrp, data)."""
    if not isinstance(text, str) or len(text) > _MAX_LEN:
        raise FormatError("bech32: not a string of acceptable length")
    if text.lower() != text and text.upper() != text:
        raise FormatError("bech32: mixed case")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos + 7 > len(text):
        raise FormatError("bech32: missing separator or checksum")
    hrp, rest = text[:pos], text[pos + 1 :]
    if any(ord(c) < 33 or ord(c) > 126 for c in hrp):
        raise FormatError("bech32: invalid human-readable part")
    try:
        words = [_REV[c] for c in rest]
    except KeyError:
        raise FormatError("bech32: invalid character") from None
    if _polymod(_hrp_expand(hrp) + words) != 1:
        raise FormatError("bech32: checksum mismatch")
    return hrp, bytes(_convert(words[:-6], 5, 8, False))


def encode_public_key(raw: bytes) -> str:
    return encode(PUBLIC_HRP, raw)


def encode_identity(raw: bytes) -> str:
    return encode(SECRET_HRP, raw).upper()


def _decode_key(text: str, hrp: str, what: str) -> bytes:
    try:
        got_hrp, data = decode(text.strip())
    except FormatError as exc:
        raise FormatError(f"not a valid {what}: {exc.message}") from None
    if got_hrp != hrp or len(data) != 32:
        raise FormatError(f"not a valid {what} (expected {hrp}1… with 32 bytes)")
    return data


def decode_public_key(text: str) -> bytes:
    """Decode ``age1…`` into the 32-byte X25519 public key."""
    return _decode_key(text, PUBLIC_HRP, "age public key")


def decode_identity(text: str) -> bytes:
    """Decode ``AGE-SECRET-KEY-1…`` into the 32-byte X25519 secret scalar."""
    if text.strip() != text.strip().upper():
        raise FormatError("not a valid age identity (must be upper case AGE-SECRET-KEY-1…)")
    return _decode_key(text, SECRET_HRP, "age identity")
