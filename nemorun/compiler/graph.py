"""Compile a validated task into a Fiddle graph: ``fdl.Partial(train, model=fdl.Config(...))``.

- One `Call` becomes one buildable, memoised by identity, so a sub-config shared in the spec
  (a YAML alias, a ``_ref_``) is one shared ``fdl.Config`` in the graph and is built once. The
  memo holds its Calls, so an id it knows is never reused; `spec_graphs` builds every task with
  one memo, so sharing across tasks is the spec's too, and all graphs are alive at once.
- Every argument is set under ``fiddle.history.custom_location`` naming where the spec set it
  (``exp.yaml:12`` or ``override: optim.lr=1e-3``); the Python export prints these as comments.
- An `EnvRef` becomes ``fdl.Config(nemorun.runtime.env_value, …)``: the variable is read when the
  graph is built, where the job runs.
- Script and command tasks become ``fdl.Partial(subprocess.run, …)`` so every task is a graph.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import fiddle as fdl
from fiddle import history

from nemorun import runtime
from nemorun.errors import KeyPath, Origin
from nemorun.schemas.convert import Call, EnvRef, env_reading
from nemorun.schemas.source import find_origin
from nemorun.schemas.spec import Spec, TaskSpec

_OVERRIDE_TEXT = re.compile(r"^override \d+ '(.*)'$", re.S)


def task_graph(spec: Spec, task: TaskSpec | None = None) -> Any:
    """The Fiddle graph of ``task`` (default: the spec's only or first task)."""
    task = task or spec.task
    return _Builder(spec.resolved.origins).task(task)


def spec_graphs(spec: Spec) -> dict[str, Any]:
    """The Fiddle graph of every task, by task name, built as one graph.

    A sub-config the spec shares between tasks is one node here, and a node in one task is
    never mistaken for another's (exports decide sharing by identity: see `export`).
    """
    builder = _Builder(spec.resolved.origins)
    return {name: builder.task(task) for name, task in spec.tasks.items()}


def provenance(origin: Origin | None) -> str:
    """``exp.yaml:12`` for file values, ``override: optim.lr=1e-3`` for command-line ones."""
    if origin is None:
        return "default"
    if origin.override is not None:
        match = _OVERRIDE_TEXT.match(origin.override)
        return "override: " + (match.group(1) if match else origin.override)
    return origin.label()


class _Builder:
    def __init__(self, origins: dict[KeyPath, Origin]) -> None:
        self.origins = origins
        self.memo: dict[tuple[int, bool], tuple[Call, Any]] = {}
        """(id of a Call, built as a task's root) → (the Call, kept alive; its buildable)."""

    def task(self, task: TaskSpec) -> Any:
        if task.call is not None:
            return self.buildable(task.call, task.path, root=True)
        with self._at(task.path):
            if task.script is not None:
                script = task.script.script
                argv = ["python3", script] if script.endswith(".py") else ["bash", script]
                return fdl.Partial(subprocess.run, [*argv, *task.script.args], check=True)
            assert task.command is not None
            command = task.command.command
            return fdl.Partial(subprocess.run, command, shell=isinstance(command, str), check=True)

    def buildable(self, call: Call, path: KeyPath, root: bool = False) -> Any:
        # A task's root is always a Partial: the same Call met as an argument is another node.
        key = (id(call), root)
        if key in self.memo:
            return self.memo[key][1]
        cls = fdl.Partial if (call.partial or root) else fdl.Config
        with self._at(path):
            node = cls(call.target)
        self.memo[key] = (call, node)
        for name, value in call.args.items():
            converted = self.value(value, (*path, name))
            with self._at((*path, name)):
                setattr(node, name, converted)
        return node

    def value(self, value: Any, path: KeyPath) -> Any:
        if isinstance(value, Call):
            return self.buildable(value, value.path or path)
        if isinstance(value, EnvRef):
            with self._at(path):
                return env_config(value)
        if isinstance(value, list):
            return [self.value(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return tuple(self.value(v, (*path, i)) for i, v in enumerate(value))
        if isinstance(value, dict):
            return {k: self.value(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, (set, frozenset)):
            return type(value)(self.value(v, path) for v in value)
        return value

    def _at(self, path: KeyPath) -> Any:
        label = provenance(find_origin(self.origins, path))
        return history.custom_location(lambda: history.Location(label, 0, None))


def env_config(ref: EnvRef) -> Any:
    """``fdl.Config(env_value, template=…, to=int)`` for an environment reference: read as the
    argument's hint says (`nemorun.schemas.envrefs.env_reading`)."""
    return fdl.Config(runtime.env_value, template=ref.template, **env_reading(ref.annotation))


def is_env_config(value: Any) -> bool:
    return isinstance(value, fdl.Config) and fdl.get_callable(value) is runtime.env_value
