"""The spec model: the typed form of a resolved spec tree, and the pass that builds it.

`validate_tree` checks the whole tree in one pass and raises `SpecErrors` holding every mistake.
Task arguments are checked against the task callable's own type hints; ``executor``,
``launcher`` and non-Python tasks against nemorun's option dataclasses, by the same validator.

Sweeps are kept as axes (path → values). The spec is validated at its first point, and every
other value of each axis is checked in place, so a bad sweep value is reported before anything
is expanded: converted alone at its argument's place where it can be (`nemorun.schemas.places`;
`Spec.axis_values` keeps the results for the entry point), else as the whole spec at its point.
`Spec.at_point` gives the validated spec of any point of the product.
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
from nemorun.schemas import settings
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
from nemorun.schemas.places import Places, alone, convert_axis
from nemorun.schemas.source import find_origin, value_origin
from nemorun.schemas.sweeps import (
    MAX_POINTS,
    SweepAxis,
    all_axes,
    copy_along,
    point_origins,
    put_value,
)
from nemorun.schemas.tracking import TrackingOptions, validate_tracking

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
    tracking: TrackingOptions = field(default_factory=TrackingOptions)
    """The trackers a launch hands the run to (``tracking:``; `nemorun.schemas.tracking`)."""
    axis_values: tuple[tuple[Any, ...] | None, ...] = ()
    """Per axis, each of its values converted to its argument's type, or None where the
    axis's points were validated whole (`_check_other_sweep_values`); set at the first point."""

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
    pythonpath = settings.pythonpath(tree, resolved, errors)
    first = point == tuple(0 for _ in axes)
    places = Places(alone(axes, bool(resolved.interpolations))) if first else None
    with search_path(pythonpath):
        spec = _validate_point(resolved, axes, point, pythonpath, errors, places=places)
        if places is not None:
            converted = _check_other_sweep_values(resolved, axes, pythonpath, errors, spec, places)
            if spec is not None:
                spec.axis_values = converted
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
    pythonpath = settings.pythonpath(resolved.tree, resolved, errors)
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
    places: Places | None = None,
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
    view = resolved.view(tree, origins)
    return _validate_top(view, tree, axes, point, pythonpath, errors, places)


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
    places: Places | None = None,
) -> Spec | None:
    origins = resolved.origins
    v = Validator(origins, errors)
    v.places = places
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
        templates=settings.templates(v, tree, resolved),
        tracking=validate_tracking(v, tree),
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
    return settings.pythonpath(resolved.tree, resolved, Collector())


def _check_other_sweep_values(
    resolved: Resolved,
    axes: list[SweepAxis],
    pythonpath: list[Path],
    errors: Collector,
    first: Spec | None,
    places: Places,
) -> tuple[tuple[Any, ...] | None, ...]:
    """Check each other value of each axis, the rest of the point at index 0: converted at
    its `Place` alone when it has one (see `nemorun.schemas.places`), else by validating its
    point. Returns, per axis, its values converted (None where points were validated)."""
    base: dict[KeyPath, Origin] | None = None
    out: list[tuple[Any, ...] | None] = []
    for i, axis in enumerate(axes):
        if len(axis) < 2:
            out.append(None)
            continue
        base = point_origins(resolved.origins) if base is None else base
        place = places.found.get(axis.path) if _in_python_task(first, axis.path) else None
        if place is not None:
            out.append(convert_axis(axis, place, base, errors))
            continue
        out.append(None)
        for j in range(1, len(axis)):
            point = tuple(j if k == i else 0 for k in range(len(axes)))
            _validate_point(resolved, axes, point, pythonpath, errors, base, first)
    return tuple(out)


def _in_python_task(spec: Spec | None, path: KeyPath) -> bool:
    """True when ``path`` is inside a task that calls Python (a script or command task's own
    options are built while validating: their values keep the whole-spec path)."""
    tasks = spec.tasks.values() if spec is not None else ()
    return any(t.call is not None and path[: len(t.path)] == t.path for t in tasks)
