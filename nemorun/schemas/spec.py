"""The spec model: the typed form of a resolved spec tree, and the pass that builds it.

`validate_tree` checks the whole tree in one pass and raises `SpecErrors` holding every mistake.
Task arguments are checked against the task callable's own type hints; ``executor``,
``launcher`` and non-Python tasks against nemorun's option dataclasses, by the same validator.

Sweeps are kept as axes (path → values). The spec is validated at its first point, and every
other value of each axis is checked in place, so a bad sweep value is reported before anything
is expanded. `Spec.at_point` gives the validated spec of any point of the product.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nemorun.errors import (
    Collector,
    KeyPath,
    Origin,
    SpecError,
    SpecErrors,
    did_you_mean,
)
from nemorun.schemas.convert import INVALID, Validator
from nemorun.schemas.entries import (
    TaskSpec,
    env_read_by_nemorun,
    instantiate,
    own_options,
    task_parameters,
    validate_executor,
    validate_tasks,
)
from nemorun.schemas.imports import search_path
from nemorun.schemas.layout import PACKAGERS, TASK_ENTRY_KEYS, TOP_LEVEL_KEYS, task_path
from nemorun.schemas.options import ExecutorOptions, LauncherOptions
from nemorun.schemas.source import find_origin, value_origin
from nemorun.schemas.sweeps import (
    MAX_POINTS,
    SweepAxis,
    all_axes,
    copy_along,
    point_origins,
    put_value,
)

__all__ = [  # the spec model's users import these from here; each has its home module
    "MAX_POINTS",
    "PACKAGERS",
    "TASK_ENTRY_KEYS",
    "TOP_LEVEL_KEYS",
    "Resolved",
    "Spec",
    "SweepAxis",
    "TaskSpec",
    "task_path",
    "validate_points",
    "validate_tree",
]


@dataclass
class Resolved:
    """A spec tree after extends, overrides and interpolation: the input to validation."""

    tree: dict[str, Any]
    origins: dict[KeyPath, Origin]
    source: Path
    files: list[Path] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    axes: list[SweepAxis] = field(default_factory=list)
    """Sweep axes from the command line; the spec's own ``sweep:`` is read in validation."""
    interpolations: tuple[tuple[KeyPath, str], ...] = ()
    """The interpolated strings of ``tree`` as written (path, text): each sweep point
    resolves them again against its own values."""

    def view(self, tree: dict[str, Any], origins: dict[KeyPath, Origin]) -> Resolved:
        """The same input with another tree and origins (a point's, or a task's)."""
        return replace(self, tree=tree, origins=origins)


@dataclass
class Spec:
    """A validated spec, at one point of its sweep."""

    resolved: Resolved
    tree: dict[str, Any]
    """The resolved tree at this point (sweep values filled in)."""
    name: str | None
    description: str | None
    tasks: dict[str, TaskSpec]
    single_task: bool
    target: str
    executor: ExecutorOptions
    launcher: LauncherOptions
    axes: list[SweepAxis]
    packager: str
    pythonpath: list[Path]
    point: tuple[int, ...] = ()
    warnings: list[str] = field(default_factory=list)
    templates: Path | None = None
    """A directory of the user's own templates, searched before nemorun's (``templates:``)."""

    def num_points(self) -> int:
        n = 1
        for axis in self.axes:
            n *= len(axis)
        return n

    def is_sweep(self) -> bool:
        return bool(self.axes)

    def points(self) -> Iterator[tuple[int, ...]]:
        """Index tuples of every point, in cartesian order (last axis fastest)."""
        return itertools.product(*(range(len(a)) for a in self.axes))

    def at_point(self, point: tuple[int, ...]) -> Spec:
        """The validated spec with each axis at the given value index."""
        return validate_tree(self.resolved, point)

    @property
    def task(self) -> TaskSpec:
        """The only task of a single-task spec (the first task otherwise)."""
        return next(iter(self.tasks.values()))


def validate_tree(resolved: Resolved, point: tuple[int, ...] | None = None) -> Spec:
    """Check ``resolved`` and return its typed `Spec` (at ``point``, default the first)."""
    errors = Collector()
    tree = resolved.tree
    axes = all_axes(resolved, errors)
    if point is None:
        point = tuple(0 for _ in axes)
    pythonpath = _pythonpath(tree, resolved, errors)
    with search_path(pythonpath):
        spec = _validate_point(resolved, axes, point, pythonpath, errors)
        if point == tuple(0 for _ in axes):
            _check_other_sweep_values(resolved, axes, pythonpath, errors, spec)
    errors.raise_if_any()
    assert spec is not None
    return spec


def validate_points(
    resolved: Resolved, points: Iterable[tuple[int, ...]], first: Spec | None = None
) -> Iterator[Spec]:
    """The validated spec at each of ``points``, one at a time: ``validate_tree(resolved, p)``
    for each, but reading the sweep axes and ``pythonpath`` and setting up the import path once
    for all (the caller keeps only the specs it needs).

    Unlike `validate_tree` at the first point, it does not check the other sweep values again
    (that spec's own validation did). ``first``: the spec at the first point, whose settings
    outside the tasks the points share when only task arguments are swept. Each point raises
    its own `SpecErrors`, in order.
    """
    errors = Collector()
    axes = all_axes(resolved, errors)
    pythonpath = _pythonpath(resolved.tree, resolved, errors)
    errors.raise_if_any()
    base = point_origins(resolved.origins)
    with search_path(pythonpath):
        for point in points:
            errors = Collector()
            spec = _validate_point(resolved, axes, point, pythonpath, errors, base, first)
            errors.raise_if_any()
            assert spec is not None
            yield spec


def _validate_point(
    resolved: Resolved,
    axes: list[SweepAxis],
    point: tuple[int, ...],
    pythonpath: list[Path],
    errors: Collector,
    base_origins: dict[KeyPath, Origin] | None = None,
    first: Spec | None = None,
) -> Spec | None:
    """The spec at ``point``. Without interpolations to resolve again, the tree is copied only
    along the swept paths (the rest, the ``sweep:`` lists included, is shared, never changed)
    and the origins start from ``base_origins`` (``resolved.origins`` without the origins of the
    ``sweep:`` values, see `point_origins`): a point costs the size of the spec, not of the
    sweep. Given ``first`` (the spec at the first point) and axes that all set task arguments,
    only the tasks are validated again: the rest of the tree is ``first``'s, shared unchanged."""
    tree = resolved.tree
    origins = resolved.origins
    if axes or _unresolved(resolved):
        from nemorun.schemas.interpolate import needs_interpolation, reinterpolate

        values = [axis.values[index] for axis, index in zip(axes, point)]
        interpolated = bool(resolved.interpolations) or needs_interpolation(values)
        if interpolated:
            tree = copy.deepcopy(tree)
        else:
            tree = copy_along(tree, [axis.path for axis in axes])
        origins = dict(origins if base_origins is None else base_origins)

        def assign(tree: dict[str, Any]) -> None:
            for axis, index in zip(axes, point):
                put_value(tree, axis.path, axis.values[index], errors, axis.origin)
                origin_here = axis.origin_of(index)
                if origin_here is not None:
                    for stale in [p for p in origins if p[: len(axis.path)] == axis.path]:
                        del origins[stale]
                    origins[axis.path] = origin_here

        if interpolated:
            try:
                reinterpolate(tree, origins, resolved.interpolations, assign)
            except SpecErrors as exc:
                errors.extend(exc.errors)
                return None
        else:
            assign(tree)
            if first is not None and all(axis.path[0] in ("task", "tasks") for axis in axes):
                return _revalidate_tasks(first, resolved.view(tree, origins), point, errors)
    return _validate_top(resolved.view(tree, origins), tree, axes, point, pythonpath, errors)


def _revalidate_tasks(
    first: Spec, resolved: Resolved, point: tuple[int, ...], errors: Collector
) -> Spec | None:
    """``first`` at ``point``, where only task arguments differ: its tasks validated again."""
    v = Validator(resolved.origins, errors)
    tasks = validate_tasks(v, resolved.tree, errors)
    if tasks is None:
        return None
    warnings = list(dict.fromkeys([*first.warnings, *v.warnings]))
    return replace(
        first, resolved=resolved, tree=resolved.tree, tasks=tasks, point=point, warnings=warnings
    )


def _unresolved(resolved: Resolved) -> bool:
    """True when an interpolation was left as written, to be resolved at the sweep's points
    (see `resolve_interpolations`): a spec without axes, such as one task of a multi-task
    spec, must resolve (or refuse) it too."""
    from nemorun.schemas.compose import get_path

    for path, text in resolved.interpolations:
        try:
            if get_path(resolved.tree, path) == text:
                return True
        except KeyError:
            continue
    return False


def _validate_top(
    resolved: Resolved,
    tree: dict[str, Any],
    axes: list[SweepAxis],
    point: tuple[int, ...],
    pythonpath: list[Path],
    errors: Collector,
) -> Spec | None:
    origins = resolved.origins
    v = Validator(origins, errors)
    _unknown_top_keys(tree, origins, errors)
    name = _run_name(v, tree)
    description = _optional_str(v, tree, "description")
    packager = tree.get("packager", "none")
    if packager not in PACKAGERS:
        errors.add(
            SpecError(
                "unknown packager",
                ("packager",),
                value_origin(origins, ("packager",)),
                expected="one of " + ", ".join(repr(p) for p in PACKAGERS),
                found=repr(packager),
                suggestion=did_you_mean(str(packager), PACKAGERS),
            )
        )
    target, executor = validate_executor(v, tree.get("executor"), ("executor",), errors)
    launcher_raw = tree.get("launcher") or {}
    launcher = instantiate(own_options(v, launcher_raw, LauncherOptions, ("launcher",)))
    tasks = validate_tasks(v, tree, errors)
    if launcher is INVALID:
        launcher = LauncherOptions()
    if tasks is None or executor is None:
        return None
    return Spec(
        resolved=resolved,
        tree=tree,
        name=name,
        description=description,
        tasks=tasks,
        single_task="task" in tree,
        target=target,
        executor=executor,
        launcher=launcher,
        axes=axes,
        packager=packager if packager in PACKAGERS else "none",
        pythonpath=pythonpath,
        point=point,
        templates=_templates(v, tree, resolved),
        warnings=list(dict.fromkeys(v.warnings)),
    )


def _unknown_top_keys(
    tree: dict[str, Any], origins: dict[KeyPath, Origin], errors: Collector
) -> None:
    """An error at each key that is not a top-level key, with a task argument's new place."""
    task_params = task_parameters(tree)
    for key in tree:
        if key not in TOP_LEVEL_KEYS:
            if key in task_params:
                hint: str | None = f"'{key}' is an argument of the task: move it under 'task:'"
            else:
                hint = did_you_mean(str(key), TOP_LEVEL_KEYS) or "task arguments go under 'task:'"
            errors.add(
                SpecError(
                    "unknown top-level key",
                    (key,),
                    find_origin(origins, (key,)),
                    expected="one of " + ", ".join(TOP_LEVEL_KEYS),
                    suggestion=hint,
                )
            )


def _run_name(v: Validator, tree: dict[str, Any]) -> str | None:
    """The run's ``name``, which names files and jobs: no control characters."""
    name = _optional_str(v, tree, "name")
    if name is not None and any(ord(c) < 32 or ord(c) == 127 for c in name):
        v.error(
            ("name",),
            "a run name cannot hold control characters (newlines, tabs…)",
            found=repr(name),
            suggestion="use letters, digits, '-', '_' and '.'",
            at_value=True,
        )
        name = None
    return name


def _optional_str(v: Validator, tree: dict[str, Any], key: str) -> str | None:
    if key not in tree or tree[key] is None:
        return None
    if env_read_by_nemorun(v, tree[key], (key,)):
        return None
    value = v.value(tree[key], str, (key,))
    return value if value is not INVALID else None


def pythonpath_of(resolved: Resolved) -> list[Path]:
    """The directories ``resolved`` imports its code from (those that are valid; validation
    reports the others)."""
    return _pythonpath(resolved.tree, resolved, Collector())


def _pythonpath(tree: dict[str, Any], resolved: Resolved, errors: Collector) -> list[Path]:
    raw = tree.get("pythonpath", [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        errors.add(
            SpecError(
                "wrong type",
                ("pythonpath",),
                value_origin(resolved.origins, ("pythonpath",)),
                expected="a list of directories, relative to the spec file",
                found=repr(raw),
            )
        )
        return []
    nul = [i for i, p in enumerate(raw) if "\0" in p]
    for i in nul:
        errors.add(_nul_in_path(("pythonpath", i), raw[i], resolved))
    return [
        (_written_in(resolved, ("pythonpath", i)) / p).resolve()
        for i, p in enumerate(raw)
        if i not in nul
    ]


def _nul_in_path(path: KeyPath, value: str, resolved: Resolved) -> SpecError:
    return SpecError(
        "a path cannot hold a NUL character",
        path,
        value_origin(resolved.origins, path),
        found=repr(value),
        suggestion="remove the NUL character",
    )


def _templates(v: Validator, tree: dict[str, Any], resolved: Resolved) -> Path | None:
    raw = tree.get("templates")
    if raw is None or env_read_by_nemorun(v, raw, ("templates",)):
        return None
    value = v.value(raw, str, ("templates",))
    if value is INVALID:
        return None
    if "\0" in value:
        v.errors.add(_nul_in_path(("templates",), value, resolved))
        return None
    directory = (_written_in(resolved, ("templates",)) / value).resolve()
    if not directory.is_dir():
        v.error(
            ("templates",),
            f"no such template directory: {directory}",
            suggestion="the path is relative to the spec file that names it",
            at_value=True,
        )
        return None
    return directory


def _written_in(resolved: Resolved, path: KeyPath) -> Path:
    """The directory a relative path written at ``path`` is relative to: that of the file it
    was written in (a base spec's own directory, for ``extends``), or the current directory
    for a command-line override."""
    origin = find_origin(resolved.origins, path)
    if origin is not None and origin.is_override():
        return Path.cwd()
    if origin is not None and origin.file is not None:
        return Path(origin.file).parent
    return resolved.source.parent


def _check_other_sweep_values(
    resolved: Resolved,
    axes: list[SweepAxis],
    pythonpath: list[Path],
    errors: Collector,
    first: Spec | None,
) -> None:
    """Validate each other value of each axis, the rest of the point at index 0."""
    base = point_origins(resolved.origins)
    for i, axis in enumerate(axes):
        for j in range(1, len(axis)):
            point = tuple(j if k == i else 0 for k in range(len(axes)))
            _validate_point(resolved, axes, point, pythonpath, errors, base, first)
