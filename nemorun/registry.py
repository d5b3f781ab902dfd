"""Targets: what each one declares (`TargetDef`) and the one registry that finds them by name.

A target is one module plus its template(s): its options dataclass, its pure ``plan`` and one
`TargetDef` that names them. Its launch half (submit, status, logs, cancel: a
`nemorun.launchers.base.Target`) may live in a second module, named as ``"module:Class"`` and
imported only when launching, so compiling never imports it.

Built-in targets are known here by name (`BUILTIN`): looking one up reads no package metadata,
which keeps ``validate`` cheap. A plugin package adds a target through the ``nemorun.targets``
entry-point group, whose entry is the plugin's `TargetDef`::

    [project.entry-points."nemorun.targets"]
    pbs = "nemorun_pbs.target:TARGET"

Installed distributions are scanned only when a name that is not built in is asked for, or when
every name is listed (the JSON Schema, an unknown-target error). A plugin cannot take a built-in
name. A registered target that fails to import, or whose entry is not a `TargetDef` of that
name, is a `TargetUnavailable` (exit 1) naming the entry point, never a traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemorun.errors import KeyPath, Origin, SpecError, did_you_mean

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from nemorun.compiler.job import Job
    from nemorun.launchers.base import Target
    from nemorun.schemas.options import ExecutorOptions
    from nemorun.schemas.retries import Resilience
    from nemorun.schemas.spec import Spec

GROUP = "nemorun.targets"
"""The entry-point group a plugin registers its `TargetDef` in."""
BUILTIN: dict[str, str] = {
    "local": "nemorun.compiler.targets.local:TARGET",
    "slurm": "nemorun.compiler.targets.slurm:TARGET",
    "docker": "nemorun.compiler.targets.docker:TARGET",
    "skypilot": "nemorun.compiler.targets.skypilot:TARGET",
    "ray": "nemorun.compiler.targets.ray:TARGET",
    "kubernetes": "nemorun.compiler.targets.kubernetes:TARGET",
}
"""nemorun's own targets, in the order they are listed, each ``module:TargetDef``."""


@dataclass(frozen=True)
class TargetDef:
    """Everything nemorun asks of a target, declared once in the target's own module.

    Compile reads ``options`` (the ``executor`` keys the spec may write, with their formats),
    ``launchers``, ``host_filesystem``, then calls ``plan(spec, job) → (context, warnings)``:
    pure, it raises located `SpecError`s for rules between options and returns the object
    ``template`` sees as ``target`` (or `nemorun.compiler.job.Parts` for several main
    artifacts, ``NAME.i SUFFIX``). Launching imports ``launch`` and calls its methods.
    """

    name: str
    options: type[ExecutorOptions]
    """The dataclass of ``executor:``, a subclass of `ExecutorOptions`."""
    plan: Callable[[Spec, Job], tuple[Any, list[str]]]
    template: str
    """The main artifact's template file name (``slurm.sbatch.j2``); a user's directory first."""
    suffix: str
    """The main artifact's file suffix (``.sbatch``)."""
    launch: str
    """``module:Class`` of the launch half, a `nemorun.launchers.base.Target` subclass."""
    template_dir: Path | None = None
    """Where ``template`` is (a plugin's own directory); None: nemorun's ``templates/``. A
    user's ``--templates`` directory still comes first."""
    host_filesystem: bool = False
    """True when the job runs on this machine's files outside a container: it may then run
    nemorun's own interpreter (see `nemorun.compiler.driver.job_python`)."""
    launchers: tuple[str, ...] = ("none",)
    """The ``launcher.kind`` values it compiles (torchrun's words: `nemorun.compiler.torchrun`,
    with the target's own variables, chosen by ``plan``)."""
    parallel_option: str | None = None
    """The option that bounds how many sweep points run at once (``launch --max-parallel``),
    or None when the target has none."""
    log_paths: Callable[[Job, Any], dict[str, str]] | None = None
    """``(job, context) → {output, error, status}``: where a run's output goes, with the
    target's own placeholders; None when the launch half finds its logs itself."""
    orders_tasks: bool = False
    """True when its launch half honours ``after:`` conditions and ``singleton:`` (starts a
    task only when they hold); compile refuses them, located, for a target that cannot."""
    stop_command: str | None = None
    """The shell line that stops jobs by id (``scancel {ids}``), shown for jobs that a killed
    ``launch`` submitted but never recorded; None: the hint names the target and the ids."""
    resilience: Resilience | None = None
    """What it honours of ``executor.retries`` and ``checkpoint_signal``; None: neither (a
    spec that sets them is refused at their key)."""

    def __post_init__(self) -> None:
        from nemorun.schemas.options import ExecutorOptions

        if not (isinstance(self.options, type) and issubclass(self.options, ExecutorOptions)):
            raise TypeError(f"target {self.name}: options must subclass ExecutorOptions")
        if self.parallel_option is not None and self.parallel_option not in self.option_names():
            raise TypeError(f"target {self.name}: no option '{self.parallel_option}'")

    def option_names(self) -> frozenset[str]:
        """The keys ``executor:`` may hold for this target (besides ``target``)."""
        return frozenset(f.name for f in dataclasses.fields(self.options))

    def launcher(self) -> Target:
        """A new instance of the launch half, named after this target; `TargetUnavailable`
        when it cannot be had."""
        from nemorun.launchers.base import Target, TargetUnavailable

        try:
            cls = _load(self.launch)
        except Exception as exc:
            raise TargetUnavailable(
                f"the launch half of target '{self.name}' ({self.launch}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        if not (isinstance(cls, type) and issubclass(cls, Target)):
            raise TargetUnavailable(
                f"target '{self.name}': {self.launch} is not a nemorun.launchers.base.Target"
            )
        target = cls()
        target.name = self.name  # one home for the name: this declaration
        return target


def target_names() -> tuple[str, ...]:
    """Every target's name: the built-in ones, then the plugins' in name order."""
    return (*BUILTIN, *sorted(_plugins()))


def find_target(name: object) -> TargetDef | None:
    """The target called ``name``, or None when no built-in or plugin has that name."""
    if not isinstance(name, str):
        return None
    if name in BUILTIN:
        return _builtin(name)
    return _plugin(name) if name in _plugins() else None


def get_target(
    name: object, path: KeyPath = (), origin: Origin | None = None, where: str = "--target"
) -> TargetDef:
    """The target called ``name``: the one lookup of a target's name, whether it comes from
    ``--target``, ``executor.target``, a task's own executor or a run record. An unknown name
    is a `SpecError` that suggests the closest one, at ``path`` (and ``origin``) when the spec
    wrote it, else labelled ``where``."""
    found = find_target(name)
    if found is not None:
        return found
    names = target_names()
    raise SpecError(
        "unknown target",
        path,
        origin,
        expected="one of " + ", ".join(names),
        found=repr(name),
        suggestion=did_you_mean(str(name), names)
        or f"a plugin package adds one in the '{GROUP}' entry-point group",
        file=None if path else where,
    )


def stop_hint(name: str, job_ids: str) -> str:
    """How to stop the jobs ``job_ids`` (space-separated) of target ``name`` by hand: its
    ``stop_command``, else in words (also for a target no longer installed or loadable)."""
    from nemorun.launchers.base import TargetUnavailable

    try:
        declared = find_target(name)
    except TargetUnavailable:
        declared = None
    if declared is None or declared.stop_command is None:
        return f"stop {name} jobs {job_ids}"
    return declared.stop_command.format(ids=job_ids)


def _load(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _builtin(name: str) -> TargetDef:
    target = _load(BUILTIN[name])
    assert isinstance(target, TargetDef) and target.name == name, BUILTIN[name]
    return target


@functools.cache
def _plugins() -> dict[str, EntryPoint]:
    """The plugins' entry points by name (one scan of the installed distributions)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=GROUP) if ep.name not in BUILTIN}


@functools.cache
def _plugin(name: str) -> TargetDef:
    from nemorun.launchers.base import TargetUnavailable

    entry = _plugins()[name]
    try:
        target = entry.load()
    except Exception as exc:
        raise TargetUnavailable(
            f"target '{entry.name}' is registered ({entry.value}) but cannot be loaded: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not (isinstance(target, TargetDef) and target.name == entry.name):
        raise TargetUnavailable(
            f"target '{entry.name}' ({entry.value}) is not a nemorun.registry.TargetDef "
            f"named '{entry.name}'"
        )
    return target
