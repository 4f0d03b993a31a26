"""Usage errors, help text and key sources of the ``nzarc`` command line."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cli_support import run_nzarc

from nzarc.cli import _parse, _size, build_parser, main


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def test_help_documents_exit_codes(home: Path) -> None:
    r = run_nzarc("--help", home=home).assert_ok()
    out = r.stdout.decode()
    for word in ("create", "extract", "list", "test", "info", "keygen", "codecs", "model"):
        assert word in out
    assert "exit status" in out and "usage error" in out


def test_subcommand_help(home: Path) -> None:
    out = run_nzarc("create", "--help", home=home).assert_ok().stdout.decode()
    for flag in ("--no-encrypt", "--passphrase-file", "-R", "--chunk-size", "--pad", "--verify",
                 "--name", "--force-tty", "--device", "exit status"):
        assert flag in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["create"],
        ["create", "x"],  # no -o
        ["create", "-o", "a.nzarc", "--chunk-size", "lots", "x"],
        ["create", "-o", "a.nzarc", "-j", "0", "x"],
        ["create", "-o", "a.nzarc", "--suite", "rot13", "x"],
        ["create", "-o", "a.nzarc", "--device", "tpu", "x"],
        ["create", "-o", "a.nzarc", "-q", "-v", "x"],
        ["extract"],
        ["list", "a", "--bogus"],
    ],
)
def test_argument_errors_exit_2(home: Path, argv: list[str]) -> None:
    run_nzarc(*argv, home=home).assert_clean_error(2)


def test_missing_input_path_is_usage_error(home: Path, tmp_path: Path) -> None:
    r = run_nzarc("create", "--no-encrypt", "-o", tmp_path / "a.nzarc", tmp_path / "nope", home=home)
    r.assert_clean_error(2)
    assert not (tmp_path / "a.nzarc").exists()


def test_no_encrypt_conflicts_with_keys(home: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    r = run_nzarc("create", "--no-encrypt", "-p", "-o", tmp_path / "a.nzarc", tmp_path / "f", home=home)
    r.assert_clean_error(2)


def test_name_requires_stdin(home: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    r = run_nzarc("create", "--no-encrypt", "--name", "n", "-o", tmp_path / "a", tmp_path / "f", home=home)
    r.assert_clean_error(2)


def test_no_passphrase_source_is_usage_error(home: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    r = run_nzarc("create", "-o", tmp_path / "a.nzarc", tmp_path / "f", home=home)
    r.assert_clean_error(2)
    assert "hint:" in r.stderr and "NZARC_PASSPHRASE" in r.stderr
    assert list(tmp_path.iterdir()) == [tmp_path / "f"]  # no archive, no temporary


def test_empty_passphrase_env_refused(home: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    r = run_nzarc("create", "-o", tmp_path / "a.nzarc", tmp_path / "f", home=home,
                  env={"NZARC_PASSPHRASE": ""})
    r.assert_clean_error(2)


def test_unreadable_passphrase_file(home: Path, tmp_path: Path) -> None:
    """A key file that cannot be read is a key problem: exit 1 (the exit table's row 1)."""
    (tmp_path / "f").write_text("x")
    r = run_nzarc("create", "--passphrase-file", tmp_path / "missing", "-o", tmp_path / "a",
                  tmp_path / "f", home=home)
    r.assert_clean_error(1)
    assert "cannot read passphrase file" in r.stderr
    assert not (tmp_path / "a").exists()


def test_bad_recipients_file_line(home: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "keys").write_text("# team\nnot-a-key\n")
    r = run_nzarc("create", "-R", tmp_path / "keys", "-o", tmp_path / "a", tmp_path / "f", home=home)
    r.assert_clean_error(1)
    assert "line 2" in r.stderr


def test_extract_from_missing_file_exit_1(home: Path, tmp_path: Path) -> None:
    r = run_nzarc("extract", tmp_path / "nope.nzarc", "-C", tmp_path / "out", home=home)
    r.assert_clean_error(1)


def test_keygen_to_file_and_no_overwrite(home: Path, tmp_path: Path) -> None:
    key = tmp_path / "id.txt"
    r = run_nzarc("keygen", "-o", key, home=home).assert_ok()
    text = key.read_text()
    secret = [ln for ln in text.splitlines() if ln.startswith("AGE-SECRET-KEY-1")]
    assert len(secret) == 1
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    public = r.stderr.strip().split()[-1]
    assert public.startswith("age1") and f"# public key: {public}" in text
    assert r.stdout == b""
    again = run_nzarc("keygen", "-o", key, home=home)
    again.assert_clean_error(2)
    assert key.read_text() == text


def test_keygen_to_stdout(home: Path) -> None:
    r = run_nzarc("keygen", home=home).assert_ok()
    assert b"AGE-SECRET-KEY-1" in r.stdout
    assert r.stderr.startswith("Public key: age1")


def test_codecs_lists_builtins(home: Path) -> None:
    out = run_nzarc("codecs", home=home).assert_ok().stdout.decode()
    assert "nzarc.zstd" in out and "nzarc.store" in out
    js = run_nzarc("codecs", "--json", home=home).assert_ok().stdout.decode()
    import json

    ids = {c["id"] for c in json.loads(js)["codecs"]}
    assert {"nzarc.zstd", "nzarc.store"} <= ids


def test_size_parser() -> None:
    assert _size("4096") == 4096
    assert _size("64K") == 64 << 10
    assert _size("64KiB") == 64 << 10
    assert _size("1M") == 1 << 20
    assert _size("2mb") == 2 << 20


def test_parser_has_exact_command_spelling() -> None:
    parser = build_parser()
    ns = parser.parse_args(["create", "-o", "-", "-r", "age1x", "-R", "f", "-c", "zstd", "-l", "3",
                            "--chunk-size", "64K", "-j", "2", "--pad", "-q", "a", "b"])
    assert ns.output == "-" and ns.recipient == ["age1x"] and ns.recipients_file == ["f"]
    assert ns.codec == "zstd" and ns.level == 3 and ns.chunk_size == 65536 and ns.jobs == 2
    assert ns.pad and ns.quiet and ns.paths == ["a", "b"]
    ns = _parse(parser, ["extract", "-", "-C", "d", "-i", "k1", "-i", "k2", "--force", "m1"])
    assert ns.identity == ["k1", "k2"] and ns.directory == "d" and ns.force and ns.members == ["m1"]
    ns = parser.parse_args(["list", "a", "-l", "--json"])
    assert ns.long and ns.json


def test_main_in_process_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nzarc: error: ") and "hint: see 'nzarc create --help'" in err


def test_bench_is_wired_to_the_harness(home: Path, tmp_path: Path) -> None:
    # Only --help: a real benchmark run writes result files into the source tree.
    r = run_nzarc("bench", "--help", home=home, cwd=tmp_path).assert_ok()
    assert b"--quick" in r.stdout


def test_device_cuda_without_cuda_is_a_usage_error(home: Path, tmp_path: Path) -> None:
    """``--device cuda`` where torch sees no CUDA device (none is visible to the process)
    exits 2 with one error line and a hint, before anything is written or asked."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "t.txt").write_bytes(b"device flag " * 500)
    arc = tmp_path / "cuda.nzarc"
    env = {"CUDA_VISIBLE_DEVICES": ""}
    r = run_nzarc("create", "--device", "cuda", "-o", arc, src, home=home, env=env)
    r.assert_clean_error(2)
    assert r.stderr.startswith("nzarc: error: --device cuda: no CUDA device is available")
    assert not arc.exists() and "hint: " in r.stderr
    run_nzarc("create", "--no-encrypt", "-q", "--device", "cpu", "-o", arc, src, home=home).assert_ok()
    for command in (["extract", "-C", tmp_path / "out"], ["test"]):
        r = run_nzarc(*command, "--device", "cuda", arc, home=home, env=env)
        r.assert_clean_error(2)
        assert r.stderr.startswith("nzarc: error: --device cuda")
    assert not (tmp_path / "out").exists()


def test_replay_stream_reads_prefix_twice() -> None:
    import io

    from nzarc.cli import _Replay

    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.buf = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def read(self, n: int = -1) -> bytes:
            return self.buf.read(n)

    data = bytes(range(256)) * 10
    r = _Replay(Pipe(data))
    assert r.read(100) == data[:100] and r.read(50) == data[100:150]
    r.rewind()
    assert not r.seekable()
    got = r.read(120) + r.read(10) + r.read(-1)
    assert got == data
    with pytest.raises(ValueError, match="rewound once"):
        r.rewind()


@pytest.mark.parametrize(
    ("codec", "window", "message"),
    [
        ("zstd", "1024", b"--window 1024: nzarc.zstd takes no param 'window'"),
        ("neural", "4", b"--window 4: nzarc.neural: param 'window' = 4 is outside 8..8192"),
        ("auto", "100000", b"--window 100000: nzarc.neural: param 'window' = 100000 is outside"),
        ("neural", "0", b"argument --window: must be at least 1"),
    ],
)
def test_window_is_checked_before_anything_is_written(
    home: Path, tmp_path: Path, codec: str, window: str, message: bytes
) -> None:
    (tmp_path / "f").write_text("some text\n")
    archive = tmp_path / "a.nzarc"
    r = run_nzarc("create", "--no-encrypt", "-c", codec, "--window", window, "-o", archive, tmp_path / "f", home=home)
    r.assert_clean_error(2)
    assert message.decode() in r.stderr and not archive.exists()

