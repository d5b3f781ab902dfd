"""Specs with several tasks (``tasks:`` with ``after:``): one task's own spec, the order they
run in, and the artifacts of them all.

A task is compiled as a single-task spec of its own (`task_spec`): the spec's tree with
``task:`` set to that task's, ``executor:`` to the task's own when it has one (else the spec's),
and the sweep axes that name the task (``tasks.train.task.optim.lr``) read under ``task``;
axes of other tasks are left out, so sweeping one task does not multiply the others. Every
origin moves with its value, so an error still points at the line that wrote it (its key path
reads ``task.…``, the path in the task's own spec).

`compile_tasks` compiles every task in `task_order` (each task after those it names in
``after:``, otherwise in the spec's order) into a `Build`. Its `manifest` (``tasks.json``,
`nemorun.compiler.manifest`) is the handoff to the launch targets. A single-task spec has one
task, named ``task``, whose artifacts sit at the top of the directory; several tasks' artifacts
go into one subdirectory each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nemorun.compiler.driver import compile_spec, executor_for_target
from nemorun.compiler.job import Artifact, Artifacts, RunContext, file_stem
from nemorun.compiler.machine import UNKNOWN_MACHINE, Machine
from nemorun.compiler.manifest import MANIFEST, Manifest, TaskEntry, in_order
from nemorun.compiler.targets.local import LocalOptions
from nemorun.errors import KeyPath, Origin, SpecError, did_you_mean
from nemorun.schemas.spec import Spec, validate_tree


def task_order(spec: Spec) -> list[str]:
    """The tasks' names, each after those it runs ``after`` (stable: the spec's order)."""
    return in_order(list(spec.tasks), lambda name: spec.tasks[name].after)


def task_spec(spec: Spec, name: str, target: str | None = None) -> tuple[Spec, list[str]]:
    """Task ``name`` of a spec with several tasks, as a validated single-task spec (read as
    ``target``'s options when given), and the warnings about options it dropped."""
    if name not in spec.tasks:
        raise SpecError(
            f"the spec has no task named '{name}'",
            expected="one of " + ", ".join(spec.tasks),
            suggestion=did_you_mean(name, spec.tasks),
        )
    resolved = spec.resolved
    tree = resolved.tree
    entry = tree["tasks"][name]
    own = "executor" in entry
    where = f"tasks.{name}.executor" if own else "executor"
    executor, warnings = executor_for_target(
        entry["executor"] if own else tree.get("executor"), target, where
    )
    derived: dict[str, Any] = {k: v for k, v in tree.items() if k not in ("tasks", "sweep")}
    derived["task"] = entry["task"]
    if executor is not None:
        derived["executor"] = executor
    moves = _Moves(name, own)
    sweep = tree.get("sweep")
    if isinstance(sweep, dict):
        kept = {}
        for key, values in sweep.items():
            moved = moves.sweep_key(str(key))
            if moved is not None:
                kept[moved] = values
        if kept:
            derived["sweep"] = kept
    origins: dict[KeyPath, Origin] = {}
    for path, origin in resolved.origins.items():
        moved_path = moves.path(path)
        if moved_path is not None:
            origins[moved_path] = origin
    axes = []
    for axis in resolved.axes:
        moved_path = moves.path(axis.path)
        if moved_path is not None:
            axes.append(replace(axis, path=moved_path))
    interpolations = []
    for path, text in resolved.interpolations:
        moved_path = moves.path(path)
        if moved_path is not None:
            interpolations.append((moved_path, moves.text(text)))
    view = replace(resolved.view(derived, origins), axes=axes, interpolations=tuple(interpolations))
    return validate_tree(view), warnings


@dataclass(frozen=True)
class _Moves:
    """Where a key path of the whole spec lands in task ``name``'s own spec (None: nowhere)."""

    name: str
    own_executor: bool

    def path(self, path: KeyPath) -> KeyPath | None:
        if path[:1] == ("tasks",):
            if path[1:2] != (self.name,) or len(path) < 3:
                return None
            if path[2] == "task" or (path[2] == "executor" and self.own_executor):
                return (path[2], *path[3:])
            return None
        if path[:1] == ("executor",) and self.own_executor:
            return None
        if path[:1] == ("sweep",) and len(path) > 1:
            key = self.sweep_key(str(path[1]))
            return None if key is None else ("sweep", key, *path[2:])
        return path

    def text(self, text: str) -> str:
        """An interpolation's text with references into this task made relative to it
        (``${tasks.NAME.task.x}`` → ``${task.x}``); others are left to fail with their key."""
        prefixes = ["task"] + (["executor"] if self.own_executor else [])
        for part in prefixes:
            text = text.replace(f"${{tasks.{self.name}.{part}.", f"${{{part}.")
            text = text.replace(f"${{tasks.{self.name}.{part}}}", f"${{{part}}}")
        return text

    def sweep_key(self, key: str) -> str | None:
        from nemorun.schemas.compose import split_path
        from nemorun.schemas.spec import TOP_LEVEL_KEYS, task_path

        path = split_path(key)
        if path[:1] == ("tasks",):  # ``tasks.a.lr`` is ``tasks.a.task.lr``
            path = task_path(path, {})
        elif path and path[0] not in TOP_LEVEL_KEYS:
            return None  # a key the validator reports (several tasks: say which)
        moved = self.path(path)
        return None if moved is None else ".".join(str(p) for p in moved)


@dataclass(frozen=True)
class TaskBuild:
    """One task's artifacts, and what the launcher needs to know to run them."""

    name: str
    after: tuple[str, ...]
    directory: str
    """Where its artifacts go, relative to the build's directory ('' for a single task)."""
    artifacts: Artifacts
    max_parallel: int | None
    conditions: tuple[tuple[str, str], ...] = ()
    """(task, condition) for each task of ``after`` whose condition is not ``ok``."""
    singleton: bool = False

    def files(self) -> list[tuple[str, Artifact]]:
        prefix = f"{self.directory}/" if self.directory else ""
        return [(prefix + a.name, a) for a in self.artifacts.all()]

    def entry(self) -> TaskEntry:
        prefix = f"{self.directory}/" if self.directory else ""
        return TaskEntry(
            self.name,
            self.after,
            self.artifacts.target,
            tuple(prefix + a.name for a in self.artifacts.mains),
            len(self.artifacts.points),
            self.max_parallel,
            self.artifacts.logs,
            dict(self.conditions),
            self.singleton,
        )


@dataclass(frozen=True)
class Build:
    """Every task's artifacts, in the order they run."""

    tasks: tuple[TaskBuild, ...]
    single: bool

    @property
    def warnings(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for task in self.tasks:
            seen.update(dict.fromkeys(task.artifacts.warnings))
        return tuple(seen)

    def manifest(self) -> str:
        """The ``tasks.json`` text (`nemorun.compiler.manifest`)."""
        return Manifest(tuple(t.entry() for t in self.tasks)).text()

    def files(self) -> list[tuple[str, Artifact]]:
        return [file for task in self.tasks for file in task.files()]

    def write(
        self, directory: Path, manifest: bool = True, private: Path | None = None
    ) -> list[Path]:
        """Write every artifact under ``directory`` (and ``tasks.json``); returns the paths.
        Inside a run record (``private``: its directory) they are private (see `files`)."""
        from nemorun.files import normal_mode, write_atomic, write_private

        def put(path: Path, text: str | Sequence[str], executable: bool) -> None:
            if private is not None:
                write_private(path, text, private, executable)
            else:
                write_atomic(path, text, normal_mode(executable))

        paths = []
        for relative, artifact in self.files():
            path = directory / relative
            put(path, artifact.chunks, artifact.executable)
            paths.append(path)
        if manifest:
            put(directory / MANIFEST, self.manifest(), False)
            paths.append(directory / MANIFEST)
        return paths


def compile_tasks(
    spec: Spec,
    target: str | None = None,
    templates: Path | None = None,
    warnings: tuple[str, ...] | list[str] = (),
    run: RunContext | None = None,
    pythonpath: list[Path] | None = None,
    host_python: str | None = None,
    machine: Machine = UNKNOWN_MACHINE,
    output: Path | None = None,
) -> Build:
    """The artifacts of every task of ``spec`` (one for a single-task spec), in run order.

    ``pythonpath`` replaces the spec's import directories in the artifacts (a packaged copy of
    the code, for ``packager: git``); ``host_python``, ``machine`` and ``output`` (the
    directory the build will be written into, when known) are passed to `compile_spec`."""
    import dataclasses

    def placed(s: Spec) -> Spec:
        return s if pythonpath is None else dataclasses.replace(s, pythonpath=list(pythonpath))

    builds = []
    if spec.single_task:
        artifacts = compile_spec(
            placed(spec),
            target,
            templates,
            warnings,
            run,
            host_python=host_python,
            machine=machine,
            output=output,
        )
        builds.append(TaskBuild("task", (), "", artifacts, _max_parallel(spec)))
        return Build(tuple(builds), single=True)
    for name in task_order(spec):
        own, more = task_spec(spec, name, target)
        own = placed(own)
        artifacts = compile_spec(
            own,
            target,
            templates,
            (*warnings, *more),
            run,
            task=name,
            host_python=host_python,
            machine=machine,
            output=output,
        )
        entry = spec.tasks[name]
        _check_ordering(spec, name, artifacts.target)
        after = tuple(entry.after)
        conditions = tuple((t, c.value) for t, c in entry.conditions.items() if c.value != "ok")
        build = TaskBuild(name, after, file_stem(name), artifacts, _max_parallel(own))
        builds.append(replace(build, conditions=conditions, singleton=entry.singleton))
    return Build(tuple(builds), single=False)


def _check_ordering(spec: Spec, name: str, target: str) -> None:
    """A located `SpecError` when task ``name`` has ``after:`` or ``singleton:`` and
    ``target`` cannot honour them (skypilot, ray, kubernetes: `TargetDef.orders_tasks`)."""
    from nemorun.registry import get_target
    from nemorun.schemas.source import find_origin

    entry = spec.tasks[name]
    key = "after" if entry.after else "singleton" if entry.singleton else None
    if key is None or get_target(target).orders_tasks:
        return
    path: KeyPath = ("tasks", name, key)
    waits = "for another task" if key == "after" else "for other runs of the same name"
    alternative = "launch the tasks as separate runs" if key == "after" else "remove it"
    raise SpecError(
        f"the {target} target cannot make a task wait {waits}",
        path,
        find_origin(spec.resolved.origins, path),
        suggestion=f"{alternative}, or launch on slurm, local or docker",
    )


def _max_parallel(spec: Spec) -> int | None:
    if isinstance(spec.executor, LocalOptions):
        return max(1, spec.executor.max_parallel)
    return None
