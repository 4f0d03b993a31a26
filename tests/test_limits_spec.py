"""spec/FORMAT.md's "Limits" section states every cap of src/nzarc/format/limits.py, with the
same value, and names no cap that limits.py lacks.

The section is either a Markdown table whose rows name a constant (`MAX_…`) and its value, or
the prose summary; each constant has one phrase pattern below. A new cap in limits.py needs a
line in the spec and a pattern here, so the two cannot drift apart silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nzarc.format import limits

SPEC = Path(__file__).resolve().parents[1] / "spec" / "FORMAT.md"
UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
NUM = r"(\d+(?:[ \u202f,]\d{3})*(?:\^\d+)?(?:\s*(?:B|KiB|MiB|GiB)\b)?)"

# constant -> (pattern with one or two NUM groups, group index, divisor applied to the value)
PATTERNS: dict[str, tuple[str, int, int]] = {
    "MAX_HEADER_BYTES": (rf"header {NUM}", 1, 1),
    "MAX_STANZAS": (rf"{NUM} stanzas", 1, 1),
    "MAX_CODEC_SLOTS": (rf"{NUM} codec slots", 1, 1),
    "ARGON2_MAX_T": (rf"\bt ≤ {NUM}", 1, 1),
    "ARGON2_MAX_P": (rf"\bp ≤ {NUM}", 1, 1),
    "ARGON2_MAX_M_KIB": (rf"\bm ≤ {NUM}", 1, 1024),
    "MIN_CHUNK": (rf"chunk {NUM} … {NUM}", 1, 1),
    "MAX_CHUNK": (rf"chunk {NUM} … {NUM}", 2, 1),
    "MIN_SEGMENT": (rf"segment {NUM} … {NUM}", 1, 1),
    "MAX_SEGMENT": (rf"segment {NUM} … {NUM}", 2, 1),
    "MAX_ENTRY_BYTES": (rf"entry frame {NUM}", 1, 1),
    "MAX_INDEX_BYTES": (rf"index {NUM}", 1, 1),
    "MAX_ENTRIES": (rf"{NUM} entries", 1, 1),
    "MAX_CHUNKS": (rf"{NUM} chunks", 1, 1),
    "MAX_PATH_BYTES": (rf"path {NUM}", 1, 1),
    "MAX_COMPONENT_BYTES": (rf"component {NUM}", 1, 1),
    "MAX_LINK_BYTES": (rf"link target {NUM}", 1, 1),
}


def _constants() -> dict[str, int]:
    return {
        name: getattr(limits, name)
        for name in limits.__all__
        if isinstance(getattr(limits, name), int) and name.isupper()
    }


def _section() -> str:
    text = SPEC.read_text()
    match = re.search(r"^## \d+\.\s*Limits\b.*?$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, "spec/FORMAT.md has no '## N. Limits' section"
    return match.group(1)


def _value(text: str) -> int:
    m = re.fullmatch(r"([\d \u202f,]+)(?:\^(\d+))?\s*(B|KiB|MiB|GiB)?", text.strip())
    assert m, f"cannot read the number {text!r}"
    base = int(re.sub(r"[ \u202f,]", "", m.group(1)))
    if m.group(2):
        base = base ** int(m.group(2))
    return base * UNITS[m.group(3) or ""]


def _table(section: str) -> dict[str, int]:
    rows: dict[str, int] = {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"[A-Z][A-Z0-9_]+", cells[0]):
            number = next((c for c in cells[1:] if re.match(r"^\d", c)), None)
            assert number is not None, f"no value in the spec row for {cells[0]}"
            rows[cells[0]] = _value(number)
    return rows


def _prose(section: str) -> dict[str, int]:
    flat = " ".join(section.split())
    found: dict[str, int] = {}
    for name, (pattern, group, divisor) in PATTERNS.items():
        m = re.search(pattern, flat)
        if m:
            found[name] = _value(m.group(group)) // divisor
    return found


def _spec_limits() -> dict[str, int]:
    section = _section()
    return _table(section) or _prose(section)


def test_every_cap_is_in_the_spec_with_its_value() -> None:
    stated = _spec_limits()
    for name, value in _constants().items():
        assert name in stated, f"limits.{name} = {value} is not stated in spec/FORMAT.md's Limits section"
        assert stated[name] == value, f"spec says {name} = {stated[name]}, limits.py says {value}"


def test_the_spec_names_no_cap_that_limits_lacks() -> None:
    unknown = sorted(set(_spec_limits()) - set(_constants()))
    assert not unknown, f"the spec states caps that limits.py does not define: {unknown}"


@pytest.mark.parametrize(
    ("text", "value"),
    [("1 MiB", 1 << 20), ("4 000 000", 4_000_000), ("2^24", 1 << 24), ("256 B", 256), ("2 GiB", 2 << 30)],
)
def test_number_reader(text: str, value: int) -> None:
    assert _value(text) == value
