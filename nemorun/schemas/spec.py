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
    format_path,
)
from nemorun.schemas.convert import (
    CODE_KEYS,
    INVALID,
    TARGET_KEY,
    Call,
    Validator,
    is_env_template,
)
from nemorun.schemas.hints import inspect_callable
from nemorun.schemas.imports import search_path
from nemorun.schemas.options import (
    DEFAULT_TARGET,
    CommandTask,
    ExecutorOptions,
    LauncherOptions,
    ScriptTask,
    target_options,
)
from nemorun.schemas.source import find_origin

TOP_LEVEL_KEYS = (
    "nemorun",
    "name",
    "description",
    "extends",
    "task",
    "tasks",
    "executor",
    "launcher",
    "sweep",
    "packager",
    "pythonpath",
    "templates",
)
PACKAGERS = ("none", "git")


@dataclass(frozen=True)
class SweepAxis:
    """One swept key: the spec path and the values it takes, in order."""

    path: KeyPath
    values: tuple[Any, ...]
    origin: Origin | None = None
    source: str = "spec"
    """``spec`` for the ``sweep:`` key, or the override's text."""
    value_origins: tuple[Origin | None, ...] = ()
    """Where each value was written (its own text included), when known."""

    def __len__(self) -> int:
        return len(self.values)

    def origin_of(self, index: int) -> Origin | None:
        """The origin of value ``index``: its own position and text, else the axis's."""
        if index < len(self.value_origins) and self.value_origins[index] is not None:
            return self.value_origins[index]
        if self.origin is None:
            return None
        return replace(self.origin, text=None)  # the axis's text is not this value's


@dataclass
class TaskSpec:
    """One task: a Python call, a script or a command, with its own executor and dependencies."""

    name: str
    path: KeyPath
    call: Call | None = None
    script: ScriptTask | None = None
    command: CommandTask | None = None
    executor: ExecutorOptions | None = None
    target: str | None = None
    after: list[str] = field(default_factory=list)

    def is_python(self) -> bool:
        """True when the task calls a Python function or class."""
        return self.call is not None


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
    axes = _all_axes(resolved, errors)
    if point is None:
        point = tuple(0 for _ in axes)
    pythonpath = _pythonpath(tree, resolved, errors)
    with search_path(pythonpath):
        spec = _validate_point(resolved, axes, point, pythonpath, errors)
        if point == tuple(0 for _ in axes):
            _check_other_sweep_values(resolved, axes, pythonpath, errors)
    errors.raise_if_any()
    assert spec is not None
    return spec


def validate_points(resolved: Resolved, points: Iterable[tuple[int, ...]]) -> list[Spec]:
    """The validated spec at each of ``points``: ``validate_tree(resolved, p)`` for each, but
    reading the sweep axes and ``pythonpath`` and setting up the import path once for all.

    Unlike `validate_tree` at the first point, it does not check the other sweep values again
    (that spec's own validation did). Each point raises its own `SpecErrors`, in order.
    """
    errors = Collector()
    axes = _all_axes(resolved, errors)
    pythonpath = _pythonpath(resolved.tree, resolved, errors)
    errors.raise_if_any()
    specs = []
    with search_path(pythonpath):
        for point in points:
            errors = Collector()
            spec = _validate_point(resolved, axes, point, pythonpath, errors)
            errors.raise_if_any()
            assert spec is not None
            specs.append(spec)
    return specs


def _validate_point(
    resolved: Resolved,
    axes: list[SweepAxis],
    point: tuple[int, ...],
    pythonpath: list[Path],
    errors: Collector,
) -> Spec | None:
    tree = resolved.tree
    origins = resolved.origins
    if axes or _unresolved(resolved):
        tree = copy.deepcopy(tree)
        origins = dict(origins)

        def assign(tree: dict[str, Any]) -> None:
            for axis, index in zip(axes, point):
                _assign(tree, axis.path, axis.values[index], errors, axis.origin)
                value_origin = axis.origin_of(index)
                if value_origin is not None:
                    for stale in [p for p in origins if p[: len(axis.path)] == axis.path]:
                        del origins[stale]
                    origins[axis.path] = value_origin

        from nemorun.schemas.interpolate import needs_interpolation, reinterpolate

        values = [axis.values[index] for axis, index in zip(axes, point)]
        if resolved.interpolations or needs_interpolation(values):
            try:
                reinterpolate(tree, origins, resolved.interpolations, assign)
            except SpecErrors as exc:
                errors.extend(exc.errors)
                return None
        else:
            assign(tree)
    return _validate_top(resolved.view(tree, origins), tree, axes, point, pythonpath, errors)


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
    task_params = _task_parameters(tree)
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
    description = _optional_str(v, tree, "description")
    packager = tree.get("packager", "none")
    if packager not in PACKAGERS:
        errors.add(
            SpecError(
                "unknown packager",
                ("packager",),
                _at_value(origins, ("packager",)),
                expected="one of " + ", ".join(repr(p) for p in PACKAGERS),
                found=repr(packager),
                suggestion=did_you_mean(str(packager), PACKAGERS),
            )
        )
    target, executor = _executor(v, tree.get("executor"), ("executor",), errors)
    launcher_raw = tree.get("launcher") or {}
    launcher = _instantiate(_own_options(v, launcher_raw, LauncherOptions, ("launcher",)))
    tasks = _tasks(v, tree, errors)
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


def _task_parameters(tree: dict[str, Any]) -> set[str]:
    """Parameter names of the single task's target, if it resolves (for hints only)."""
    from nemorun.schemas.imports import TargetImportError, resolve

    task = tree.get("task")
    target = task.get(TARGET_KEY) if isinstance(task, dict) else None
    if not isinstance(target, str):
        return set()
    try:
        return set(inspect_callable(resolve(target)).params)
    except (TargetImportError, TypeError, ValueError):
        return set()


def _tasks(v: Validator, tree: dict[str, Any], errors: Collector) -> dict[str, TaskSpec] | None:
    has_task, has_tasks = "task" in tree, "tasks" in tree
    if has_task and has_tasks:
        errors.add(
            SpecError(
                "a spec has either 'task' or 'tasks', not both",
                ("tasks",),
                find_origin(v.origins, ("tasks",)),
                suggestion="move the single task under 'tasks:' with a name",
            )
        )
        return None
    if not has_task and not has_tasks:
        errors.add(
            SpecError(
                "nothing to run: the spec has no 'task:'",
                (),
                find_origin(v.origins, ()),
                file=next((o.file for o in v.origins.values() if o.file), None),
                suggestion="add 'task: {_target_: mymodule:train}' (or 'script:' / 'command:')",
            )
        )
        return None
    if has_task:
        task = _task(v, "task", tree["task"], ("task",))
        return {"task": task} if task is not None else None
    entries = tree["tasks"]
    if not isinstance(entries, dict) or not entries:
        v.fail(("tasks",), "a mapping of task names to {task, executor?, after?}", entries)
        return None
    out: dict[str, TaskSpec] = {}
    for name, entry in entries.items():
        path: KeyPath = ("tasks", name)
        if not isinstance(entry, dict) or "task" not in entry:
            v.fail(path, "a mapping with a 'task:' key (and optional 'executor', 'after')", entry)
            continue
        for key in entry:
            if key not in ("task", "executor", "after"):
                v.error(
                    (*path, key),
                    "unknown key of a task entry",
                    expected="task, executor or after",
                    suggestion=did_you_mean(str(key), ("task", "executor", "after"))
                    or f"a task argument goes under '{format_path((*path, 'task'))}'",
                )
        task = _task(v, str(name), entry["task"], (*path, "task"))
        if task is None:
            continue
        if "executor" in entry:
            task.target, task.executor = _executor(
                v, entry["executor"], (*path, "executor"), errors
            )
        after = v.value(entry.get("after", []), list[str], (*path, "after"))
        for i, dep in enumerate(after if after is not INVALID else []):
            if dep not in entries:
                v.error(
                    (*path, "after", i),
                    f"no task named '{dep}'",
                    suggestion=did_you_mean(dep, [str(k) for k in entries if k != name]),
                    at_value=True,
                )
        task.after = after if after is not INVALID else []
        out[str(name)] = task
    _check_cycles(out, v)
    return out


def _task(v: Validator, name: str, raw: Any, path: KeyPath) -> TaskSpec | None:
    if not isinstance(raw, dict):
        v.fail(path, "a mapping with '_target_', 'script' or 'command'", raw)
        return None
    if TARGET_KEY in raw:
        # The job calls the task with exactly these arguments, so required ones must be here;
        # an explicit ``_partial_: true`` says something else will supply them.
        call = v.call(raw, None, path)
        if call is INVALID:
            return None
        call.partial = True  # the graph's root is always a Partial, called by the job
        return TaskSpec(name, path, call=call)
    if "script" in raw:
        if _env_read_by_nemorun(v, raw["script"], (*path, "script")):
            return None
        script = _instantiate(_own_options(v, raw, ScriptTask, path))
        return TaskSpec(name, path, script=script) if script is not INVALID else None
    if "command" in raw:
        command = _instantiate(_own_options(v, raw, CommandTask, path))
        return TaskSpec(name, path, command=command) if command is not INVALID else None
    v.error(
        path,
        "the task says nothing to run",
        expected="a '_target_' (module:function), a 'script' or a 'command' key",
        suggestion=did_you_mean(next(iter(raw), ""), (TARGET_KEY, "script", "command")),
    )
    return None


def _executor(
    v: Validator, raw: Any, path: KeyPath, errors: Collector
) -> tuple[str, ExecutorOptions | None]:
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        v.fail(path, "a mapping with 'target' and that target's options", raw)
        return DEFAULT_TARGET, None
    target = raw.get("target", DEFAULT_TARGET)
    try:
        cls = target_options(target, (*path, "target"), _at_value(v.origins, (*path, "target")))
    except SpecError as error:
        errors.add(error)
        return DEFAULT_TARGET, None
    options = {k: val for k, val in raw.items() if k != "target"}
    opts = _instantiate(_own_options(v, options, cls, path), cls.__module__)
    return target, opts if opts is not INVALID else None


def _check_cycles(tasks: dict[str, TaskSpec], v: Validator) -> None:
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2 or name not in tasks:
            return
        if state.get(name) == 1:
            cycle = " → ".join([*chain[chain.index(name) :], name])
            v.error(("tasks", name, "after"), f"tasks depend on each other in a cycle: {cycle}")
            return
        state[name] = 1
        for dep in tasks[name].after:
            visit(dep, [*chain, name])
        state[name] = 2

    for name in tasks:
        visit(name, [])


def _own_options(v: Validator, raw: Any, cls: type, path: KeyPath) -> Any:
    """``raw`` validated as nemorun's own option class ``cls``. A ``_target_`` (or ``_call_``)
    anywhere in it is refused before anything is imported: these options are built while
    validating, so a spec naming a callable there (``_target_: os:system``) would run it on
    this machine."""
    found = _targets_in(raw, path)
    for where in found:
        v.error(
            where,
            f"nemorun's own options take no '{where[-1]}'",
            expected=f"the keys of {cls.__name__}",
            found=repr(_at(raw, where[len(path) :])),
            suggestion="remove it: the target's options are chosen by 'target:', and code "
            "runs only as the task",
        )
    return INVALID if found else v.value(raw, cls, path)


def _targets_in(node: Any, path: KeyPath) -> list[KeyPath]:
    if isinstance(node, dict):
        here = [(*path, key) for key in CODE_KEYS if key in node]
        return here + [p for k, c in node.items() for p in _targets_in(c, (*path, k))]
    if isinstance(node, list):
        return [p for i, c in enumerate(node) for p in _targets_in(c, (*path, i))]
    return []


def _at(node: Any, rel: KeyPath) -> Any:
    for part in rel:
        node = node[part]
    return node


_OWN_MODULE = "nemorun."


def _instantiate(value: Any, home: str = _OWN_MODULE) -> Any:
    """Build nemorun's own option objects from validated `Call`s. Only nemorun's classes, and
    those of the module that declares a target's options (``home``: a plugin's), are ever
    called here (`_own_options` refused every other name); user code is never called."""
    if isinstance(value, Call):
        module = getattr(value.target, "__module__", "")
        if not (module.startswith(_OWN_MODULE) or module == home):
            raise TypeError(f"refusing to call {value.target!r} while validating")
        return value.target(**{k: _instantiate(a, home) for k, a in value.args.items()})
    return value


def _optional_str(v: Validator, tree: dict[str, Any], key: str) -> str | None:
    if key not in tree or tree[key] is None:
        return None
    if _env_read_by_nemorun(v, tree[key], (key,)):
        return None
    value = v.value(tree[key], str, (key,))
    return value if value is not INVALID else None


def _env_read_by_nemorun(v: Validator, raw: Any, path: KeyPath) -> bool:
    """True, after a located error, when a setting nemorun itself reads (the run's name, a
    template directory, a script's path) is an environment reference, read only by the job."""
    if not is_env_template(raw):
        return False
    v.error(
        path,
        "nemorun reads this setting itself, before the job runs, so it cannot come from the "
        "job's environment",
        found=repr(raw),
        suggestion="write the value here (environment references are for task arguments and "
        "executor.env)",
        at_value=True,
    )
    return True


def _at_value(origins: dict[KeyPath, Origin], path: KeyPath) -> Origin | None:
    origin = find_origin(origins, path)
    return origin.at_value() if origin else None


def _pythonpath(tree: dict[str, Any], resolved: Resolved, errors: Collector) -> list[Path]:
    raw = tree.get("pythonpath", [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        errors.add(
            SpecError(
                "wrong type",
                ("pythonpath",),
                _at_value(resolved.origins, ("pythonpath",)),
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
        _at_value(resolved.origins, path),
        found=repr(value),
        suggestion="remove the NUL character",
    )


def _templates(v: Validator, tree: dict[str, Any], resolved: Resolved) -> Path | None:
    raw = tree.get("templates")
    if raw is None or _env_read_by_nemorun(v, raw, ("templates",)):
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


MAX_POINTS = 100_000
"""More points than this is almost certainly a mistake (``range(0, 10**8)``), and would take
minutes to validate: refused up front."""


def _all_axes(resolved: Resolved, errors: Collector) -> list[SweepAxis]:
    """The spec's ``sweep:`` axes, then the command line's. Overrides win last: a key the
    command line sets or sweeps is not swept by the spec any more."""
    from_command_line = {axis.path for axis in resolved.axes}
    spec_axes = [
        axis
        for axis in _sweep_axes(resolved.tree, resolved.origins, errors)
        if axis.path not in from_command_line
        and not _set_by_override(resolved.origins.get(axis.path))
    ]
    axes = spec_axes + list(resolved.axes)
    count = 1
    for axis in axes:
        count *= len(axis)
    if count > MAX_POINTS:
        shown = " x ".join(str(len(a)) for a in axes)
        errors.add(
            SpecError(
                f"the sweep has {count:,} points ({shown}), more than {MAX_POINTS:,}",
                ("sweep",),
                find_origin(resolved.origins, ("sweep",)) if "sweep" in resolved.tree else None,
                suggestion="sweep fewer values, or split the experiment into several sweeps",
            )
        )
        errors.raise_if_any()
    return axes


def _set_by_override(origin: Origin | None) -> bool:
    return origin is not None and origin.is_override()


def _sweep_axes(
    tree: dict[str, Any], origins: dict[KeyPath, Origin], errors: Collector
) -> list[SweepAxis]:
    from nemorun.schemas.compose import split_path

    raw = tree.get("sweep")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        errors.add(
            SpecError(
                "wrong type",
                ("sweep",),
                _at_value(origins, ("sweep",)),
                expected="a mapping of key paths to lists of values",
                found=type(raw).__name__,
            )
        )
        return []
    axes = []
    for key, values in raw.items():
        origin = find_origin(origins, ("sweep", key))
        if not isinstance(values, list) or not values:
            errors.add(
                SpecError(
                    "a sweep axis needs a non-empty list of values",
                    ("sweep", key),
                    origin.at_value() if origin else None,
                    found=repr(values),
                    suggestion=f"write '{key}: [value1, value2]'",
                )
            )
            continue
        path = split_path(str(key))
        if path and path[0] not in TOP_LEVEL_KEYS and "tasks" in tree and "task" not in tree:
            names = (
                ", ".join(str(n) for n in tree["tasks"]) if isinstance(tree["tasks"], dict) else ""
            )
            errors.add(
                SpecError(
                    "this spec has several tasks: say which one",
                    ("sweep", key),
                    origin,
                    suggestion=f"write 'tasks.<name>.{key}' (tasks: {names})",
                )
            )
            continue
        path = task_path(path, tree)
        at = tuple(_at_value(origins, ("sweep", key, i)) for i in range(len(values)))
        axes.append(SweepAxis(path, tuple(values), origin, "spec", at))
    return axes


TASK_ENTRY_KEYS = ("task", "executor", "after")


def task_path(path: KeyPath, tree: dict[str, Any]) -> KeyPath:
    """The spec path an override or sweep key names: a first segment that is not a top-level
    key is read under ``task`` (``optim.lr`` → ``task.optim.lr``), and under ``tasks`` the
    task's arguments need no ``task`` segment (``tasks.train.optim.lr`` →
    ``tasks.train.task.optim.lr``)."""
    if len(path) > 2 and path[0] == "tasks" and path[2] not in TASK_ENTRY_KEYS:
        return (*path[:2], "task", *path[2:])
    if path and path[0] in TOP_LEVEL_KEYS:
        return path
    return ("task", *path)


def _assign(
    tree: dict[str, Any], path: KeyPath, value: Any, errors: Collector, origin: Origin | None
) -> None:
    """Put a sweep value in place as the override ``key=value`` would: a mapping merges into
    the mapping already there, anything else replaces it."""
    from nemorun.schemas.compose import child_key, merge

    node: Any = tree
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(child_key(node, part), {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            errors.add(SpecError("cannot sweep here: no such key", path, origin))
            return
    last = child_key(node, path[-1])
    in_list = isinstance(node, list) and isinstance(last, int) and last < len(node)
    if isinstance(node, dict) and isinstance(value, dict) and isinstance(node.get(last), dict):
        merge(node[last], copy.deepcopy(value))
    elif isinstance(node, dict) or in_list:
        node[last] = copy.deepcopy(value)
    else:
        errors.add(SpecError("cannot sweep here: no such key", path, origin))


def _check_other_sweep_values(
    resolved: Resolved, axes: list[SweepAxis], pythonpath: list[Path], errors: Collector
) -> None:
    """Validate each other value of each axis, the rest of the point at index 0."""
    for i, axis in enumerate(axes):
        for j in range(1, len(axis)):
            point = tuple(j if k == i else 0 for k in range(len(axes)))
            _validate_point(resolved, axes, point, pythonpath, errors)


def callable_name(call: Call) -> str:
    return inspect_callable(call.target).name
