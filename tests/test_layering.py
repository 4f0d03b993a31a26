"""No import cycles among the modules of src/nzarc/ and bench/.

The module graph is read from the source with :mod:`ast`, not by importing: an edge
``a -> b`` for every ``import b`` / ``from b import x`` in ``a``, at module level or inside a
function (a function-level import is still a dependency, only a later one). ``from p import
m`` where ``p.m`` is a module is an edge to ``p.m`` alone; the parent packages that Python
imports on the way are not edges. Imports under ``if TYPE_CHECKING:`` are not edges (they
never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"nzarc": REPO / "src" / "nzarc", "bench": REPO / "bench"}

#: Cycles that exist today and are owned elsewhere, each as its set of modules. Any other
#: cycle (a new one, or one of these that grows) fails the test; remove an entry once its
#: cycle is gone.
KNOWN_CYCLES: list[frozenset[str]] = []


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for top, root in ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = [top, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` except those in an ``if TYPE_CHECKING:`` body."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]))
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    package = name.split(".") if is_pkg else name.split(".")[:-1]
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join(package + ([base] if base else []))
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.add(w)
                if w == v:
                    break
            if len(scc) > 1:
                out.append(frozenset(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_the_packages() -> None:
    graph = _graph()
    assert "nzarc.format.stream" in graph["nzarc.crypto.suites"]  # the AEAD protocol
    assert "bench.common" in graph["bench.scale"] and "bench.common" in graph["bench.throughput"]
    assert "bench.scale" in graph["bench.cli"]  # function-level imports count


def test_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [frozenset("abc")]


def test_type_checking_imports_are_not_edges() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\nelse:\n    import y\n"
        "def f():\n    import z\n"
    )
    assert [alias.name for node in _imports(tree) for alias in node.names] == ["TYPE_CHECKING", "y", "z"]


def test_format_needs_no_cryptography() -> None:
    """nzarc.format is the byte layout and parsing (its docstring): it imports no nzarc.crypto."""
    graph = _graph()
    uses = {m: sorted(t for t in ts if t.startswith("nzarc.crypto")) for m, ts in graph.items()
            if m.startswith("nzarc.format")}
    assert not {m: t for m, t in uses.items() if t}


def test_no_new_import_cycles() -> None:
    found = _cycles(_graph())
    new = [sorted(c) for c in found if c not in KNOWN_CYCLES]
    assert not new, f"import cycles: {new}"


def test_cli_uses_no_format_or_crypto_internals() -> None:
    """The command line turns arguments into library calls: no module of nzarc.cli imports
    the byte layout (nzarc.format) or the cryptography (nzarc.crypto) directly."""
    graph = _graph()
    cli = {m for m in graph if m == "nzarc.cli" or m.startswith("nzarc.cli.")}
    assert "nzarc.cli.main" in cli and "nzarc.cli.parser" in graph["nzarc.cli.main"]
    uses = {m: sorted(t for t in graph[m] if t.split(".")[:2] in (["nzarc", "format"], ["nzarc", "crypto"]))
            for m in cli}
    assert not {m: t for m, t in uses.items() if t}


def test_the_store_uses_the_runtime_and_not_the_reverse() -> None:
    """The model store finds files and loads them through the runtime; the runtime never
    imports the store (so a runtime can run models from anywhere)."""
    graph = _graph()
    runtime = {m for m in graph if m == "nzarc.neural.runtime" or m.startswith("nzarc.neural.runtime.")}
    assert len(runtime) > 5, runtime
    assert not {m: sorted(graph[m] - runtime) for m in runtime if "nzarc.neural.store" in graph[m]}
    assert graph["nzarc.neural.store"] & runtime


#: The most lines a module of src/nzarc may have (small modules with one job each).
MAX_MODULE_LINES = 450


def test_modules_are_small() -> None:
    """Every module of src/nzarc has at most :data:`MAX_MODULE_LINES` lines."""
    modules = {name: path for name, path in _modules().items() if name.split(".")[0] == "nzarc"}
    assert "nzarc.neural.codec" in modules and "nzarc.cli.parser" in modules
    long = {
        name: n for name, path in modules.items()
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long
