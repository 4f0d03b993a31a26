"""End-to-end behaviour of the real ``nzarc`` executable (issue 3's acceptance list).

Each test runs ``nzarc`` in a subprocess without a terminal and checks the exit status, the
files left behind, and that no error ever shows a traceback.
"""

from __future__ import annotations

import io
import json
import os
import pty
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cli_support import Result, nzarc_executable, run_nzarc

PW = {"NZARC_PASSPHRASE": "correct horse battery staple"}
MTIME = 1_500_000_000_000_000_000


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nzarc-home")


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A small tree: text, binary, empty file, empty dir, nested dir, symlink, odd modes."""
    root = tmp_path / "src"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "a.txt").write_text("alpha\n" * 500)
    (root / "sub" / "b.bin").write_bytes(os.urandom(70_000))
    (root / "sub" / "deeper" / "c.txt").write_text("gamma")
    (root / "empty.txt").write_bytes(b"")
    (root / "sub" / "link").symlink_to("b.bin")
    os.chmod(root / "sub" / "deeper" / "c.txt", 0o640)
    os.chmod(root / "a.txt", 0o755)
    for p in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(p, ns=(MTIME, MTIME), follow_symlinks=False)
    os.utime(root, ns=(MTIME, MTIME))
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    """Type, content, mode and mtime of everything under root."""
    out: dict[str, tuple] = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        rel = p.relative_to(root).as_posix()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ("link", os.readlink(p), st.st_mtime_ns)
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
        else:
            out[rel] = ("file", p.read_bytes(), stat.S_IMODE(st.st_mode), st.st_mtime_ns)
    return out


def listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_create_extract_through_pipes(home: Path, src: Path, tmp_path: Path) -> None:
    created = run_nzarc("create", "-o", "-", "--chunk-size", "16K", src, home=home, env=PW)
    created.assert_ok()
    assert created.stdout[:6] == b"\x8fNZARC"
    out = tmp_path / "out"
    run_nzarc("extract", "-", "-C", out, stdin=created.stdout, home=home, env=PW).assert_ok()
    assert snapshot(out / "src") == snapshot(src)
    assert (out / "src").stat().st_mtime_ns == MTIME


def test_create_file_then_list_test_info(home: Path, src: Path, tmp_path: Path) -> None:
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "-o", arc, "-c", "zstd", "-l", "3", src, home=home, env=PW).assert_ok()
    assert not [p for p in tmp_path.iterdir() if "nzarc-tmp" in p.name]
    names = run_nzarc("list", arc, home=home, env=PW).assert_ok().stdout.decode().splitlines()
    assert "src/sub/deeper/c.txt" in names and "src/empty-dir" in names
    long = run_nzarc("list", "-l", arc, home=home, env=PW).assert_ok().stdout.decode()
    assert "-rw-r----- " in long and "lrwxrwxrwx" in long and "src/sub/link -> b.bin" in long
    js = json.loads(run_nzarc("list", "--json", arc, home=home, env=PW).assert_ok().stdout)
    by_name = {m["name"]: m for m in js}
    assert by_name["src/a.txt"]["size"] == 3000 and by_name["src/a.txt"]["mode"] == 0o755
    tested = run_nzarc("test", arc, home=home, env=PW).assert_ok().stdout.decode()
    assert tested.startswith("OK")
    info = json.loads(run_nzarc("info", "--json", arc, home=home, env=PW).assert_ok().stdout)
    assert info["encrypted"] and info["recipients"] == ["argon2id"]
    assert info["members"] == len(js) and info["chunks"] >= 1 and info["index_read"]
    # Without a key, info still shows the header and says the index is encrypted.
    bare = run_nzarc("info", arc, home=home).assert_ok().stdout.decode()
    assert "chacha20-poly1305" in bare and "index:" in bare


@pytest.mark.parametrize(
    "opts",
    [
        ["--pad", "--suite", "aes-256-gcm"],
        ["--verify", "-j", "2", "-c", "store", "--chunk-size", "4K"],
        ["-c", "zstd", "-l", "1", "--device", "cpu"],
    ],
)
def test_create_options_round_trip(home: Path, src: Path, tmp_path: Path, opts: list[str]) -> None:
    arc = tmp_path / "a.nzarc"
    r = run_nzarc("create", "-v", "-o", arc, *opts, src, home=home, env=PW).assert_ok()
    assert "src/sub/deeper/c.txt" in r.stderr.splitlines()  # -v lists members on stderr
    info = json.loads(run_nzarc("info", "--json", arc, home=home, env=PW).assert_ok().stdout)
    assert info["padded"] is ("--pad" in opts)
    assert info["suite"] == ("aes-256-gcm" if "aes-256-gcm" in opts else "chacha20-poly1305")
    if "store" in opts:
        assert set(info["chunks_per_codec"]) == {"nzarc.store"} and info["chunk_size"] == 4096
    out = tmp_path / "out"
    q = run_nzarc("extract", "-q", arc, "-C", out, home=home, env=PW).assert_ok()
    assert q.stderr == "" and q.stdout == b""
    assert snapshot(out / "src") == snapshot(src)


def test_wrong_passphrase_exit_1_and_nothing_written(home: Path, src: Path, tmp_path: Path) -> None:
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "-o", arc, src, home=home, env=PW).assert_ok()
    out = tmp_path / "out"
    r = run_nzarc("extract", arc, "-C", out, home=home, env={"NZARC_PASSPHRASE": "wrong"})
    r.assert_clean_error(1)
    assert not out.exists()
    # Same through a pipe, and with no passphrase at all.
    r = run_nzarc("extract", "-", "-C", out, stdin=arc.read_bytes(), home=home,
                  env={"NZARC_PASSPHRASE": "wrong"})
    r.assert_clean_error(1)
    run_nzarc("extract", arc, "-C", out, home=home).assert_clean_error(1)
    assert not out.exists()


def test_passphrase_file(home: Path, src: Path, tmp_path: Path) -> None:
    pwfile = tmp_path / "pw"
    pwfile.write_text("from a file\n")
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "--passphrase-file", pwfile, "-o", arc, src, home=home).assert_ok()
    run_nzarc("test", arc, home=home, env={"NZARC_PASSPHRASE": "from a file"}).assert_ok()
    run_nzarc("extract", arc, "--passphrase-file", pwfile, "-C", tmp_path / "o", home=home).assert_ok()
    assert snapshot(tmp_path / "o" / "src") == snapshot(src)


def test_keygen_create_r_extract_i(home: Path, src: Path, tmp_path: Path) -> None:
    ids = []
    for n in ("alice", "bob"):
        key = tmp_path / f"{n}.key"
        r = run_nzarc("keygen", "-o", key, home=home).assert_ok()
        ids.append((key, r.stderr.strip().split()[-1]))
    (tmp_path / "team").write_text(f"# team\n{ids[1][1]}\n")
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "-r", ids[0][1], "-R", tmp_path / "team", "-o", arc, src,
              home=home).assert_ok()
    for key, _pub in ids:
        out = tmp_path / f"out-{key.stem}"
        run_nzarc("extract", arc, "-i", key, "-C", out, home=home).assert_ok()
        assert snapshot(out / "src") == snapshot(src)
    info = json.loads(run_nzarc("info", "--json", "-i", ids[0][0], arc, home=home).stdout)
    assert info["recipients"] == ["x25519", "x25519"]
    stranger = tmp_path / "eve.key"
    run_nzarc("keygen", "-o", stranger, home=home).assert_ok()
    r = run_nzarc("extract", arc, "-i", stranger, "-C", tmp_path / "eve", home=home)
    r.assert_clean_error(1)
    assert not (tmp_path / "eve").exists()
    # A passphrase does not open a public-key archive either.
    run_nzarc("test", arc, home=home, env=PW).assert_clean_error(1)


def test_stdin_member(home: Path, tmp_path: Path) -> None:
    data = os.urandom(50_000) + b"tail"
    arc = run_nzarc("create", "-o", "-", "-", stdin=data, home=home, env=PW).assert_ok().stdout
    names = run_nzarc("list", "-", stdin=arc, home=home, env=PW).assert_ok().stdout
    assert names == b"-\n"
    arc = run_nzarc("create", "-o", "-", "--name", "dump/data.bin", "-", stdin=data, home=home,
                    env=PW).assert_ok().stdout
    out = tmp_path / "out"
    run_nzarc("extract", "-", "-C", out, stdin=arc, home=home, env=PW).assert_ok()
    assert (out / "dump" / "data.bin").read_bytes() == data


def test_overwrite_refusal_and_force(home: Path, src: Path, tmp_path: Path) -> None:
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "-o", arc, src, home=home, env=PW).assert_ok()
    out = tmp_path / "out"
    (out / "src").mkdir(parents=True)
    (out / "src" / "a.txt").write_text("mine")
    r = run_nzarc("extract", arc, "-C", out, home=home, env=PW)
    r.assert_clean_error(1)
    assert "--force" in r.stderr
    assert (out / "src" / "a.txt").read_text() == "mine"
    assert not [p for p in out.rglob("*") if "nzarc-tmp" in p.name]
    run_nzarc("extract", arc, "-C", out, "--force", home=home, env=PW).assert_ok()
    assert snapshot(out / "src") == snapshot(src)


def test_extract_selected_members(home: Path, src: Path, tmp_path: Path) -> None:
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "-o", arc, src, home=home, env=PW).assert_ok()
    out = tmp_path / "out"
    run_nzarc("extract", arc, "-C", out, "src/sub", "src/a.txt", home=home, env=PW).assert_ok()
    assert listing(out) == ["src", "src/a.txt", "src/sub", "src/sub/b.bin", "src/sub/deeper",
                            "src/sub/deeper/c.txt", "src/sub/link"]
    r = run_nzarc("extract", arc, "-C", tmp_path / "o2", "src/nope", home=home, env=PW)
    r.assert_clean_error(1)
    assert "src/nope" in r.stderr


@pytest.mark.parametrize("where", ["middle", "end", "truncate"])
def test_test_on_corrupted_archive_exit_1(home: Path, src: Path, tmp_path: Path, where: str) -> None:
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "-o", arc, "--no-encrypt", src, home=home).assert_ok()
    data = bytearray(arc.read_bytes())
    if where == "truncate":
        del data[-100:]
    else:
        pos = len(data) // 2 if where == "middle" else len(data) - 3
        data[pos] ^= 0x01
    arc.write_bytes(bytes(data))
    run_nzarc("test", arc, home=home).assert_clean_error(1)
    run_nzarc("test", "-", stdin=bytes(data), home=home).assert_clean_error(1)
    out = tmp_path / "out"
    run_nzarc("extract", "-", "-C", out, stdin=bytes(data), home=home).assert_clean_error(1)
    leftovers = [p for p in out.rglob("*") if "nzarc-tmp" in p.name] if out.exists() else []
    assert leftovers == []


def test_unencrypted_info_says_not_authenticated(home: Path, src: Path, tmp_path: Path) -> None:
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "--no-encrypt", "-o", arc, src, home=home).assert_ok()
    human = run_nzarc("info", arc, home=home).assert_ok().stdout.decode()
    assert "NOT authenticated against a forger" in human
    js = json.loads(run_nzarc("info", "--json", arc, home=home).assert_ok().stdout)
    assert js["encrypted"] is False and "NOT authenticated" in js["note"]


def test_unencrypted_archive_refused_when_a_key_is_given(
    home: Path, src: Path, tmp_path: Path
) -> None:
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "--no-encrypt", "-o", arc, src, home=home).assert_ok()
    ident = tmp_path / "id.txt"
    run_nzarc("keygen", "-o", ident, home=home).assert_ok()
    out = tmp_path / "out"
    res = run_nzarc("extract", arc, "-C", out, "-i", ident, home=home).assert_clean_error(1)
    assert "not encrypted" in res.stderr and "forged" in res.stderr
    assert not out.exists()
    # A passphrase from the environment only earns a warning.
    env = {"NZARC_PASSPHRASE": "unused"}
    res = run_nzarc("extract", arc, "-C", out, env=env, home=home).assert_ok()
    assert "nzarc: warning: the archive is not encrypted" in res.stderr
    assert snapshot(out / src.name) == snapshot(src)


# --------------------------------------------------------------------------- hostile archives


def _malicious_archive(path: Path, build) -> None:
    """Write an archive with the library's writer, its name checks switched off."""
    import nzarc.writer as writer_mod

    class NoChecks:
        def add(self, name: str, kind: str) -> None:
            pass

    mp = pytest.MonkeyPatch()
    try:
        mp.setattr(writer_mod, "validate_member_name", lambda name: name)
        mp.setattr(writer_mod, "NameSet", NoChecks)
        with path.open("wb") as f, writer_mod.ArchiveWriter(f, encrypt=False) as w:
            build(w, path.parent / "outside")
    finally:
        mp.undo()


def _file(w, name: str, data: bytes = b"pwned") -> None:
    w.add_file(name, io.BytesIO(data), mtime_ns=MTIME)


TRAVERSALS = {
    "dotdot": lambda w, o: _file(w, "../outside/pwned"),
    "deep-dotdot": lambda w, o: (w.add_dir("a"), _file(w, "a/../../outside/pwned")),
    "absolute": lambda w, o: _file(w, f"{o}/pwned"),
    "symlink-out-then-write": lambda w, o: (
        w.add_symlink("hop", "../outside"), _file(w, "hop/pwned")
    ),
    "absolute-symlink": lambda w, o: w.add_symlink("hop", str(o)),
    "file-then-symlink-same-name": lambda w, o: (
        _file(w, "x", b"fine"), w.add_symlink("x", f"{o}/pwned"), _file(w, "x", b"pwned")
    ),
    "symlink-chain": lambda w, o: (
        w.add_dir("d"), w.add_symlink("d/up", ".."), w.add_symlink("d/up2", "up/.."),
        _file(w, "d/up2/outside/pwned"),
    ),
}


@pytest.mark.parametrize("case", sorted(TRAVERSALS))
@pytest.mark.parametrize("via_pipe", [False, True])
def test_traversal_attempts_write_nothing_outside(
    home: Path, tmp_path: Path, case: str, via_pipe: bool
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("untouched")
    arc = tmp_path / "evil.nzarc"
    _malicious_archive(arc, TRAVERSALS[case])
    before = listing(tmp_path)
    dest = tmp_path / "dest"
    if via_pipe:
        r = run_nzarc("extract", "-", "-C", dest, stdin=arc.read_bytes(), home=home)
    else:
        r = run_nzarc("extract", arc, "-C", dest, home=home)
    r.assert_clean_error(1)
    after = [p for p in listing(tmp_path) if not p.startswith("dest")]
    assert after == [p for p in before if not p.startswith("dest")]
    assert (outside / "keep").read_text() == "untouched"
    for p in dest.rglob("*") if dest.exists() else []:
        if p.is_symlink():
            target = (p.parent / os.readlink(p)).resolve()
            assert target.is_relative_to(dest.resolve()), (p, target)


# --------------------------------------------------------------------------- safe creation


def test_failed_create_leaves_no_archive(home: Path, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "same").write_text("1")
    (tmp_path / "b" / "same").write_text("2")
    arc = tmp_path / "out.nzarc"
    r = run_nzarc("create", "-o", arc, tmp_path / "a" / "same", tmp_path / "b" / "same",
                  home=home, env=PW)
    r.assert_clean_error(1)
    assert "duplicate" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_archive_inside_its_own_input_is_not_archived(home: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "f.txt").write_text("data")
    arc = tree / "self.nzarc"
    run_nzarc("create", "-o", arc, "--no-encrypt", tree, home=home).assert_ok()
    run_nzarc("create", "--force", "-o", arc, "--no-encrypt", tree, home=home).assert_ok()  # replaces it
    names = run_nzarc("list", arc, home=home).assert_ok().stdout.decode().split()
    assert names == ["tree", "tree/f.txt"]


def test_interrupted_create_exit_130_and_no_archive(home: Path, tmp_path: Path) -> None:
    arc = tmp_path / "out.nzarc"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env.update(NZARC_HOME=str(home), **PW)
    proc = subprocess.Popen(
        [nzarc_executable(), "create", "-o", str(arc), "-"],
        stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
        # a runner that starts tests with SIGINT ignored (a background job, nohup) would pass
        # that on, and Python keeps an inherited SIG_IGN: give the child the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(b"x" * 100_000)
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not any("nzarc-tmp" in p.name for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    try:
        _, err_bytes = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("nzarc create did not stop on SIGINT") from None
    err = err_bytes.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert list(tmp_path.iterdir()) == []


def test_refuses_binary_to_terminal(home: Path, src: Path) -> None:
    master, slave = pty.openpty()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
        env.update(NZARC_HOME=str(home), **PW)
        proc = subprocess.run(
            [nzarc_executable(), "create", "-o", "-", str(src)],
            stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, timeout=60,
        )
    finally:
        os.close(slave)
        os.close(master)
    r = Result(proc.returncode, b"", proc.stderr.decode())
    r.assert_clean_error(2)
    assert "--force-tty" in r.stderr


def test_broken_pipe_on_stdout(home: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 << 20))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env.update(NZARC_HOME=str(home), **PW)
    proc = subprocess.Popen(
        [nzarc_executable(), "create", "-o", "-", "-c", "store", str(big)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1, err
    Result(1, b"", err).assert_clean_error(1)

