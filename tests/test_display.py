"""Escaping of untrusted text for the terminal (nzarc.display) and OSErrors that name their file."""

from __future__ import annotations

import ast
import errno
import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzarc.display import one_line, os_error_message, printable
from nzarc.oserrors import NamedOutput, naming, with_filename
from nzarc.progress import Progress

#: Every character a name can use to act on a terminal or to disguise itself.
DANGEROUS = (
    [chr(c) for c in range(0x20)]  # C0: ESC, CR, LF, BEL, BS, TAB...
    + ["\x7f"]  # DEL
    + [chr(c) for c in range(0x80, 0xA0)]  # C1: NEL U+0085, CSI U+009B, OSC U+009D...
    + ["\u2028", "\u2029"]  # line and paragraph separators
    + [chr(c) for c in range(0x202A, 0x202F)]  # bidi embeddings and overrides
    + [chr(c) for c in range(0x2066, 0x206A)]  # bidi isolates
    + ["\u200e", "\u200f", "\u061c", "\u200b", "\ufeff", "\udcff"]  # marks, zero width, BOM,
)  # and a surrogate (an undecodable byte of a file name)


@pytest.mark.parametrize("c", DANGEROUS, ids=lambda c: f"U+{ord(c):04X}")
def test_every_dangerous_character_is_escaped(c: str) -> None:
    out = printable(f"a{c}b")
    assert out.isprintable() and out.isascii(), ascii(out)
    assert out == "a" + (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") + "b"
    line = one_line(f"a{c}b")
    assert line.isprintable(), ascii(line)


def test_plain_names_are_unchanged() -> None:
    for name in ("a.txt", "dir/sub file", "naïve/日本語.txt", "emoji 🎉", "tab-free"):
        assert printable(name) is name or printable(name) == name
        assert one_line(name) == name


def test_backslash_is_doubled_so_the_escaping_is_unambiguous() -> None:
    assert printable("a\\x1bb") == "a\\\\x1bb"  # the four characters, not ESC
    assert printable("a\x1bb") == "a\\x1bb"
    assert printable("a\\x1bb") != printable("a\x1bb")
    assert printable("\U000e0001") == "\\U000e0001"  # a tag character, above the BMP


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_printable_is_printable_and_reversible(s: str) -> None:
    out = printable(s)
    assert out.isprintable()
    # The escapes are Python's: reading the result back as a string literal gives s again.
    assert ast.literal_eval('"' + out.replace('"', '\\"') + '"') == s


def test_one_line_joins_lines_and_keeps_backslashes() -> None:
    assert one_line("first\nsecond\r\nthird\x85fourth\u2028fifth") == "first second third fourth fifth"
    # Messages quote names with repr(), which has escaped them: nothing is escaped twice.
    name = "a\x1b[2Jb"
    assert one_line(f"refusing {name!r}") == "refusing 'a\\x1b[2Jb'"
    assert one_line("raw \x1b]0;title\x07 here") == "raw \\x1b]0;title\\x07 here"


def test_repr_escapes_what_printable_escapes() -> None:
    """Error messages quote names with repr(): it must escape the same characters."""
    for c in DANGEROUS:
        assert c not in repr(f"a{c}b"), f"U+{ord(c):04X}"


def test_os_error_message_names_the_file_escaped() -> None:
    e = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "out/a\x1b[2J.txt")
    assert os_error_message(e) == "No space left on device: out/a\\x1b[2J.txt"
    e2 = OSError(errno.EXDEV, os.strerror(errno.EXDEV), "a", None, "b")
    assert os_error_message(e2).endswith(": a -> b")
    assert os_error_message(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))) == (
        "No space left on device"
    )


def test_with_filename_keeps_the_errno_and_class() -> None:
    e = with_filename(OSError(errno.EACCES, "Permission denied"), "x/y")
    assert isinstance(e, PermissionError) and e.errno == errno.EACCES and e.filename == "x/y"
    named = FileNotFoundError(errno.ENOENT, "gone", "already")
    assert with_filename(named, "other") is named
    with pytest.raises(OSError, match="No space left on device: 'arc.nzarc'") as info, naming(
        "arc.nzarc"
    ):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC


def test_named_output_names_the_path_on_a_full_disk() -> None:
    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: object) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = NamedOutput(io.BufferedWriter(Full(), buffer_size=16), "big.nzarc")
    with pytest.raises(OSError, match="No space left on device") as info:
        out.write(b"x" * 100)
        out.flush()
    assert info.value.filename == "big.nzarc"


def test_progress_member_and_label_are_escaped() -> None:
    stream = io.StringIO()
    prog = Progress(stream=stream, show_bar=False, verbose=True, label="l\x1b]0;x\x07")
    prog.member("a\rfake\nline\u202e")
    assert stream.getvalue() == "a\\x0dfake\\x0aline\\u202e\n"
    assert prog.line(0.0).startswith("l\\x1b]0;x\\x07  ")

