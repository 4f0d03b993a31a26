"""Untrusted text made safe for a terminal.

Member names, link targets, codec ids, recipient types and file names come
from archives and file systems: they may hold ESC (terminal escape
sequences), CR (overwrite the line), LF (fake lines), the Unicode line and
paragraph separators, bidirectional overrides (``txt.exe`` shown as
``exe.txt``) and other invisible characters. Every human-readable line the
command line prints passes such text through this module; ``--json`` output
does not (JSON escapes control characters itself and keeps names exact).

Which characters are escaped: every character that ``str.isprintable()``
rejects, that is C0 controls (U+0000-U+001F), DEL, C1 controls
(U+0080-U+009F, NEL among them), the line and paragraph separators
U+2028/U+2029, format characters (bidi embeddings and overrides
U+202A-U+202E, isolates U+2066-U+2069, marks, zero-width characters, the
BOM), surrogates (undecodable bytes of a file name), private-use and
unassigned code points, and every space character except U+0020. They are
written as ``\\xNN`` below U+0100, ``\\uNNNN`` below U+10000 and
``\\UNNNNNNNN`` above, the forms of Python string literals.
"""

from __future__ import annotations

from nzarc.format.paths import is_utf8, text_bytes

__all__ = ["printable", "one_line", "os_error_message", "non_utf8_hex"]


def _escape(c: str) -> str:
    n = ord(c)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def printable(s: str) -> str:
    """``s`` with every non-printable character escaped, and ``\\`` written ``\\\\``.

    The result holds only printable characters and the mapping is one to one:
    a name that really contains the four characters ``\\x1b`` prints as
    ``\\\\x1b``, never like a name containing ESC. Text that needs no escaping
    is returned unchanged.
    """
    if s.isprintable() and "\\" not in s:
        return s
    return "".join("\\\\" if c == "\\" else c if c.isprintable() else _escape(c) for c in s)


def one_line(message: str) -> str:
    """An error or warning message as one printable line.

    Line breaks (any of ``str.splitlines``'s, U+0085 and U+2028/U+2029 among them)
    become spaces and other non-printable characters are escaped as in
    :func:`printable`; backslashes are kept as they are, because messages quote
    names with ``repr()`` or :func:`printable`, which have escaped them already.
    """
    line = " ".join(str(message).splitlines())
    if line.isprintable():
        return line
    return "".join(c if c.isprintable() else _escape(c) for c in line)


def os_error_message(e: OSError) -> str:
    """``'<reason>: <file>'`` for an ``OSError``, naming both files of a two-path error.

    An error that carries its own one-line ``message`` attribute (as
    :class:`nzarc.extract.OverwriteRefused` does) keeps it. File names are
    passed through :func:`printable`.
    """
    own = getattr(e, "message", None)
    if isinstance(own, str) and own:
        return own
    reason = e.strerror or str(e) or type(e).__name__
    if e.filename is None or e.filename in ("", b""):
        return reason
    where = printable(_fs_text(e.filename))
    if getattr(e, "filename2", None) is not None:
        where += f" -> {printable(_fs_text(e.filename2))}"
    return f"{reason}: {where}"


def _fs_text(name: object) -> str:
    if isinstance(name, bytes):
        return name.decode("utf-8", "surrogateescape")
    return str(name)


def non_utf8_hex(text: str | None) -> str | None:
    """The hex of a member name's or link target's exact bytes when they are not UTF-8
    (``None`` for UTF-8 text and for ``None``): what ``--json`` adds so that such a name,
    shown with ``\\udcXX`` escapes in its ``str`` field, is never ambiguous."""
    if text is None or is_utf8(text):
        return None
    return text_bytes(text).hex()
