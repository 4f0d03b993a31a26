"""A state machine writes archives member by member against an in-memory model, then reads them
back in full (seekable and through a pipe) and by random member.

Rules: add a file from bytes, add a file from a stream that returns random short reads, add an
empty directory, add a symlink, and "finish" (close, verify everything, start a new archive with
a freshly drawn codec, chunk size, segment size, suite and padding).
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

import nzarc
from fuzz.surgery import SeededRng, read_everything
from nzarc.crypto.recipients import generate_identity

SECRET, PUBLIC = generate_identity(SeededRng("state-machine/identity"))

CONTENT = st.one_of(
    st.binary(max_size=1500),
    st.builds(lambda w, n: (w * n)[: 40 * n], st.sampled_from([b"abc ", b"nzarc\n", b"\x00"]),
              st.integers(0, 60)),
)


class ShortReads(io.RawIOBase):
    """A readable stream that returns at most the next of ``sizes`` bytes per read (cycling)."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data = data
        self._pos = 0
        self._sizes = sizes or [1]
        self._i = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        step = self._sizes[self._i % len(self._sizes)]
        self._i += 1
        if n is None or n < 0:
            n = step
        take = min(n, step, len(self._data) - self._pos)
        out = self._data[self._pos : self._pos + take]
        self._pos += take
        return out


@dataclass
class Model:
    """What the archive should hold, in member order."""

    members: list[dict[str, Any]] = field(default_factory=list)

    def files(self) -> list[dict[str, Any]]:
        return [m for m in self.members if m["type"] == "file"]

    def content(self) -> bytes:
        return b"".join(m["data"] for m in self.files())


@dataclass(frozen=True)
class Config:
    codec: str
    chunk_size: int
    segment_size: int
    key: str
    suite: str
    pad: bool


CONFIGS = st.builds(
    Config,
    codec=st.sampled_from(["store", "zstd", "auto"]),
    chunk_size=st.sampled_from([256, 257, 300, 512, 1000, 4096]),
    segment_size=st.sampled_from([64, 128, 1024, 65536]),
    key=st.sampled_from(["none", "x25519"]),
    suite=st.sampled_from(["chacha20-poly1305", "aes-256-gcm"]),
    pad=st.booleans(),
)


class ArchiveMachine(RuleBasedStateMachine):
    dirs = Bundle("dirs")

    def __init__(self) -> None:
        super().__init__()
        self.counter = 0
        self.writer: nzarc.ArchiveWriter | None = None
        self.out = io.BytesIO()
        self.model = Model()
        self.config: Config | None = None

    def _open(self, config: Config) -> None:
        options: dict[str, Any] = {
            "codec": config.codec,
            "chunk_size": config.chunk_size,
            "segment_size": config.segment_size,
            "pad": config.pad,
            "suite": config.suite,
            "jobs": 1,
            "rng": SeededRng(f"state-machine/{self.counter}"),
        }
        if config.codec != "store":
            options["level"] = 1
        if config.key == "x25519":
            options["recipients"] = [PUBLIC]
        else:
            options["encrypt"] = False
        self.out = io.BytesIO()
        self.writer = nzarc.ArchiveWriter(self.out, **options)
        self.model = Model()
        self.config = config

    def _name(self, parent: str | None, stem: str) -> str:
        self.counter += 1
        name = f"{stem}{self.counter}"
        return f"{parent}/{name}" if parent else name

    @initialize(config=CONFIGS)
    def start(self, config: Config) -> None:
        self._open(config)

    @rule(parent=st.none() | dirs, data=CONTENT, mode=st.sampled_from([0o644, 0o600, 0o755, 0o1777]))
    def add_bytes(self, parent: str | None, data: bytes, mode: int) -> None:
        assert self.writer is not None
        name = self._name(parent, "f")
        self.writer.add_bytes(name, data, mode=mode, mtime_ns=self.counter)
        self.model.members.append({"name": name, "type": "file", "data": data, "mode": mode,
                                   "mtime_ns": self.counter})

    @rule(parent=st.none() | dirs, data=CONTENT,
          sizes=st.lists(st.integers(1, 700), min_size=1, max_size=6))
    def add_stream(self, parent: str | None, data: bytes, sizes: list[int]) -> None:
        assert self.writer is not None
        name = self._name(parent, "s")
        self.writer.add_file(name, ShortReads(data, sizes), mtime_ns=self.counter)
        self.model.members.append({"name": name, "type": "file", "data": data, "mode": 0o644,
                                   "mtime_ns": self.counter})

    @rule(target=dirs, parent=st.none() | dirs)
    def add_dir(self, parent: str | None) -> str:
        assert self.writer is not None
        name = self._name(parent, "d")
        self.writer.add_dir(name, mtime_ns=self.counter)
        self.model.members.append({"name": name, "type": "dir", "data": b"", "mode": 0o755,
                                   "mtime_ns": self.counter})
        return name

    @rule(parent=st.none() | dirs, target_name=st.sampled_from(["x", "../up", "a/b/c"]))
    def add_symlink(self, parent: str | None, target_name: str) -> None:
        assert self.writer is not None
        name = self._name(parent, "l")
        self.writer.add_symlink(name, target_name, mtime_ns=self.counter)
        self.model.members.append({"name": name, "type": "symlink", "data": b"", "mode": 0o777,
                                   "mtime_ns": self.counter, "link": target_name})

    @rule(config=CONFIGS, seed=st.integers(0, 2**32 - 1))
    def finish(self, config: Config, seed: int) -> None:
        self._verify(random.Random(seed))
        self._open(config)

    @invariant()
    def names_are_unique(self) -> None:
        names = [m["name"] for m in self.model.members]
        assert len(names) == len(set(names))

    def teardown(self) -> None:
        if self.writer is not None:
            self._verify(random.Random(0))

    # -- verification ------------------------------------------------------------------

    def _key(self) -> dict[str, Any]:
        assert self.config is not None
        return {"identities": [SECRET]} if self.config.key == "x25519" else {}

    def _check_member(self, member: nzarc.Member, expected: dict[str, Any]) -> None:
        assert member.name == expected["name"]
        assert member.type == expected["type"]
        assert member.mode == expected["mode"]
        assert member.mtime_ns == expected["mtime_ns"]
        assert member.size == len(expected["data"])
        if expected["type"] == "file":
            assert member.sha256 == hashlib.sha256(expected["data"]).digest()
        assert member.link_target == expected.get("link")

    def _verify(self, rng: random.Random) -> None:
        assert self.writer is not None
        self.writer.close()
        self.writer = None
        data = self.out.getvalue()
        model = self.model
        key = self._key()
        for pipe in (True, False):  # in full, through a pipe and from a seekable file
            outcome = read_everything(data, pipe=pipe, **key)
            assert outcome.error is None, repr(outcome.error)
            assert outcome.released == model.content()
            assert len(outcome.members) == len(model.members)
            for member, expected in zip(outcome.members, model.members, strict=True):
                self._check_member(member, expected)
        with nzarc.open(io.BytesIO(data), jobs=1, **key) as reader:
            info = reader.info()
            assert info.members == len(model.members)
            assert info.raw_size == len(model.content())
            listed = reader.members()
            for member, expected in zip(listed, model.members, strict=True):
                self._check_member(member, expected)
            chosen = [m for m in model.members if rng.random() < 0.4]
            by_name = {m["name"]: m for m in chosen}
            got = []
            for item in reader.iter_members(set(by_name)):
                got.append(item.member.name)
                assert item.read() == by_name[item.member.name]["data"]
            assert got == [m["name"] for m in chosen]  # archive order


ArchiveMachine.TestCase.settings = settings(
    max_examples=40,
    stateful_step_count=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestArchiveMachine = ArchiveMachine.TestCase
