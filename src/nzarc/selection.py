"""Which members a list of requested names selects (``extract``, ``list`` and ``-O`` share it).

A request selects a member when

* it is the member's name, or the name of a directory above it (``a`` selects ``a/b/c``); or
* it holds a shell wildcard (``*``, ``?`` or ``[``) and matches, with
  :func:`fnmatch.fnmatchcase` (case-sensitive; ``*`` and ``?`` match ``/`` too, as with GNU
  tar's ``--wildcards``), the member's name or the name of a directory above it: ``job/*.py``
  selects ``job/a.py`` and ``job/sub/b.py``, ``job/s*`` every member in ``job/sub``.

A request is matched as a literal name first, so a member whose name holds ``*`` or ``[``
is still selected by that name (the same request may then match others as a pattern).
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

__all__ = ["Selection", "is_pattern"]

_WILDCARDS = frozenset("*?[")


def is_pattern(request: str) -> bool:
    """True if ``request`` holds a shell wildcard."""
    return not _WILDCARDS.isdisjoint(request)


def _prefixes(name: str) -> list[str]:
    """``a/b/c`` -> ``["a/b/c", "a/b", "a"]``."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


class Selection:
    """A set of requests (see the module docstring); ``Selection(None)`` selects everything."""

    def __init__(self, requests: Iterable[str] | None) -> None:
        self.all = requests is None
        self.requests: tuple[str, ...] = () if requests is None else tuple(dict.fromkeys(requests))
        self._literal = frozenset(self.requests)
        self._patterns = tuple(r for r in self.requests if is_pattern(r))

    def select(self, name: str) -> str | None:
        """The first request that selects ``name`` (literal matches before patterns), or
        ``None``; with no requests, ``name`` itself."""
        if self.all:
            return name
        prefixes = _prefixes(name)
        for prefix in prefixes:
            if prefix in self._literal:
                return prefix
        for pattern in self._patterns:
            if any(fnmatchcase(prefix, pattern) for prefix in prefixes):
                return pattern
        return None

    def matching(self, name: str) -> list[str]:
        """Every request that selects ``name``."""
        if self.all:
            return []
        prefixes = _prefixes(name)
        literal = [p for p in prefixes if p in self._literal]
        return literal + [
            r for r in self._patterns
            if r not in literal and any(fnmatchcase(p, r) for p in prefixes)
        ]

    def unmatched(self, names: Iterable[str]) -> list[str]:
        """The requests that select none of ``names``, in request order."""
        left = set(self.requests)
        for name in names:
            if not left:
                break
            left.difference_update(self.matching(name))
        return [r for r in self.requests if r in left]
