"""Unencrypted archives are a pure function of their input and options (spec/FORMAT.md §10)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from cli_support import run_nzarc

import nzarc
from nzarc.crypto.recipients import Argon2Params
from nzarc.reader import ArchiveReader

MTIME = 1_600_000_000_000_000_000


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def _tree(root: Path) -> Path:
    (root / "t" / "sub").mkdir(parents=True)
    (root / "t" / "a.txt").write_bytes(b"some text\n" * 500)
    (root / "t" / "sub" / "b.bin").write_bytes(os.urandom(3000))
    (root / "t" / "link").symlink_to("a.txt")
    for p in [root / "t" / "sub" / "b.bin", root / "t" / "a.txt", root / "t" / "sub", root / "t"]:
        os.utime(p, ns=(MTIME, MTIME))
    os.utime(root / "t" / "link", ns=(MTIME, MTIME), follow_symlinks=False)
    return root / "t"


def test_two_unencrypted_creates_of_a_tree_are_identical(home: Path, tmp_path: Path) -> None:
    _tree(tmp_path)
    outs = []
    for i, jobs in enumerate(["1", "2", "2"]):
        arc = tmp_path / f"a{i}.nzarc"
        run_nzarc("create", "--no-encrypt", "-j", jobs, "-o", arc, "t", cwd=tmp_path,
                  home=home).assert_ok()
        outs.append(arc.read_bytes())
    assert outs[0] == outs[1] == outs[2]


def test_the_unencrypted_salt_is_zero_and_the_encrypted_one_random(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    plain = [io.BytesIO() for _ in range(2)]
    for out in plain:
        nzarc.create(out, [src], encrypt=False)
    assert plain[0].getvalue() == plain[1].getvalue()
    with ArchiveReader(io.BytesIO(plain[0].getvalue())) as r:
        assert r.header.salt == bytes(32)
    sealed = [io.BytesIO() for _ in range(2)]
    for out in sealed:
        nzarc.create(out, [src], passphrase="pw", argon2=Argon2Params(t=1, m_kib=8, p=1))
    assert sealed[0].getvalue() != sealed[1].getvalue()
    salts = []
    for out in sealed:
        with ArchiveReader(io.BytesIO(out.getvalue()), passphrase="pw") as r:
            salts.append(r.header.salt)
    assert salts[0] != salts[1] and bytes(32) not in salts
