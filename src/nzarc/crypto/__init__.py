"""Cryptography of nzarc format v1 (spec/FORMAT.md §4-5), built on pyca ``cryptography`` only.

keys (HKDF subkeys, header MAC, payload key), recipients (X25519 and Argon2id stanzas),
bech32 (age key text forms), suites (segment AEADs).
"""
