"""File key, HKDF subkeys and the header MAC (spec/FORMAT.md §4)."""

from __future__ import annotations

import hmac
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from nzarc.errors import IntegrityError
from nzarc.format.layout import INFO_HEADER, INFO_PAYLOAD, KEY_LEN, MAC_LEN

__all__ = ["ZERO_KEY", "hkdf", "header_mac", "verify_header_mac", "payload_key"]

ZERO_KEY = bytes(KEY_LEN)


def hkdf(ikm: bytes, salt: bytes, info: bytes, length: int = KEY_LEN) -> bytes:
    """HKDF-SHA-256 (RFC 5869)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def header_mac(file_key: bytes, prelude: bytes, header_bytes: bytes) -> bytes:
    """HMAC-SHA-256 under HKDF(file_key, "", INFO_HEADER) over prelude || header."""
    key = hkdf(file_key, b"", INFO_HEADER)
    mac = hmac.new(key, prelude, sha256)
    mac.update(header_bytes)
    return mac.digest()


def verify_header_mac(file_key: bytes, prelude: bytes, header_bytes: bytes, mac: bytes) -> None:
    """Raise IntegrityError unless ``mac`` is the header MAC (constant-time compare)."""
    if len(mac) != MAC_LEN or not hmac.compare_digest(
        header_mac(file_key, prelude, header_bytes), mac
    ):
        raise IntegrityError(
            "header MAC does not verify: the header was altered or belongs to another key"
        )


def payload_key(file_key: bytes, salt: bytes, mac: bytes) -> bytes:
    """The STREAM key: HKDF(file_key, salt, INFO_PAYLOAD || header MAC)."""
    return hkdf(file_key, salt, INFO_PAYLOAD + mac)
