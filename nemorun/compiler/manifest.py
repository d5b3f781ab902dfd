"""The compile→launch handoff: ``tasks.json``, written from and read into one frozen `Manifest`.

Compile writes it beside the artifacts (`Manifest.text`); every launch target reads it back
through `read_manifest`, the one reader, which checks each entry's fields and types, that task
names are unique and that every ``after`` names a task of the file, and says which file is wrong
(`ManifestError`). `Manifest.plan` then applies a rerun's choice of points (``run.points``) and
orders the tasks with `in_order`, the one topological sort (compile orders a spec's tasks with it
too), so no target filters or sorts tasks itself.

The format (``"nemorun_tasks": 1``) is a list of `TaskEntry`, in run order. Light on purpose
(standard library only): the launchers import it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MANIFEST = "tasks.json"
MANIFEST_VERSION = 1
CONDITIONS = ("ok", "any", "notok", "corr")
"""The values of `nemorun.schemas.dependencies.Condition` (a test holds them equal): this
module imports nothing of nemorun."""


class ManifestError(ValueError):
    """A ``tasks.json`` that cannot be read, or a choice of points it does not have."""


def in_order(names: Sequence[str], after: Callable[[str], Iterable[str]]) -> list[str]:
    """``names``, each after those of ``after(name)`` that are among ``names``; stable (a task
    comes as early as its parents allow, ties in the given order). A parent that is not among
    ``names`` counts as done (a rerun leaves out tasks that succeeded). `ManifestError` on a
    cycle."""
    known = set(names)
    done: list[str] = []
    pending = list(names)
    while pending:
        ready = next((n for n in pending if all(p in done for p in after(n) if p in known)), None)
        if ready is None:
            raise ManifestError(f"tasks come after each other in a cycle: {', '.join(pending)}")
        done.append(ready)
        pending.remove(ready)
    return done


@dataclass(frozen=True)
class TaskEntry:
    """One task of ``tasks.json``: its artifacts and what a target needs to run them."""

    name: str
    after: tuple[str, ...] = ()
    """The tasks that must succeed before this one starts."""
    target: str = ""
    mains: tuple[str, ...] = ()
    """Its main artifacts, relative to the manifest's directory: one, or the parts of a split
    Slurm sweep, submitted in order."""
    points: int = 1
    max_parallel: int | None = None
    """How many of its points may run at once (the local target's option)."""
    logs: Mapping[str, str] = field(default_factory=dict)
    """``output``/``error``/``status`` paths with the target's placeholders (``{point}``…)."""
    conditions: Mapping[str, str] = field(default_factory=dict)
    """The condition on each task of ``after`` that is not ``ok`` (``any``, ``notok``,
    ``corr``: `nemorun.schemas.dependencies.Condition`)."""
    singleton: bool = False
    """At most one job of this task's name runs at a time, across runs."""

    def condition(self, parent: str) -> str:
        """The condition on task ``parent`` (one of ``after``): ``ok`` unless said otherwise."""
        return self.conditions.get(parent, "ok")

    def to_json(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"conditions": dict(self.conditions)} if self.conditions else {}
        if self.singleton:
            extra["singleton"] = True
        return {
            "name": self.name,
            "after": list(self.after),
            "target": self.target,
            "mains": list(self.mains),
            "points": self.points,
            "max_parallel": self.max_parallel,
            "logs": dict(self.logs),
            **extra,
        }

    @classmethod
    def from_json(cls, entry: object) -> TaskEntry:
        """An entry as `to_json` writes it; fields it lacks take their defaults."""
        if not isinstance(entry, dict):
            raise ManifestError(f"a task is {type(entry).__name__}, not an object")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise ManifestError(f"a task has no name: {entry!r}")
        points = entry.get("points", 1)
        max_parallel = entry.get("max_parallel")
        logs = entry.get("logs") or {}
        conditions = entry.get("conditions") or {}
        checks = [
            ("after", _strings(entry.get("after", []))),
            ("target", isinstance(entry.get("target", ""), str)),
            ("mains", _strings(entry.get("mains", []))),
            ("points", _count(points)),
            ("max_parallel", max_parallel is None or _count(max_parallel)),
            ("logs", isinstance(logs, dict) and _strings(list(logs.values()))),
            ("conditions", isinstance(conditions, dict) and _conditions(conditions)),
            ("singleton", isinstance(entry.get("singleton", False), bool)),
        ]
        for key, ok in checks:
            if not ok:
                raise ManifestError(f"task {name}: {key} is {entry.get(key)!r}")
        return cls(
            name,
            tuple(entry.get("after", ())),
            entry.get("target", ""),
            tuple(entry.get("mains", ())),
            points,
            max_parallel,
            dict(logs),
            dict(conditions),
            entry.get("singleton", False),
        )


@dataclass(frozen=True)
class PlannedTask:
    """A task to submit: its entry, its position in the manifest (targets key state files by
    it) and the points to run."""

    task: TaskEntry
    index: int
    points: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.task.name


@dataclass(frozen=True)
class Manifest:
    """Every task of a build, in the order they run."""

    tasks: tuple[TaskEntry, ...]

    def text(self) -> str:
        """The ``tasks.json`` text."""
        body = {"nemorun_tasks": MANIFEST_VERSION, "tasks": [t.to_json() for t in self.tasks]}
        return json.dumps(body, indent=2) + "\n"

    @classmethod
    def parse(cls, text: str) -> Manifest:
        """The manifest `text` writes; `ManifestError` when it is not one."""
        try:
            data = json.loads(text)
        except ValueError as error:
            raise ManifestError(f"not JSON: {error}") from None
        tasks = data.get("tasks") if isinstance(data, dict) else None
        if not isinstance(tasks, list) or not tasks:
            raise ManifestError("lists no tasks")
        manifest = cls(tuple(TaskEntry.from_json(entry) for entry in tasks))
        names = [t.name for t in manifest.tasks]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ManifestError(f"task names repeat: {', '.join(repeated)}")
        unknown = sorted(
            {p for t in manifest.tasks for p in (*t.after, *t.conditions)} - set(names)
        )
        if unknown:
            raise ManifestError(f"tasks come after unknown tasks: {', '.join(unknown)}")
        in_order(names, lambda n: manifest.entry(n)[1].after)
        return manifest

    def entry(self, name: str) -> tuple[int, TaskEntry]:
        """Task ``name`` and its index; `ManifestError` when there is none."""
        for index, task in enumerate(self.tasks):
            if task.name == name:
                return index, task
        raise ManifestError(f"no task named {name!r}")

    def plan(
        self, points: Mapping[str, Sequence[int]] | None = None, target: str | None = None
    ) -> list[PlannedTask]:
        """The tasks to submit, parents first: all of them, or when ``points`` is given (a rerun
        of some points) only the tasks it names, each with only those points. ``target``: the
        target submitting them, which every task must have been compiled for."""
        for task in self.tasks:
            if target and task.target and task.target != target:
                raise ManifestError(f"task {task.name} is compiled for {task.target}, not {target}")
            if not task.mains:
                raise ManifestError(f"task {task.name} has no artifact to submit")
        chosen = dict(points or {})
        for name, picked in chosen.items():
            _, task = self.entry(name)
            outside = sorted(set(picked) - set(range(task.points)))
            if outside:
                raise ManifestError(f"task {name} has no point {outside[0]}")
        names = [t.name for t in self.tasks if not chosen or t.name in chosen]
        planned = []
        for name in in_order(names, lambda n: self.entry(n)[1].after):
            index, task = self.entry(name)
            picked = chosen.get(name, range(task.points))
            planned.append(PlannedTask(task, index, tuple(sorted(set(picked)))))
        return planned


def read_manifest(directory: Path) -> Manifest:
    """The ``tasks.json`` of an artifacts directory; `ManifestError` names the file."""
    path = directory / MANIFEST
    try:
        return Manifest.parse(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ManifestError(f"cannot read {path}: {error.strerror or error}") from None
    except ManifestError as error:
        raise ManifestError(f"{path}: {error}") from None


def _strings(values: object) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def _conditions(conditions: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) and v in CONDITIONS for k, v in conditions.items())


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
