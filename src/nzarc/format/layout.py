"""Byte layout constants of nzarc format v1 (spec/FORMAT.md). The only place they are defined."""

from __future__ import annotations

import struct
from typing import Literal

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "PRELUDE",
    "PRELUDE_LEN",
    "MAC_LEN",
    "TAG_LEN",
    "KEY_LEN",
    "SALT_LEN",
    "NONCE_COUNTER_LEN",
    "NONCE_LEN",
    "LAST_FLAG",
    "NOT_LAST_FLAG",
    "INFO_HEADER",
    "INFO_PAYLOAD",
    "INFO_X25519",
    "ARGON2_AD",
    "SUITE_CHACHA",
    "SUITE_AESGCM",
    "SUITE_NONE",
    "SUITES",
    "STANZA_X25519",
    "STANZA_ARGON2ID",
    "WRAPPED_KEY_LEN",
    "X25519_LEN",
    "ARGON2_SALT_LEN",
    "TAG_ENTRY",
    "TAG_CHUNK",
    "TAG_FINISH",
    "TAG_INDEX",
    "TAG_PAD",
    "TAG_TRAILER",
    "LEN_PREFIX",
    "CHUNK_HEAD",
    "FINISH_BODY",
    "TRAILER_BODY",
    "TRAILER_LEN",
    "FRAME_TAGS",
    "SHA256_LEN",
    "TYPE_FILE",
    "TYPE_DIR",
    "TYPE_SYMLINK",
    "WIRE_TYPES",
    "MemberType",
    "MODE_MASK",
    "DEFAULT_SEGMENT",
    "DEFAULT_CHUNK",
]

MAGIC = b"\x8fNZARC\r\n\x1a\n"
FORMAT_VERSION = 1
PRELUDE = struct.Struct(">10sHI")  # magic, version, header_len
PRELUDE_LEN = PRELUDE.size  # 16
MAC_LEN = 32
TAG_LEN = 16
KEY_LEN = 32
SALT_LEN = 32
NONCE_COUNTER_LEN = 11
NONCE_LEN = 12
LAST_FLAG = b"\x01"
NOT_LAST_FLAG = b"\x00"

INFO_HEADER = b"nzarc/v1 header"
INFO_PAYLOAD = b"nzarc/v1 payload"
INFO_X25519 = b"nzarc/v1 x25519"
ARGON2_AD = b"nzarc/v1 argon2id"

SUITE_CHACHA = "chacha20-poly1305"
SUITE_AESGCM = "aes-256-gcm"
SUITE_NONE = "none"
SUITES = (SUITE_CHACHA, SUITE_AESGCM, SUITE_NONE)

STANZA_X25519 = "x25519"
STANZA_ARGON2ID = "argon2id"
WRAPPED_KEY_LEN = KEY_LEN + TAG_LEN  # 48
X25519_LEN = 32
ARGON2_SALT_LEN = 16

TAG_ENTRY = 0x45  # 'E'
TAG_CHUNK = 0x43  # 'C'
TAG_FINISH = 0x46  # 'F'
TAG_INDEX = 0x49  # 'I'
TAG_PAD = 0x50  # 'P'
TAG_TRAILER = 0x5A  # 'Z'
FRAME_TAGS = (TAG_ENTRY, TAG_CHUNK, TAG_FINISH, TAG_INDEX, TAG_PAD, TAG_TRAILER)
LEN_PREFIX = struct.Struct(">I")
CHUNK_HEAD = struct.Struct(">HII")  # slot, raw_len, out_len
SHA256_LEN = 32
FINISH_BODY = struct.Struct(">Q32s")  # size, sha256
TRAILER_BODY = struct.Struct(">QQ")  # index_offset, own_offset
TRAILER_LEN = 1 + TRAILER_BODY.size  # 17

TYPE_FILE = "f"
TYPE_DIR = "d"
TYPE_SYMLINK = "l"
#: The kinds of member an archive holds.
MemberType = Literal["file", "dir", "symlink"]
WIRE_TYPES: dict[str, MemberType] = {TYPE_FILE: "file", TYPE_DIR: "dir", TYPE_SYMLINK: "symlink"}
MODE_MASK = 0o1777

DEFAULT_SEGMENT = 1 << 16
DEFAULT_CHUNK = 1 << 20
