"""The shape of a spec: its top-level keys, a task entry's keys, and the path a short key names."""

from __future__ import annotations

from typing import Any

from nemorun.errors import KeyPath

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
    "tracking",
)

PACKAGERS = ("none", "git")

TASK_ENTRY_KEYS = ("task", "executor", "after", "singleton")


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
