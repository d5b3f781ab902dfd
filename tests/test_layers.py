"""Imports run one way: errors and files ← schemas ← compiler ← launchers ← the API ← the CLI
(every import counts, those inside functions too), and modules do not import each other."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nemorun"

LAYERS = (
    ("nemorun.errors", "nemorun.files", "nemorun.runtime"),
    ("nemorun.schemas",),
    ("nemorun.compiler",),
    ("nemorun.launchers",),
    ("nemorun.api", "nemorun.api_runs"),
    ("nemorun.cli", "nemorun.ui"),
)

KNOWN_CYCLES: list[set[str]] = []
"""Cycles through imports inside functions that are tolerated for now (none)."""


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, top_level_only: bool = False) -> Iterator[tuple[str, list[str], int]]:
    """(module, names imported from it, line) of every import of a nemorun module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for block in ast.walk(tree):  # annotations only: never imported when the code runs
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test):
            block.body = []
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nemorun"):
            yield str(node.module), [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("nemorun"):
                    yield alias.name, [], node.lineno


def layer(module: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for name, path in modules().items():
        mine = layer(name)
        for imported, _, line in imports(path):
            theirs = layer(imported)
            if mine is not None and theirs is not None and theirs > mine:
                upward.append(f"{name}:{line} imports {imported}")
    assert upward == []


def test_the_cli_and_the_api_import_no_private_name_of_another_module() -> None:
    private = []
    for name, path in modules().items():
        if layer(name) in (4, 5):
            for imported, names, line in imports(path):
                private += [
                    f"{name}:{line} {imported}.{n}"
                    for n in names
                    if n.startswith("_") and not n.startswith("__")
                ]
    assert private == []


def graph(top_level_only: bool) -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        targets = set()
        for imported, names, _ in imports(path, top_level_only):
            targets |= {f"{imported}.{n}" for n in names if f"{imported}.{n}" in known}
            if imported in known:
                targets.add(imported)
        # a package's own __init__ runs first anyway: importing it from inside is no cycle
        edges[name] = {t for t in targets if t != name and not name.startswith(t + ".")}
    return edges


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert cycles(graph(top_level_only=True)) == []
    assert [c for c in cycles(graph(top_level_only=False)) if c not in KNOWN_CYCLES] == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
