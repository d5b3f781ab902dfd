"""Export a spec as a Python module that builds its Fiddle graph and, run as a script, runs it.

The code comes from Fiddle's new codegen (libcst inside, shared sub-configs become local
variables). This module adds what Fiddle leaves out:
- converters for `pathlib.Path` values (and the ``import pathlib`` they need), frozensets,
  infinite floats, and sets in a stable order;
- keyword arguments that are not Python identifiers (``**kwargs`` keys such as ``a-b`` or
  ``class``) written as ``**{'a-b': …}``;
- imports Fiddle misses (modules named only inside a set), and ``as`` names for imports of
  different tasks that would bind the same name (``from pa import train``, ``from pb import
  train as train_2``);
- layout: one argument per line, each with a comment saying where it was set
  (``# exp.yaml:12`` or ``# override: optim.lr=1e-3``), taken from the graph's history
  (the graph is built under ``fiddle.history.custom_location``; the label is used verbatim,
  not through Fiddle's file-name shortening); short calls stay on one line;
- a header naming the source spec, and a ``__main__`` block that builds and calls the task;
- the spec's ``pythonpath``, put on ``sys.path`` before the task's imports, relative to the
  module's own file (as the YAML export writes it relative to its file), so plain
  ``python FILE`` finds the task's code from any directory.
"""

from __future__ import annotations

import copy
import enum
import inspect
import keyword
import math
import pathlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import fiddle as fdl
import libcst as cst
from fiddle._src.codegen import new_codegen
from fiddle._src.codegen.auto_config import code_ir
from fiddle.codegen import py_val_to_cst_converter as pyval

from nemorun.compiler.dumps import relative_path
from nemorun.compiler.manifest import in_order
from nemorun.compiler.pylayout import INDENT, Layout
from nemorun.errors import SpecError, SpecErrors, format_path
from nemorun.schemas.constructs import constant_reference
from nemorun.schemas.source import display_name
from nemorun.schemas.spec import Spec

_RENAMED = "_nemorun_keyword_"


@pyval.register_py_val_to_cst_converter(lambda v: isinstance(v, pathlib.PurePath))
def _convert_path(value: Any, convert: Any) -> cst.BaseExpression:
    return cst.Call(
        func=cst.Attribute(value=cst.Name("pathlib"), attr=cst.Name("Path")),
        args=[cst.Arg(convert(str(value)))],
    )


def _in_order(values: Any) -> list[Any]:
    return sorted(values, key=lambda v: (type(v).__name__, repr(v)))


@pyval.register_py_val_to_cst_converter(set)
def _convert_set(value: set[Any], convert: Any) -> cst.BaseExpression:
    if not value:
        return cst.Call(func=cst.Name("set"))
    return cst.Set([cst.Element(convert(v)) for v in _in_order(value)])


@pyval.register_py_val_to_cst_converter(frozenset)
def _convert_frozenset(value: frozenset[Any], convert: Any) -> cst.BaseExpression:
    args = [cst.Arg(_convert_set(set(value), convert))] if value else []
    return cst.Call(func=cst.Name("frozenset"), args=args)


@pyval.register_py_val_to_cst_converter(
    lambda v: isinstance(v, float) and not math.isfinite(v), priority=200
)
def _convert_nonfinite(value: float, convert: Any) -> cst.BaseExpression:
    return cst.parse_expression(f"float({str(value)!r})")


@pyval.register_py_val_to_cst_converter(lambda v: constant_reference(v) is not None)
def _convert_constant(value: Any, convert: Any) -> cst.BaseExpression:
    """``torch.float16``: a module's constant, by name (the module is imported whole)."""
    module, name = constant_reference(value) or ("", "")
    return cst.parse_expression(f"{module}.{name}")


def python_module(spec: Spec, dest_dir: Path) -> str:
    """The text of a module defining ``build()`` (one ``build_<task>()`` per task);
    ``dest_dir`` is where it will live (the spec's pythonpath is written relative to it).

    A sweep has no single graph: it is refused, and the error says how to pick one point."""
    from nemorun.compiler.graph import task_graph

    if spec.is_sweep():
        axes = ", ".join(format_path(a.path) for a in spec.axes)
        raise SpecErrors(
            [
                SpecError(
                    f"a Python export holds one run, and this spec sweeps {axes}",
                    file=str(spec.resolved.source),
                    suggestion="pick one point, e.g. add '~sweep' and 'KEY=VALUE' overrides, "
                    "or export --format yaml to keep the sweep",
                )
            ]
        )
    imports: list[str] = []
    bodies: list[str] = []
    names: list[str] = []
    bound: dict[str, tuple[str, ...]] = {}
    for name, task in spec.tasks.items():
        fn = "build" if spec.single_task else f"build_{_identifier(name)}"
        names.append(fn)
        graph, renamed = _rename_keywords(task_graph(spec, task))
        code = _codegen(graph, fn)
        extra = [f"import {m}" for m in _modules_in_sets(graph) + _constant_modules(graph)]
        module = cst.parse_module("\n".join(extra) + "\n" + code).visit(Layout(renamed))
        module = _unclash(module, bound)
        for statement in module.body:
            text = cst.Module(body=[statement]).code.strip()
            if _is_import(statement):
                if text not in imports:
                    imports.append(text)
            else:
                bodies.append(text)
    source = "\n\n\n".join(bodies)
    if re.search(r"\bpathlib\.", source) and "import pathlib" not in imports:
        imports.insert(0, "import pathlib")
    return _assemble(spec, dest_dir, imports, bodies, _run_order(spec, names))


def _is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and isinstance(
        statement.body[0], (cst.Import, cst.ImportFrom)
    )


def _modules_in_sets(graph: Any) -> list[str]:
    """Modules named by enum members and callables inside sets (Fiddle's codegen writes those
    with their full module path and does not import them)."""
    found: set[str] = set()

    def element(value: Any) -> None:
        if isinstance(value, tuple):
            for item in value:
                element(item)
        elif isinstance(value, enum.Enum):
            found.add(type(value).__module__)
        elif isinstance(value, type) or inspect.isroutine(value):
            found.add(value.__module__)

    def walk(node: Any) -> None:
        if isinstance(node, (set, frozenset)):
            for item in node:
                element(item)
        elif isinstance(node, (list, tuple)):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)

    for buildable in _buildables(graph):
        for value in buildable.__arguments__.values():
            walk(value)
    return sorted(found - {"builtins", "__main__"})


def _constant_modules(graph: Any) -> list[str]:
    """Modules whose constants (`constant_reference`) the graph holds, imported whole."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        constant = constant_reference(node)
        if constant is not None:
            found.add(constant[0])
        elif isinstance(node, (list, tuple, set, frozenset)):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)

    for buildable in _buildables(graph):
        for value in buildable.__arguments__.values():
            walk(value)
    return sorted(found)


def _binding(alias: cst.ImportAlias, statement: cst.Import | cst.ImportFrom) -> tuple[str, Any]:
    """The name an import binds, and what it binds it to."""
    full = cst.Module(body=[]).code_for_node(alias.name)
    if isinstance(statement, cst.ImportFrom):
        module = cst.Module(body=[]).code_for_node(statement.module) if statement.module else ""
        what: tuple[str, ...] = ("from", "." * len(statement.relative) + module, full)
    elif alias.asname is None:
        return full.split(".")[0], ("import", full.split(".")[0])
    else:
        what = ("import", full)
    name = alias.asname.name if alias.asname is not None else alias.name
    assert isinstance(name, cst.Name)
    return name.value, what


def _unclash(module: cst.Module, bound: dict[str, tuple[str, ...]]) -> cst.Module:
    """Rename this task's imports that bind a name another task's imports bind differently
    (``from pa import train`` and ``from pb import train``), and their uses."""
    renames: dict[str, str] = {}
    for statement in module.body:
        if not _is_import(statement):
            continue
        assert isinstance(statement, cst.SimpleStatementLine)
        node = statement.body[0]
        assert isinstance(node, (cst.Import, cst.ImportFrom))
        if isinstance(node.names, cst.ImportStar):
            continue
        for alias in node.names:
            name, what = _binding(alias, node)
            if bound.setdefault(name, what) == what:
                continue
            if alias.asname is None and isinstance(node, cst.Import):
                continue  # ``import a.b`` binds ``a``: renaming it would change every use
            n = 2
            while f"{name}_{n}" in bound:
                n += 1
            renames[name] = f"{name}_{n}"
            bound[renames[name]] = what
    return module.visit(_Rename(renames)) if renames else module


class _Rename(cst.CSTTransformer):
    """Rename module-level names and the imports that bind them (not attributes or keywords)."""

    def __init__(self, renames: dict[str, str]) -> None:
        self.renames = renames

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.renames.get(updated.value, updated.value))

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.Attribute:
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)

    def leave_ImportAlias(
        self, original: cst.ImportAlias, updated: cst.ImportAlias
    ) -> cst.ImportAlias:
        bound = original.asname.name if original.asname is not None else original.name
        if isinstance(bound, cst.Name) and bound.value in self.renames:
            new = cst.Name(self.renames[bound.value])
            return original.with_changes(asname=cst.AsName(name=new))
        return original

    def leave_FunctionDef(
        self, original: cst.FunctionDef, updated: cst.FunctionDef
    ) -> cst.FunctionDef:
        return updated.with_changes(name=original.name)

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        return updated.with_changes(module=original.module)


def _codegen(graph: Any, fn: str) -> str:
    """Fiddle's code for ``graph`` as ``def fn()``, with our provenance labels as comments."""
    config = new_codegen.code_generator.as_buildable(
        top_level_fixture_name=fn, include_history=True
    )
    for codegen_pass in config.passes:
        if fdl.get_callable(codegen_pass) is new_codegen.MakeSymbolicReferences:
            codegen_pass.format_history = _history_comments
    return fdl.build(config)(graph, sub_fixtures={}).code


def _history_comments(buildable: Any) -> code_ir.HistoryComments:
    """The label each argument was last set under (graph.py sets one per argument)."""
    per_field = {}
    for name, entries in buildable.__argument_history__.items():
        if entries:
            per_field[name] = _one_line(entries[-1].location.filename)
    return code_ir.HistoryComments(per_field)


def _one_line(text: str) -> str:
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _rename_keywords(graph: Any) -> tuple[Any, dict[str, str]]:
    """``graph`` with arguments that cannot be written ``name=…`` renamed (in a copy)."""

    def bad(name: Any) -> bool:
        return isinstance(name, str) and (not name.isidentifier() or keyword.iskeyword(name))

    buildables = _buildables(graph)
    if not any(bad(name) for b in buildables for name in b.__arguments__):
        return graph, {}
    graph = copy.deepcopy(graph)
    renamed: dict[str, str] = {}
    for buildable in _buildables(graph):
        arguments = buildable.__arguments__
        if not any(bad(name) for name in arguments):
            continue
        history = buildable.__argument_history__
        items = list(arguments.items())
        arguments.clear()
        for name, value in items:
            if bad(name):
                new = f"{_RENAMED}{len(renamed)}"
                renamed[new] = name
                if name in history:
                    history[new] = history.pop(name)
                name = new
            arguments[name] = value
    return graph, renamed


def _buildables(value: Any) -> list[Any]:
    found: dict[int, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, fdl.Buildable):
            if id(node) in found:
                return
            found[id(node)] = node
            for item in node.__arguments__.values():
                walk(item)
        elif isinstance(node, (list, tuple, set, frozenset)):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            for item in node.values():
                walk(item)

    walk(value)
    return list(found.values())


def _assemble(
    spec: Spec, dest_dir: Path, imports: list[str], bodies: list[str], calls: list[str]
) -> str:
    files = [str(spec.resolved.source)]
    files += [display_name(f) for f in spec.resolved.files[1:]]
    header = [
        f"# Built from the nemorun spec {files[0]}"
        + (f" (extends {', '.join(files[1:])})" if len(files) > 1 else "")
        + ".",
    ]
    if spec.resolved.overrides:
        header.append("# Overrides: " + " ".join(spec.resolved.overrides))
    header = [_one_line(line) for line in header]
    header.append("# Run it with plain Python: python this_file.py")
    title = spec.description or spec.name or "Experiment"
    title = _one_line(title.replace("\\", "\\\\").replace('"', '\\"'))
    doc = f'"""{title}: the task as a Fiddle graph."""'
    main = ["", "", "", 'if __name__ == "__main__":']
    main += [f"{INDENT}fdl.build({call}())()" for call in calls]
    return (
        "\n".join(header)
        + "\n"
        + doc
        + "\n\n"
        + _pythonpath(spec, dest_dir, imports)
        + "\n".join(_sorted_imports(imports))
        + "\n\n\n"
        + "\n\n\n".join(bodies)
        + "\n".join(main)
        + "\n"
    )


def _pythonpath(spec: Spec, dest_dir: Path, imports: list[str]) -> str:
    """Statements putting the spec's pythonpath first on ``sys.path`` (and taking the imports
    they need out of ``imports``), or nothing when the spec has none."""
    if not spec.pythonpath:
        return ""
    for line in ("import pathlib", "import sys"):
        if line in imports:
            imports.remove(line)
    entries = [relative_path(p, dest_dir) for p in spec.pythonpath]
    items = "".join(f"{INDENT}str(_HERE / {e!r}),\n" for e in entries)
    return (
        "import pathlib\nimport sys\n\n"
        "# The spec's pythonpath, relative to this file: where the task's code is.\n"
        "_HERE = pathlib.Path(__file__).resolve().parent\n"
        f"sys.path[:0] = [\n{items}]\n\n"
    )


def _sorted_imports(imports: list[str]) -> list[str]:
    """Standard-library imports first, then the rest (a blank line between), as isort does."""

    def module(line: str) -> str:
        return line.split()[1].split(".")[0]

    groups: list[list[str]] = [[], []]
    for line in imports:
        groups[module(line) not in sys.stdlib_module_names].append(line)
    ordered = [
        sorted(group, key=lambda line: (line.startswith("from "), line.split()[1].lower()))
        for group in groups
    ]
    return [*ordered[0], *([""] if all(ordered) else []), *ordered[1]]


def _run_order(spec: Spec, names: list[str]) -> list[str]:
    """Task builders in the order the tasks run (`in_order`: ``after:`` first)."""
    by_task = dict(zip(spec.tasks, names))
    return [by_task[t] for t in in_order(list(spec.tasks), lambda t: spec.tasks[t].after)]


def _identifier(name: str) -> str:
    text = re.sub(r"\W", "_", name)
    return text if text and not text[0].isdigit() else f"task_{text}"


__all__: Sequence[str] = ["python_module"]
