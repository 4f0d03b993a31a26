"""Recipient stanzas: wrap and unwrap the file key (spec/FORMAT.md §4).

``x25519`` follows age's construction (ephemeral share, HKDF with both public keys as the
salt, ChaCha20-Poly1305 with a zero nonce); ``argon2id`` derives the wrap key from a
passphrase with parameters stored in the stanza and capped by ``nzarc.format.limits``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from nzarc.crypto import bech32
from nzarc.crypto.keys import hkdf
from nzarc.errors import DecryptionError, FormatError, PassphraseInputError
from nzarc.format import limits
from nzarc.format.header import Stanza
from nzarc.format.layout import (
    ARGON2_AD,
    ARGON2_SALT_LEN,
    INFO_X25519,
    KEY_LEN,
    NONCE_LEN,
    STANZA_ARGON2ID,
    STANZA_X25519,
    WRAPPED_KEY_LEN,
)

__all__ = [
    "Argon2Params",
    "DEFAULT_ARGON2",
    "check_argon2_params",
    "wrap_x25519",
    "wrap_argon2id",
    "unwrap_file_key",
    "parse_recipient",
    "parse_identity",
    "foreign_key_form",
    "SSH_NOT_SUPPORTED_RECIPIENT",
    "SSH_NOT_SUPPORTED_IDENTITY",
    "SSH_HINT",
    "generate_identity",
    "public_key_of",
]

_ZERO_NONCE = bytes(NONCE_LEN)
_PROBE = X25519PrivateKey.from_private_bytes(b"\x09" * 32)


@dataclass(frozen=True)
class Argon2Params:
    """Argon2id cost: ``t`` passes, ``m_kib`` KiB of memory, ``p`` lanes."""

    t: int = 3
    m_kib: int = 1 << 16
    p: int = 4


#: RFC 9106 §4, second recommended option (t=3, 64 MiB, p=4).
DEFAULT_ARGON2 = Argon2Params()


def _wrap(key: bytes, file_key: bytes) -> bytes:
    return ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, file_key, None)


def _unwrap(key: bytes, body: bytes) -> bytes | None:
    if len(body) != WRAPPED_KEY_LEN:  # exact length before the AEAD (no partitioning oracle)
        return None
    try:
        out = ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, body, None)
    except InvalidTag:
        return None
    return out if len(out) == KEY_LEN else None


def _x25519_wrap_key(shared: bytes, share: bytes, recipient: bytes) -> bytes:
    if not any(shared):
        raise DecryptionError("x25519: low-order public key")
    return hkdf(shared, share + recipient, INFO_X25519)


def _low_order(public: bytes) -> FormatError:
    return FormatError(
        f"recipient {bech32.encode_public_key(public)} is a low-order X25519 point, "
        "not a usable public key"
    )


def wrap_x25519(recipient: bytes, file_key: bytes, rng: Callable[[int], bytes]) -> Stanza:
    """Wrap ``file_key`` to the raw 32-byte X25519 public key ``recipient``.

    A low-order ``recipient`` (all-zero shared secret) raises FormatError.
    """
    ephemeral = X25519PrivateKey.from_private_bytes(rng(32))
    share = ephemeral.public_key().public_bytes_raw()
    try:
        shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    except ValueError:  # cryptography refuses an all-zero shared secret
        raise _low_order(recipient) from None
    if not any(shared):
        raise _low_order(recipient)
    key = _x25519_wrap_key(shared, share, recipient)
    return Stanza(STANZA_X25519, (share,), _wrap(key, file_key))


def check_argon2_params(params: Argon2Params) -> None:
    """LimitExceeded unless the cost is within the read caps (spec §4); costs nothing itself."""
    limits.check("argon2id time cost", params.t, limits.ARGON2_MAX_T, low=1)
    limits.check("argon2id parallelism", params.p, limits.ARGON2_MAX_P, low=1)
    limits.check("argon2id memory (KiB)", params.m_kib, limits.ARGON2_MAX_M_KIB, low=8 * params.p)


def _argon2_key(passphrase: bytes, salt: bytes, params: Argon2Params) -> bytes:
    check_argon2_params(params)  # never run the KDF on uncapped parameters
    if len(salt) != ARGON2_SALT_LEN:
        raise FormatError(f"argon2id salt must be {ARGON2_SALT_LEN} bytes")
    kdf = Argon2id(
        salt=salt,
        length=KEY_LEN,
        iterations=params.t,
        lanes=params.p,
        memory_cost=params.m_kib,
        ad=ARGON2_AD,
    )
    return kdf.derive(passphrase)


def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    """The passphrase as UTF-8 bytes (no normalization); TypeError for anything else."""
    if isinstance(passphrase, str):
        return passphrase.encode("utf-8")
    if isinstance(passphrase, (bytes, bytearray, memoryview)):
        return bytes(passphrase)
    raise TypeError(f"passphrase must be str or bytes, not {type(passphrase).__name__}")


def wrap_argon2id(
    passphrase: str | bytes,
    file_key: bytes,
    rng: Callable[[int], bytes],
    params: Argon2Params = DEFAULT_ARGON2,
) -> Stanza:
    """Wrap ``file_key`` under a key derived from ``passphrase`` by Argon2id."""
    check_argon2_params(params)
    pw = _passphrase_bytes(passphrase)
    if not pw:
        raise PassphraseInputError("empty passphrase")
    salt = rng(ARGON2_SALT_LEN)
    key = _argon2_key(pw, salt, params)
    return Stanza(STANZA_ARGON2ID, (salt, params.t, params.m_kib, params.p), _wrap(key, file_key))


def unwrap_file_key(
    stanzas: Sequence[Stanza],
    *,
    passphrase: str | bytes | None = None,
    identities: Sequence[bytes] = (),
) -> bytes:
    """Return the file key from the first stanza that opens, else raise DecryptionError.

    Stanza shapes and KDF costs were validated by ``decode_header``. The error never
    says which stanza failed.
    """
    kinds = {s.type for s in stanzas}
    if STANZA_ARGON2ID in kinds:
        if passphrase is None:
            raise DecryptionError(
                "this archive is passphrase-protected and no passphrase was given",
                hint="pass --passphrase (or passphrase=...)",
            )
        if len(stanzas) != 1:
            raise FormatError("an argon2id stanza must be the only stanza")
        stanza = stanzas[0]
        salt, t, m, p = stanza.args
        key = _argon2_key(_passphrase_bytes(passphrase), salt, Argon2Params(t, m, p))
        found = _unwrap(key, stanza.body)
        if found is None:
            raise DecryptionError(
                "no identity matched: wrong passphrase", hint="check the passphrase and retry"
            )
        return found
    if STANZA_X25519 in kinds and not identities:
        raise DecryptionError(
            "this archive is encrypted to public keys and no identity was given",
            hint="pass an identity (AGE-SECRET-KEY-1…) with -i",
        )
    for secret in identities:
        priv = X25519PrivateKey.from_private_bytes(secret)
        mine = priv.public_key().public_bytes_raw()
        for stanza in stanzas:
            if stanza.type != STANZA_X25519:
                continue
            share = stanza.args[0]
            try:
                shared = priv.exchange(X25519PublicKey.from_public_bytes(share))
            except ValueError:  # low-order point: cryptography refuses an all-zero result
                continue
            if not any(shared):
                continue
            found = _unwrap(_x25519_wrap_key(shared, share, mine), stanza.body)
            if found is not None:
                return found
    raise DecryptionError(
        "no identity matched any recipient of this archive",
        hint="check that you use the right identity file or passphrase",
    )


#: What is said about an ssh key given where an age recipient or identity is expected.
SSH_NOT_SUPPORTED_RECIPIENT = "ssh keys are not supported, only age X25519 recipients (age1...)"
SSH_NOT_SUPPORTED_IDENTITY = (
    "ssh keys are not supported, only age X25519 identities (AGE-SECRET-KEY-1...)"
)
#: What to do instead (a hint).
SSH_HINT = "make an age key pair with 'nzarc keygen' (or age-keygen) and use its keys"

_SSH_PUBLIC_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")


def foreign_key_form(text: str) -> str | None:
    """Name the non-age key ``text`` (a line of a key file, or a key argument) starts
    with: ``'an ssh-ed25519 public key'``, ``'an OpenSSH private key'``,
    ``'a PEM private key'``; ``None`` when it is not one of these."""
    t = text.strip()
    first = t.split(None, 1)[0] if t else ""
    if first.startswith(_SSH_PUBLIC_PREFIXES):
        return f"an {first[:40]} public key"
    if t.startswith("-----BEGIN OPENSSH PRIVATE KEY-----"):
        return "an OpenSSH private key"
    if t.startswith("-----BEGIN SSH2 PUBLIC KEY-----"):
        return "an ssh public key"
    if t.startswith("-----BEGIN ") and t.rstrip("-").endswith("PRIVATE KEY"):
        return "a PEM private key"
    return None


def parse_recipient(text: str) -> bytes:
    """``age1…`` → raw public key (FormatError if malformed or a low-order point, or if it
    is an ssh key, which is said so).

    Clamped X25519 scalars are multiples of the cofactor, so one exchange with a fixed scalar
    yields all zeros exactly for the low-order points.
    """
    foreign = foreign_key_form(text)
    if foreign is not None:
        raise FormatError(f"recipient is {foreign}: {SSH_NOT_SUPPORTED_RECIPIENT}", hint=SSH_HINT)
    raw = bech32.decode_public_key(text)
    try:
        shared = _PROBE.exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        raise _low_order(raw) from None
    if not any(shared):
        raise _low_order(raw)
    return raw


def parse_identity(text: str) -> bytes:
    """``AGE-SECRET-KEY-1…`` → raw secret scalar (FormatError if malformed, or if it is an
    ssh key, which is said so)."""
    foreign = foreign_key_form(text)
    if foreign is not None:
        raise FormatError(f"identity is {foreign}: {SSH_NOT_SUPPORTED_IDENTITY}", hint=SSH_HINT)
    return bech32.decode_identity(text)


def public_key_of(secret: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()


def generate_identity(rng: Callable[[int], bytes] | None = None) -> tuple[str, str]:
    """Return ``(AGE-SECRET-KEY-1…, age1…)`` for a new X25519 key pair."""
    secret = rng(32) if rng else X25519PrivateKey.generate().private_bytes_raw()
    return bech32.encode_identity(secret), bech32.encode_public_key(public_key_of(secret))


def same_key(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
