"""The decode policy (nzarc.policy): a codec allow-list and an expansion limit, checked
before decoding; the CLI's --codecs and --max-ratio."""

from __future__ import annotations

import io
import os
from pathlib import Path

import msgpack
import pytest
from cli_support import run_nzarc

import nzarc
from fuzz import surgery
from nzarc.codecs.zstd import ZstdCodec
from nzarc.errors import CodecRefused, LimitExceeded, UnsupportedCodec
from nzarc.planning import plan_codecs
from nzarc.policy import DecodePolicy, parse_codec_list

ZEROS = bytes(200_000)


def _archive(data: bytes, codec: str = "zstd", **kw: object) -> bytes:
    buf = io.BytesIO()
    w = nzarc.ArchiveWriter(buf, encrypt=False, codec=codec, jobs=1, **kw)
    w.add_file("f.bin", io.BytesIO(data), mode=0o644)
    w.close()
    return buf.getvalue()


def _read_all(data: bytes, *, pipe: bool, policy: DecodePolicy | None) -> bytes:
    src = surgery.NonSeekable(data) if pipe else io.BytesIO(data)
    with nzarc.open(src, jobs=1, policy=policy) as reader:
        if pipe:
            return b"".join(item.read() for item in reader.iter_members())
        return b"".join(item.read() for item in reader.iter_members(["f.bin"]))


def test_parse_codec_list() -> None:
    assert parse_codec_list("zstd, store") == {"nzarc.zstd", "nzarc.store"}
    assert parse_codec_list("neural,acme.foo,") == {"nzarc.neural", "acme.foo"}
    with pytest.raises(ValueError, match="'bad!' is not a codec"):
        parse_codec_list("zstd,bad!")
    with pytest.raises(ValueError, match="empty"):
        parse_codec_list(" , ")


@pytest.mark.parametrize("bad", [0, -1.0, True, "8", float("nan")])
def test_policy_rejects_bad_ratio(bad: object) -> None:
    with pytest.raises(ValueError, match="max_ratio must be a positive number"):
        DecodePolicy(max_ratio=bad)  # type: ignore[arg-type]


def test_open_rejects_a_policy_of_the_wrong_type() -> None:
    with pytest.raises(TypeError, match="DecodePolicy"):
        nzarc.open(io.BytesIO(_archive(b"x")), policy={"max_ratio": 2})  # type: ignore[arg-type]


@pytest.mark.parametrize("pipe", [True, False])
def test_max_ratio_refuses_before_decoding(pipe: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _archive(ZEROS)  # zstd legitimately codes zeros ~5000:1; its own limit is none
    assert _read_all(data, pipe=pipe, policy=None) == ZEROS

    def no_decode(self: object, items: object) -> list[bytes]:
        raise AssertionError("decoded a chunk above the ratio limit")

    monkeypatch.setattr(ZstdCodec, "decode_many", no_decode)
    with pytest.raises(LimitExceeded, match=r"chunk 0 \(nzarc\.zstd\) declares 200000 bytes "
                       r"from \d+ coded bytes: ratio \d+, above the limit 8") as info:
        _read_all(data, pipe=pipe, policy=DecodePolicy(max_ratio=8))
    assert "--max-ratio" in (info.value.hint or "")


def test_max_ratio_inf_lifts_store_limit() -> None:
    # a stored chunk one byte short: above store's own limit 1 unless the caller lifts it
    opened = surgery.unseal(_archive(b"a" * 300, codec="store", chunk_size=256))
    frames = surgery.parse_frames(opened.plaintext)
    chunk = next(f for f in frames if f.tag == b"C")
    chunk.fields = {**chunk.fields, "out": b"a" * 255}
    surgery.fix_offsets(frames)
    bad = surgery.seal(opened, plaintext=surgery.join_frames(frames))
    with pytest.raises(LimitExceeded, match=r"chunk 0 \(nzarc\.store\).*above the limit 1$"):
        _read_all(bad, pipe=True, policy=None)
    with pytest.raises(nzarc.CodecError, match="expected exactly 256"):
        _read_all(bad, pipe=True, policy=DecodePolicy(max_ratio=float("inf")))


def _declaring_unused_zstd() -> bytes:
    """A store-only archive whose header also declares a zstd slot that no chunk uses."""
    opened = surgery.unseal(_archive(os.urandom(1000), codec="store"))
    wire = msgpack.unpackb(opened.header_bytes, raw=False)
    zstd = plan_codecs("zstd").entries[1].to_wire()
    wire["codecs"] = [*wire["codecs"], zstd]
    frames = surgery.parse_frames(opened.plaintext)
    index = next(f for f in frames if f.tag == b"I")
    body = msgpack.unpackb(index.fields["body"], raw=False)
    body["counts"] = [*body["counts"], 0]
    index.fields = {"body": surgery.canonical(body)}
    surgery.fix_offsets(frames, index=False)
    edited = surgery.seal(
        opened, header_bytes=surgery.canonical(wire), plaintext=surgery.join_frames(frames),
        fix_mac=True,
    )
    with nzarc.open(io.BytesIO(edited)) as reader:
        assert [c["id"] for c in reader.header_info().codecs] == ["nzarc.store", "nzarc.zstd"]
        assert reader.info().chunks_per_codec == {"nzarc.store": 1}
    return edited


def test_codecs_refused_used_on_a_file_declared_on_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    store_only = DecodePolicy(codecs=frozenset({"nzarc.store"}))
    data = _archive(ZEROS)
    built: list[object] = []
    monkeypatch.setattr(ZstdCodec, "from_params", classmethod(lambda cls, p: built.append(p)))
    for pipe in (True, False):
        with pytest.raises(CodecRefused, match=r"needs codec nzarc\.zstd, which is not allowed "
                           r"here \(allowed: nzarc\.store\)") as info:
            _read_all(data, pipe=pipe, policy=store_only)
        assert isinstance(info.value, UnsupportedCodec)
        assert info.value.hint and "--codecs store,zstd" in info.value.hint
    assert built == []  # refused before the codec was built
    monkeypatch.undo()
    unused = _declaring_unused_zstd()
    assert len(_read_all(unused, pipe=False, policy=store_only)) == 1000  # the index: unused
    with pytest.raises(CodecRefused, match="nzarc.zstd"):  # a pipe: declared is refused
        _read_all(unused, pipe=True, policy=store_only)
    with nzarc.open(io.BytesIO(data), policy=store_only) as reader:
        with pytest.raises(CodecRefused, match="nzarc.zstd"):
            reader.test()


# ------------------------------------------------------------------- the command line


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


def test_cli_flags(home: Path, tmp_path: Path) -> None:
    arc = tmp_path / "z.nzarc"
    arc.write_bytes(_archive(ZEROS))
    out = tmp_path / "out"
    out.mkdir()
    r = run_nzarc("extract", arc, "-C", out, "--max-ratio", "8", home=home).assert_clean_error(1)
    assert "chunk 0 (nzarc.zstd) declares 200000 bytes" in r.stderr
    assert "hint: if the archive is trusted, allow a higher ratio (--max-ratio N)" in r.stderr
    assert list(out.iterdir()) == []
    for cmd in ("extract", "test", "list"):
        extra = ["-C", str(out), "--force"] if cmd == "extract" else []
        r = run_nzarc(cmd, arc, *extra, "--codecs", "store", home=home).assert_clean_error(1)
        assert "needs codec nzarc.zstd, which is not allowed here" in r.stderr, cmd
        assert "hint: if the archive is trusted, allow it too (--codecs store,zstd)" in r.stderr
        run_nzarc(cmd, arc, *extra, "--codecs", "zstd", "--max-ratio", "inf", home=home).assert_ok()
    r = run_nzarc("list", "-", "--codecs", "store", stdin=arc.read_bytes(), home=home)
    r.assert_clean_error(1)
    assert "nzarc.zstd" in r.stderr
    assert (out / "f.bin").read_bytes() == ZEROS
    for args, msg in (
        (["--codecs", "zstd,x y"], "argument --codecs: 'x y' is not a codec"),
        (["--codecs", ","], "argument --codecs: the codec list is empty"),
        (["--max-ratio", "0"], "argument --max-ratio: ratio must be positive, not '0'"),
        (["--max-ratio", "lots"], "argument --max-ratio: invalid ratio 'lots'"),
    ):
        r = run_nzarc("test", arc, *args, home=home).assert_clean_error(2)
        assert msg in r.stderr, r.stderr
    r = run_nzarc("info", arc, "--codecs", "zstd", home=home).assert_clean_error(2)
    assert "unrecognized arguments" in r.stderr


@pytest.mark.parametrize(
    ("command", "named", "absent"),
    [
        ("create", ["--chunk-size", "--jobs"], ["--codecs"]),
        ("extract", ["ulimit -v", "--codecs"], ["--chunk-size", "--jobs"]),
        ("test", ["ulimit -v"], ["--chunk-size", "--jobs"]),
        ("list", ["ulimit -v"], ["--chunk-size", "--jobs", "--codecs"]),
    ],
)
def test_out_of_memory_hint_names_only_that_commands_options(
    command: str, named: list[str], absent: list[str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from nzarc import cli

    def oom(args: object) -> int:
        raise MemoryError

    monkeypatch.setitem(cli.COMMANDS, command, oom)
    argv = {"create": ["create", "-o", "x", "."], "extract": ["extract", "a"],
            "test": ["test", "a"], "list": ["list", "a"]}[command]
    assert cli.main(argv) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "nzarc: error: out of memory" and lines[1].startswith("hint: ")
    assert all(n in lines[1] for n in named) and not any(a in lines[1] for a in absent), lines
