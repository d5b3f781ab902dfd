"""The tasks and executors of a spec, validated: `TaskSpec`s, their dependencies, and
nemorun's own option objects, built from validated `Call`s without running any user code."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nemorun.errors import Collector, KeyPath, SpecError, did_you_mean, format_path
from nemorun.registry import get_target
from nemorun.schemas.convert import Validator
from nemorun.schemas.dependencies import (
    Condition,
    check_cycles,
    validate_after,
    validate_singleton,
)
from nemorun.schemas.envrefs import is_env_template
from nemorun.schemas.hints import inspect_callable
from nemorun.schemas.layout import TASK_ENTRY_KEYS
from nemorun.schemas.options import (
    DEFAULT_TARGET,
    CommandTask,
    ExecutorOptions,
    ScriptTask,
)
from nemorun.schemas.source import find_origin, value_origin
from nemorun.schemas.values import CODE_KEYS, INVALID, TARGET_KEY, Call


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
    conditions: dict[str, Condition] = field(default_factory=dict)
    """Each task of ``after`` with its condition (``ok`` for the list form)."""
    singleton: bool = False

    def is_python(self) -> bool:
        """True when the task calls a Python function or class."""
        return self.call is not None


def task_parameters(tree: dict[str, Any]) -> set[str]:
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


def validate_tasks(
    v: Validator, tree: dict[str, Any], errors: Collector
) -> dict[str, TaskSpec] | None:
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
        v.fail(
            ("tasks",), "a mapping of task names to {task, executor?, after?, singleton?}", entries
        )
        return None
    out: dict[str, TaskSpec] = {}
    for name, entry in entries.items():
        task = _task_entry(v, name, entry, entries, errors)
        if task is not None:
            out[str(name)] = task
    check_cycles({name: task.conditions for name, task in out.items()}, v)
    return out


def _task_entry(
    v: Validator, name: Any, entry: Any, entries: dict[Any, Any], errors: Collector
) -> TaskSpec | None:
    """One entry of ``tasks:``: its task, own executor and ``after`` (names of ``entries``)."""
    path: KeyPath = ("tasks", name)
    if not isinstance(entry, dict) or "task" not in entry:
        v.fail(
            path,
            "a mapping with a 'task:' key (and optional 'executor', 'after', 'singleton')",
            entry,
        )
        return None
    for key in entry:
        if key not in TASK_ENTRY_KEYS:
            v.error(
                (*path, key),
                "unknown key of a task entry",
                expected="task, executor, after or singleton",
                suggestion=did_you_mean(str(key), TASK_ENTRY_KEYS)
                or f"a task argument goes under '{format_path((*path, 'task'))}'",
            )
    task = _task(v, str(name), entry["task"], (*path, "task"))
    if task is None:
        return None
    if "executor" in entry:
        task.target, task.executor = validate_executor(
            v, entry["executor"], (*path, "executor"), errors
        )
    names = [str(k) for k in entries]
    task.conditions = validate_after(v, entry.get("after", []), (*path, "after"), names, str(name))
    task.after = list(task.conditions)
    task.singleton = validate_singleton(v, entry.get("singleton", False), (*path, "singleton"))
    return task


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
        if env_read_by_nemorun(v, raw["script"], (*path, "script")):
            return None
        script = instantiate(own_options(v, raw, ScriptTask, path))
        return TaskSpec(name, path, script=script) if script is not INVALID else None
    if "command" in raw:
        if is_env_template(raw["command"]):
            v.error(
                (*path, "command"),
                "an environment reference cannot be part of a command: the command is shell "
                "text the job's bash runs as written",
                found=repr(raw["command"]),
                suggestion="use the shell's own expansion, e.g. $HOME instead of ${oc.env:HOME}",
                at_value=True,
            )
            return None
        command = instantiate(own_options(v, raw, CommandTask, path))
        return TaskSpec(name, path, command=command) if command is not INVALID else None
    v.error(
        path,
        "the task says nothing to run",
        expected="a '_target_' (module:function), a 'script' or a 'command' key",
        suggestion=did_you_mean(next(iter(raw), ""), (TARGET_KEY, "script", "command")),
    )
    return None


def validate_executor(
    v: Validator, raw: Any, path: KeyPath, errors: Collector
) -> tuple[str, ExecutorOptions | None]:
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        v.fail(path, "a mapping with 'target' and that target's options", raw)
        return DEFAULT_TARGET, None
    target = raw.get("target", DEFAULT_TARGET)
    try:
        found = value_origin(v.origins, (*path, "target"))
        cls = get_target(target, (*path, "target"), found).options
    except SpecError as error:
        errors.add(error)
        return DEFAULT_TARGET, None
    options = {k: val for k, val in raw.items() if k != "target"}
    opts = instantiate(own_options(v, options, cls, path), cls.__module__)
    return target, opts if opts is not INVALID else None


def own_options(v: Validator, raw: Any, cls: type, path: KeyPath) -> Any:
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


def instantiate(value: Any, home: str = _OWN_MODULE) -> Any:
    """Build nemorun's own option objects from validated `Call`s. Only nemorun's classes, and
    those of the module that declares a target's options (``home``: a plugin's), are ever
    called here (`own_options` refused every other name); user code is never called."""
    if isinstance(value, Call):
        module = getattr(value.target, "__module__", "")
        if not (module.startswith(_OWN_MODULE) or module == home):
            raise TypeError(f"refusing to call {value.target!r} while validating")
        return value.target(**{k: instantiate(a, home) for k, a in value.args.items()})
    if isinstance(value, list):  # options such as ``list[Toleration]``
        return [instantiate(item, home) for item in value]
    if isinstance(value, dict):
        return {key: instantiate(item, home) for key, item in value.items()}
    return value


def env_read_by_nemorun(v: Validator, raw: Any, path: KeyPath) -> bool:
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
