"""Export a spec as a Python module that builds its Fiddle graph and, run as a script, runs it.

The code comes from ``fiddle.codegen.codegen.new_codegen`` (libcst inside, shared sub-configs
become local variables). This module adds what Fiddle leaves out:
- a converter for `pathlib.Path` values (and the ``import pathlib`` it needs);
- layout: one argument per line, each with a comment saying where it was set
  (``# exp.yaml:12`` or ``# override: optim.lr=1e-3``), taken from the graph's history
  (the graph is built under ``fiddle.history.custom_location``); short calls stay on one line;
- a header naming the source spec, and a ``__main__`` block that builds and calls the task.

A sweep has no single graph: the Python export writes one point and says how to pick it.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Sequence
from typing import Any

import libcst as cst
from fiddle.codegen import codegen
from fiddle.codegen import py_val_to_cst_converter as pyval

from nemorun.errors import SpecError, SpecErrors, format_path
from nemorun.schemas.spec import Spec

INDENT = "    "
ONE_LINE_LIMIT = 72
_HISTORY = re.compile(r"^#\s*Set in (.*):0:None$")


@pyval.register_py_val_to_cst_converter(lambda v: isinstance(v, pathlib.PurePath))
def _convert_path(value: Any, convert: Any) -> cst.BaseExpression:
    return cst.Call(
        func=cst.Attribute(value=cst.Name("pathlib"), attr=cst.Name("Path")),
        args=[cst.Arg(convert(str(value)))],
    )


def python_module(spec: Spec) -> str:
    """The text of a module defining ``build()`` (one ``build_<task>()`` per task)."""
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
    for name, task in spec.tasks.items():
        fn = "build" if spec.single_task else f"build_{_identifier(name)}"
        names.append(fn)
        code = codegen.new_codegen(
            task_graph(spec, task), top_level_fixture_name=fn, include_history=True
        )
        module = cst.parse_module(code).visit(_Layout())
        for statement in module.body:
            text = cst.Module(body=[statement]).code.strip()
            if isinstance(statement, cst.SimpleStatementLine) and isinstance(
                statement.body[0], (cst.Import, cst.ImportFrom)
            ):
                if text not in imports:
                    imports.append(text)
            else:
                bodies.append(text)
    source = "\n\n\n".join(bodies)
    if re.search(r"\bpathlib\.", source) and "import pathlib" not in imports:
        imports.insert(0, "import pathlib")
    return _assemble(spec, imports, bodies, _run_order(spec, names))


def _assemble(spec: Spec, imports: list[str], bodies: list[str], calls: list[str]) -> str:
    files = [str(spec.resolved.source)]
    files += [str(f) for f in spec.resolved.files[1:]]
    header = [
        f"# Built from the nemorun spec {files[0]}"
        + (f" (extends {', '.join(files[1:])})" if len(files) > 1 else "")
        + ".",
    ]
    if spec.resolved.overrides:
        header.append("# Overrides: " + " ".join(spec.resolved.overrides))
    header.append("# Run it with plain Python: python this_file.py")
    doc = f'"""{spec.description or spec.name or "Experiment"}: the task as a Fiddle graph."""'
    main = ["", "", "", 'if __name__ == "__main__":']
    main += [f"{INDENT}fdl.build({call}())()" for call in calls]
    return (
        "\n".join(header)
        + "\n"
        + doc
        + "\n\n"
        + "\n".join(_sorted_imports(imports))
        + "\n\n\n"
        + "\n\n\n".join(bodies)
        + "\n".join(main)
        + "\n"
    )


def _sorted_imports(imports: list[str]) -> list[str]:
    return sorted(imports, key=lambda line: (line.startswith("from "), line.lower()))


def _run_order(spec: Spec, names: list[str]) -> list[str]:
    """Task builders in dependency order (``after:`` first)."""
    by_task = dict(zip(spec.tasks, names))
    done: list[str] = []

    def visit(task: str) -> None:
        if task in done:
            return
        for dep in spec.tasks[task].after:
            visit(dep)
        done.append(task)

    for task in spec.tasks:
        visit(task)
    return [by_task[t] for t in done]


def _identifier(name: str) -> str:
    text = re.sub(r"\W", "_", name)
    return text if text and not text[0].isdigit() else f"task_{text}"


class _Layout(cst.CSTTransformer):
    """One argument per line with its provenance comment; short comment-free calls inline."""

    def __init__(self) -> None:
        self.depth = 0

    def visit_Call(self, node: cst.Call) -> bool:
        self.depth += 1
        return True

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        depth = self.depth
        self.depth -= 1
        comments = [_comment_of(arg) for arg in updated.args]
        inline = _inline(updated)
        if not any(comments) and len(cst.Module(body=[]).code_for_node(inline)) <= ONE_LINE_LIMIT:
            return inline
        args = []
        for i, (arg, comment) in enumerate(zip(updated.args, comments)):
            last = i == len(updated.args) - 1
            after = cst.ParenthesizedWhitespace(
                first_line=cst.TrailingWhitespace(
                    whitespace=cst.SimpleWhitespace("  " if comment else ""),
                    comment=cst.Comment(comment) if comment else None,
                ),
                indent=True,
                last_line=cst.SimpleWhitespace(INDENT * (depth - 1 if last else depth)),
            )
            args.append(
                arg.with_changes(
                    comma=cst.Comma(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=after),
                    whitespace_after_arg=cst.SimpleWhitespace(""),
                )
            )
        return updated.with_changes(
            args=args,
            whitespace_before_args=cst.ParenthesizedWhitespace(
                first_line=cst.TrailingWhitespace(),
                indent=True,
                last_line=cst.SimpleWhitespace(INDENT * depth),
            ),
        )


def _comment_of(arg: cst.Arg) -> str | None:
    texts: list[str] = []
    for ws in (arg.whitespace_after_arg, arg.comma.whitespace_after if arg.comma else None):
        if isinstance(ws, cst.ParenthesizedWhitespace) and ws.first_line.comment is not None:
            texts.append(ws.first_line.comment.value)
    for text in texts:
        match = _HISTORY.match(text.strip())
        if match:
            return f"# {match.group(1)}"
    return None


def _inline(call: cst.Call) -> cst.Call:
    args = []
    for i, arg in enumerate(call.args):
        last = i == len(call.args) - 1
        comma: Any = (
            cst.MaybeSentinel.DEFAULT
            if last
            else cst.Comma(
                whitespace_before=cst.SimpleWhitespace(""),
                whitespace_after=cst.SimpleWhitespace(" "),
            )
        )
        args.append(arg.with_changes(comma=comma, whitespace_after_arg=cst.SimpleWhitespace("")))
    return call.with_changes(args=args, whitespace_before_args=cst.SimpleWhitespace(""))


__all__: Sequence[str] = ["python_module"]
