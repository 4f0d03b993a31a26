"""Bech32 key forms, recipient stanzas, suites and the header MAC."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from helpers_format import SeededRng

from nzarc.crypto import bech32
from nzarc.crypto.keys import header_mac, payload_key, verify_header_mac
from nzarc.crypto.recipients import (
    DEFAULT_ARGON2,
    Argon2Params,
    foreign_key_form,
    generate_identity,
    parse_identity,
    parse_recipient,
    unwrap_file_key,
    wrap_argon2id,
    wrap_x25519,
)
from nzarc.crypto.suites import make_aead
from nzarc.errors import DecryptionError, FormatError, IntegrityError, LimitExceeded

# age's published test identity and its recipient.
AGE_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
AGE_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def test_age_key_forms_interoperate():
    secret = parse_identity(AGE_IDENTITY)
    assert secret == b"\x42" * 32
    public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    assert bech32.encode_public_key(public) == AGE_RECIPIENT
    assert parse_recipient(AGE_RECIPIENT) == public
    assert bech32.encode_identity(secret) == AGE_IDENTITY


@pytest.mark.parametrize("text", [
    AGE_RECIPIENT[:-1] + ("q" if AGE_RECIPIENT[-1] != "q" else "p"),  # checksum
    AGE_RECIPIENT.upper()[:10] + AGE_RECIPIENT[10:],  # mixed case
    "age1",  # too short
    AGE_IDENTITY,  # wrong kind
    "age1" + "b" * 52,  # invalid charset ("b" is not in Bech32)
])
def test_bad_recipients_rejected(text):
    with pytest.raises(FormatError):
        parse_recipient(text)


@pytest.mark.parametrize("text, form", [
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@h",
     "an ssh-ed25519 public key"),
    ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "an ssh-rsa public key"),
    ("sk-ssh-ed25519@openssh.com AAAA", "an sk-ssh-ed25519@openssh.com public key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "an OpenSSH private key"),
    ("-----BEGIN RSA PRIVATE KEY-----", "a PEM private key"),
])
def test_ssh_keys_are_named_as_such(text, form):
    assert foreign_key_form(text) == form
    with pytest.raises(FormatError, match=f"recipient is {form}: ssh keys are not supported, "
                       r"only age X25519 recipients \(age1\.\.\.\)"):
        parse_recipient(text)
    with pytest.raises(FormatError, match=f"identity is {form}: ssh keys are not supported"):
        parse_identity(text)


def test_age_keys_are_not_foreign():
    for text in (AGE_RECIPIENT, AGE_IDENTITY, "age1", "", "# comment"):
        assert foreign_key_form(text) is None


def test_identity_must_be_upper_case_secret_key():
    with pytest.raises(FormatError):
        parse_identity(AGE_IDENTITY.lower())
    with pytest.raises(FormatError):
        parse_identity(AGE_RECIPIENT)


def test_generate_identity_is_deterministic_with_rng():
    a = generate_identity(SeededRng(b"k"))
    assert a == generate_identity(SeededRng(b"k"))
    assert parse_recipient(a[1]) == X25519PrivateKey.from_private_bytes(parse_identity(a[0])).public_key().public_bytes_raw()


def test_x25519_wrap_unwrap_and_wrong_key():
    rng = SeededRng(b"x")
    file_key = rng(32)
    sks = [parse_identity(generate_identity(rng)[0]) for _ in range(3)]
    pubs = [X25519PrivateKey.from_private_bytes(s).public_key().public_bytes_raw() for s in sks]
    stanzas = [wrap_x25519(p, file_key, rng) for p in pubs]
    assert all(len(s.body) == 48 and len(s.args[0]) == 32 for s in stanzas)
    for sk in sks:
        assert unwrap_file_key(stanzas, identities=[sk]) == file_key
    with pytest.raises(DecryptionError, match="no identity matched"):
        unwrap_file_key(stanzas, identities=[rng(32)])
    with pytest.raises(DecryptionError):
        unwrap_file_key(stanzas)


def test_x25519_low_order_share_is_no_match():
    from nzarc.format.header import Stanza

    stanza = Stanza("x25519", (bytes(32),), bytes(48))
    with pytest.raises(DecryptionError, match="no identity matched"):
        unwrap_file_key([stanza], identities=[b"\x01" * 32])


def test_argon2id_wrap_and_defaults():
    assert (DEFAULT_ARGON2.t, DEFAULT_ARGON2.m_kib, DEFAULT_ARGON2.p) == (3, 65536, 4)  # RFC 9106 option 2
    rng = SeededRng(b"p")
    file_key = rng(32)
    stanza = wrap_argon2id("pass", file_key, rng, Argon2Params(1, 64, 1))
    assert unwrap_file_key([stanza], passphrase="pass") == file_key
    assert unwrap_file_key([stanza], passphrase=b"pass") == file_key
    with pytest.raises(DecryptionError, match="no identity matched"):
        unwrap_file_key([stanza], passphrase="pasS")
    with pytest.raises(DecryptionError, match="passphrase"):
        unwrap_file_key([stanza])
    with pytest.raises(LimitExceeded):
        wrap_argon2id("p", file_key, rng, Argon2Params(1, 1 << 30, 1))


@pytest.mark.parametrize("suite", ["chacha20-poly1305", "aes-256-gcm", "none"])
def test_suites_detect_any_change(suite):
    aead = make_aead(suite, b"k" * 32)
    nonce = bytes(11) + b"\x01"
    sealed = aead.seal(nonce, b"payload")
    assert len(sealed) == 7 + 16 and aead.open(nonce, sealed) == b"payload"
    if suite == "none":
        assert sealed.startswith(b"payload")
    for i in range(len(sealed)):
        bad = bytearray(sealed)
        bad[i] ^= 0x80
        with pytest.raises(IntegrityError):
            aead.open(nonce, bytes(bad))
    with pytest.raises(IntegrityError):
        aead.open(bytes(11) + b"\x00", sealed)
    with pytest.raises(IntegrityError):
        make_aead(suite, b"j" * 32).open(nonce, sealed)


def test_header_mac_and_payload_key_binding():
    key = b"f" * 32
    mac = header_mac(key, b"pre", b"hdr")
    verify_header_mac(key, b"pre", b"hdr", mac)
    for args in [(b"g" * 32, b"pre", b"hdr"), (key, b"prf", b"hdr"), (key, b"pre", b"hds")]:
        with pytest.raises(IntegrityError):
            verify_header_mac(*args, mac)
    salt = bytes(32)
    assert payload_key(key, salt, mac) != payload_key(key, salt, header_mac(key, b"pre", b"hdx"))
    assert payload_key(key, salt, mac) != payload_key(key, b"\x01" * 32, mac)
