"""Payload AEAD suites (spec/FORMAT.md §5): ChaCha20-Poly1305, AES-256-GCM, and ``none``.

``none`` keeps the plaintext and appends the first 16 bytes of HMAC-SHA-256 over
nonce || plaintext under the (publicly derivable) payload key: every corruption is
detected, but anyone can forge it.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from nzarc.errors import IntegrityError
from nzarc.format.layout import KEY_LEN, SUITE_AESGCM, SUITE_CHACHA, SUITE_NONE, TAG_LEN
from nzarc.format.stream import SegmentAead  # the protocol the suites implement

__all__ = ["SegmentAead", "make_aead"]


class _Aead:
    def __init__(self, impl: ChaCha20Poly1305 | AESGCM) -> None:
        self._impl = impl

    def seal(self, nonce: bytes, plaintext: bytes | memoryview) -> bytes:
        return self._impl.encrypt(nonce, plaintext, None)

    def open(self, nonce: bytes, ciphertext: bytes | memoryview) -> bytes:
        try:
            return self._impl.decrypt(nonce, ciphertext, None)
        except InvalidTag:
            raise IntegrityError(_FAIL) from None


class _HmacOnly:
    """Plaintext || HMAC-SHA-256(key, nonce || plaintext)[:16]. Safe to share between threads."""

    def __init__(self, key: bytes) -> None:
        self._base = hmac.new(key, digestmod=sha256)  # key schedule once; copied per segment

    def _tag(self, nonce: bytes, plaintext: bytes | memoryview) -> bytes:
        mac = self._base.copy()
        mac.update(nonce)
        mac.update(plaintext)
        return mac.digest()[:TAG_LEN]

    def seal(self, nonce: bytes, plaintext: bytes | memoryview) -> bytes:
        return b"".join((plaintext, self._tag(nonce, plaintext)))

    def open(self, nonce: bytes, ciphertext: bytes | memoryview) -> bytes:
        if len(ciphertext) < TAG_LEN:
            raise IntegrityError(_FAIL)
        with memoryview(ciphertext) as view:
            body = view[:-TAG_LEN]
            if not hmac.compare_digest(self._tag(nonce, body), view[-TAG_LEN:]):
                raise IntegrityError(_FAIL)
            return bytes(body)


_FAIL = "payload segment failed authentication (corrupted, truncated, reordered or spliced)"


def make_aead(suite: str, key: bytes) -> SegmentAead:
    """Return the segment sealer/opener of ``suite`` under the 32-byte payload ``key``."""
    if len(key) != KEY_LEN:
        raise ValueError("payload key must be 32 bytes")
    if suite == SUITE_CHACHA:
        return _Aead(ChaCha20Poly1305(key))
    if suite == SUITE_AESGCM:
        return _Aead(AESGCM(key))
    if suite == SUITE_NONE:
        return _HmacOnly(key)
    raise ValueError(f"unknown suite {suite!r}")
