"""The job's entry point: plain generated Python that calls the task, without nemorun.

The job needs the task's code and its dependencies, never nemorun or Fiddle. A `Call` shared in
the spec (a YAML alias) becomes one variable, built once; ``${oc.env:…}`` becomes a read of
``os.environ`` converted to the annotated type where the job runs (see `pysource`).

**Sweeps: one entry and its axes, never code per point.** Each sweep axis names a place in
the task's call tree, a *hole*; the entry is written once with ``at[i]`` in hole ``i``, and
``NEMORUN_POINT`` (``$SLURM_ARRAY_TASK_ID`` on Slurm) picks the point. A cartesian sweep (no
interpolation resolved again per point) lists each axis's values in ``AXES`` (a ``lambda``
when a value builds objects or reads the environment) and decodes the point index into one
value per axis: it costs the sum of the axes, not their product. Each value is validated once:
alone at its argument's place (`Spec.axis_values`), or, when it may change the task's shape,
as the spec with the other axes at their first value, whose call tree must print like point
0's outside its hole. A sweep whose values feed interpolations is validated point by point,
with a ``POINTS`` row per point. A point that differs outside its holes is a located error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from nemorun.compiler.holes import (
    builds,
    hole_choices,
    holes_of_axes,
    interpolated_holes,
    locate,
    varying_holes,
)
from nemorun.compiler.points import Point, Points
from nemorun.compiler.pysource import (
    HELPERS,
    INDENT,
    Doc,
    Names,
    Writer,
    layout,
)
from nemorun.compiler.sweep_tables import (
    THIS_POINT,
    THIS_PRODUCT_POINT,
    axis_tables,
    check_values,
    point_tables,
)
from nemorun.errors import KeyPath, SpecError, format_path
from nemorun.schemas.convert import Call
from nemorun.schemas.spec import Spec, SweepAxis, validate_points, validate_tree


@dataclass(frozen=True)
class EntryPoint:
    """The generated module, and the points it can run."""

    source: str
    points: Points

    def is_sweep(self) -> bool:
        return len(self.points) > 1 or bool(self.points and self.points[0].values)


def entry_point(spec: Spec) -> EntryPoint:
    """The entry module of ``spec``'s task (all its sweep points).

    For ``configs/quickstart.yaml`` it reads::

        from trainlib.loop import ModelConfig, OptimConfig, train


        def main():
            train(model=ModelConfig(hidden_size=32), optim=OptimConfig(lr=0.05), steps=60)
    """
    task = spec.task
    if not spec.single_task or task.call is None:
        what = "several tasks" if not spec.single_task else "a script or command task"
        raise SpecError(
            f"no Python entry point for {what}", suggestion="compile a single Python task"
        )
    points = sweep_points(spec)
    if _is_product(spec):
        return _product_entry(spec, points)
    specs = list(specs_at(spec, list(spec.points())))
    _check_run_settings(specs, points)
    trees = [_call_of(s) for s in specs]
    axis_holes = holes_of_axes(spec, trees)
    holes = axis_holes + interpolated_holes(spec, trees, axis_holes)
    names = Names()
    choices, lazy, rows, axis_helpers = hole_choices(holes, trees, names)
    holes, choices, lazy, rows = varying_holes(holes, choices, lazy, rows, len(axis_holes))
    refs = [f"at[{i}]()" if lazy[i] else f"at[{i}]" for i in range(len(holes))]
    shared = _shared(trees[0])
    var_names = [_variable_name(call, names) for call in shared]
    body, helpers = _body(trees[0], shared, var_names, holes, refs, names)
    for n, tree in enumerate(trees[1:], start=1):
        _check_same_body(tree, shared, var_names, holes, refs, names, body, points[n])
    helpers = helpers | axis_helpers
    tables = point_tables(holes, choices, lazy, rows, points)
    source = _assemble(spec, names, body, helpers, tables, len(points))
    compile(source, "<nemorun entry>", "exec")  # a bug here must never reach a cluster
    return EntryPoint(source, points)


def _is_product(spec: Spec) -> bool:
    """True when the points are the plain cartesian product of the axes: no interpolation is
    resolved again per point, so a value of one axis never changes what another puts in place.
    Then each value is validated once (with the other axes at their first value), and the
    entry holds the axes only: the point index decodes into one value per axis."""
    from nemorun.schemas.places import may_interpolate

    if not spec.axes or spec.resolved.interpolations:
        return False
    return not any(may_interpolate(axis.values) for axis in spec.axes)


def _product_entry(spec: Spec, points: Points) -> EntryPoint:
    """The entry of a cartesian sweep: point 0's call tree, with each axis's values in its
    hole. Values converted at their place (`Spec.axis_values`) go in as they are; each other
    value comes from its spec (the other axes at their first value), validated one at a time,
    which must print like point 0 outside its hole; holes never overlap, so every combination
    of those values does too."""
    axes = spec.axes
    first = _call_of(spec)
    holes = holes_of_axes(spec, [first])
    if len(holes) != len(axes):
        raise SpecError(
            "two sweep axes set the same argument",
            axes[-1].path,
            axes[-1].origin,
            suggestion="sweep each argument once",
        )
    names = Names()
    writer = Writer(names)
    plain = [f"at[{i}]" for i in range(len(holes))]  # the body compared, whatever is lazy
    shared = _shared(first)
    var_names = [_variable_name(call, names) for call in shared]
    body = _body(first, shared, var_names, holes, plain, names)[0]
    choices: list[list[Doc]] = [[] for _ in axes]
    lazy = [False for _ in axes]
    converted = _converted(spec)
    others = specs_at(spec, list(_axis_points(axes, [c is None for c in converted])))
    for i, axis in enumerate(axes):
        if converted[i] is not None:  # each value already converted at its place, alone
            for value in converted[i] or ():
                choices[i].append(writer.value(value, holes[i]))
                lazy[i] = lazy[i] or builds(value)
            continue
        for j in range(len(axis)):
            tree = _call_of(next(others)) if j else first
            if j:
                if holes_of_axes(spec, [tree]) != holes:
                    raise SpecError(
                        f"a sweep over '{axis_label(spec, axis.path)}' is not supported yet: "
                        "its values change the shape of the task",
                        axis.path,
                        axis.origin,
                    )
                at = points[j * _stride(axes, i)]
                _check_same_body(tree, shared, var_names, holes, plain, names, body, at)
            _, value = locate(tree, holes[i])
            choices[i].append(writer.value(value, holes[i]))
            lazy[i] = lazy[i] or builds(value)
    refs = [f"at[{i}]()" if lazy[i] else f"at[{i}]" for i in range(len(holes))]
    body, helpers = _body(first, shared, var_names, holes, refs, names)
    helpers = helpers | writer.helpers

    def assemble(choices: list[list[Doc]]) -> str:
        tables = axis_tables(holes, choices, lazy)
        return _assemble(spec, names, body, helpers, tables, len(points), product=True)

    # A bug here must never reach a cluster: the entry compiles, its values checked apart.
    compile(assemble([[] for _ in choices]), "<nemorun entry>", "exec")
    check_values(choices, lazy)
    return EntryPoint(assemble(choices), points)


def _converted(spec: Spec) -> tuple[tuple[Any, ...] | None, ...]:
    """Per axis, its values as validation converted them at their place (`Spec.axis_values`),
    or None where each value's spec is validated here."""
    if len(spec.axis_values) == len(spec.axes):
        return spec.axis_values
    return tuple(None for _ in spec.axes)


def _axis_points(axes: Sequence[SweepAxis], which: Sequence[bool]) -> Iterator[tuple[int, ...]]:
    """Each other value of each axis ``which`` marks, with the other axes at their first."""
    for i, axis in enumerate(axes):
        for j in range(1, len(axis) if which[i] else 1):
            yield tuple(j if k == i else 0 for k in range(len(axes)))


def _stride(axes: Sequence[SweepAxis], k: int) -> int:
    """How many points one step of axis ``k`` skips (the last axis varies fastest)."""
    stride = 1
    for axis in axes[k + 1 :]:
        stride *= len(axis)
    return stride


def _check_same_body(
    tree: Call,
    shared: list[Call],
    var_names: list[str],
    holes: list[KeyPath],
    refs: list[str],
    names: Names,
    body: str,
    point: Point,
) -> None:
    """Refuse a point whose call tree differs from point 0's outside the holes."""
    other = _shared(tree)
    if len(other) != len(shared) or _body(tree, other, var_names, holes, refs, names)[0] != body:
        raise SpecError(
            f"sweep point {point.index} ({point.describe()}) changes the task outside its axes",
            suggestion="a value copied from a swept key (an interpolation) does not follow "
            "the sweep; sweep that key itself",
        )


def _call_of(spec: Spec) -> Call:
    call = spec.task.call
    assert call is not None  # every point has the same kind of task as point 0
    return call


def sweep_points(spec: Spec) -> Points:
    """Every point of the spec's sweep (one point without values when it has none)."""
    return Points(tuple(axis_label(spec, a.path) for a in spec.axes), tuple(spec.axes))


def spec_at(spec: Spec, point: tuple[int, ...]) -> Spec:
    """The validated spec at ``point``.

    ``Spec.at_point`` re-reads the ``sweep:`` key on top of axes that already hold it, so its
    spec axes count twice; rebuilding the input with the command-line axes only avoids that.
    """
    if point == spec.point:
        return spec
    r = spec.resolved
    cli_axes = [a for a in spec.axes if a.source != "spec"]
    return validate_tree(replace(r, axes=cli_axes), point)


def specs_at(spec: Spec, points: list[tuple[int, ...]]) -> Iterator[Spec]:
    """`spec_at` for each of ``points``, one at a time, validated as one batch
    (`validate_points`): the caller keeps only the specs it needs."""
    r = spec.resolved
    cli_axes = [a for a in spec.axes if a.source != "spec"]
    others = [p for p in points if p != spec.point]
    batch = validate_points(replace(r, axes=cli_axes), others, spec)
    return (spec if p == spec.point else next(batch) for p in points)


def axis_label(spec: Spec, path: KeyPath) -> str:
    """An axis as the user would override it: ``optim.lr`` for ``task.optim.lr``."""
    prefix = spec.task.path
    inner = path[len(prefix) :] if path[: len(prefix)] == prefix else path
    return format_path(inner)


def _check_run_settings(specs: list[Spec], points: Points) -> None:
    """Settings outside the task (name, executor…) are one for the whole run: an
    interpolation there that reads a swept key cannot follow the sweep."""
    from nemorun.schemas.compose import get_path

    first = specs[0]
    prefix = first.task.path
    for path, text in first.resolved.interpolations:
        if path[: len(prefix)] == prefix:
            continue
        try:
            values = [get_path(s.tree, path) for s in specs]
        except KeyError:
            continue
        for n, value in enumerate(values[1:], start=1):
            if value != values[0]:
                raise SpecError(
                    f"{text!r} reads a swept key, so it differs between sweep points "
                    f"({values[0]!r} at point 0, {value!r} at point {n}: "
                    f"{points[n].describe()}), but '{format_path(path)}' is one setting "
                    "for the whole run",
                    path,
                    first.resolved.origins.get(path),
                    suggestion="interpolate the swept key inside the task's arguments, or "
                    "use $NEMORUN_POINT where the job runs",
                )


def _body(
    tree: Call,
    shared: list[Call],
    var_names: list[str],
    holes: list[KeyPath],
    refs: list[str],
    names: Names,
) -> tuple[str, set[str]]:
    """The statements of ``main()``: shared calls as variables, then the task's call."""
    hole_keys = {locate(tree, hole)[0]: ref for hole, ref in zip(holes, refs)}
    variables = {id(call): name for call, name in zip(shared, var_names)}
    writer = Writer(names, hole_keys, variables)
    lines = []
    for call in shared:
        name = variables.pop(id(call))  # written out here, referred to by name after
        doc = writer.call(call, call.path)
        lines.append(f"{name} = {layout(doc, INDENT, len(INDENT + name) + 3)}")
        variables[id(call)] = name
    lines.append(layout(writer.call(tree, tree.path, called=True), INDENT))
    return "\n".join(INDENT + line for line in lines), writer.helpers


def _shared(tree: Call) -> list[Call]:
    """Calls reached more than once, dependencies first."""
    counts: dict[int, int] = {}
    order: list[Call] = []

    def visit(value: Any) -> None:
        if isinstance(value, Call):
            counts[id(value)] = counts.get(id(value), 0) + 1
            if counts[id(value)] == 1:
                for arg in value.args.values():
                    visit(arg)
                order.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                visit(item)

    visit(tree)
    return [c for c in order if counts[id(c)] > 1 and c is not tree]


def _variable_name(call: Call, names: Names) -> str:
    base = re.sub(r"(?<!^)(?=[A-Z])", "_", getattr(call.target, "__name__", "value")).lower()
    base = re.sub(r"\W+", "_", base).strip("_") or "value"
    name, n = base, 1
    while name in names.taken:
        n += 1
        name = f"{base}_{n}"
    names.taken.add(name)
    return name


def _assemble(
    spec: Spec,
    names: Names,
    body: str,
    helpers: set[str],
    tables: list[str],
    count: int,
    product: bool = False,
) -> str:
    sweep = bool(tables)
    if sweep:
        names.module("os")
        names.module("sys")
        helpers = {*helpers, "_this_point"}
    modules = sorted({module.split(".")[0] for module, _ in names.local})
    run_name = spec.name or spec.resolved.source.stem
    out = [
        f"# Entry point of the job {run_name!r}, generated by nemorun from "
        f"{json.dumps(str(spec.resolved.source), ensure_ascii=False)}.",
        f"# Plain Python: it needs the task's code ({', '.join(modules) or 'the standard library'})"
        ", not nemorun. Do not edit: recompile.",
    ]
    if sweep:
        out.append(f"# A sweep of {count} points; NEMORUN_POINT (0 to {count - 1}) picks one.")
    if "env_value" in helpers:  # its annotations name types the entry does not import
        out += ["", "from __future__ import annotations"]
    out += ["", *names.import_lines(), "", ""]
    out += tables
    out += ["def main():"]
    if sweep:
        out.append(f"{INDENT}at = _this_point()")
    out += [body, "", ""]
    this_point = THIS_PRODUCT_POINT if product else THIS_POINT
    for helper in sorted(helpers):
        out += [HELPERS[helper] if helper != "_this_point" else this_point, "", ""]
    out += ['if __name__ == "__main__":', f"{INDENT}main()", ""]
    return "\n".join(out)
