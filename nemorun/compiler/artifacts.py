"""Compile a validated spec for a target: the job's entry point, then the target's artifact.

``compile_spec(spec, target) → Artifacts`` is pure: it reads the spec and the templates and
returns text; nothing is written (``Artifacts.write`` does that, for ``-o DIR``), and nothing
depends on the clock or the machine beyond the paths the spec itself names. The main artifact
is self-contained: it embeds the entry Python (and its table of sweep points) in a heredoc.

The target is chosen before validation (`load_for_target`): ``--target``, else
``executor.target``, else ``local``. Executor options of another target (``partition`` when
compiling for ``local``) are removed with a warning naming them; options no target knows stay,
so the validator reports them with a suggestion.

Each target is one module in `nemorun.compiler.targets` plus one template; the typed context
every template gets is `Job` (and the target's own extra object).
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemorun.compiler.entry import Point, entry_point, sweep_points
from nemorun.errors import KeyPath, SpecError, SpecErrors
from nemorun.schemas.convert import EnvRef
from nemorun.schemas.options import DEFAULT_TARGET, TARGET_OPTIONS, ExecutorOptions
from nemorun.schemas.source import find_origin
from nemorun.schemas.spec import Spec

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Linux limits one argument to 128 KiB (MAX_ARG_STRLEN); the entry runs as `python -c "$ENTRY"`.
MAX_ENTRY_BYTES = 120_000


@dataclass(frozen=True)
class Artifact:
    """One file of a compiled job."""

    name: str
    text: str
    executable: bool = False


@dataclass(frozen=True)
class Artifacts:
    """What a compile produces: the main artifact (stdout without ``-o``) and side files."""

    target: str
    main: Artifact
    files: tuple[Artifact, ...] = ()
    points: tuple[Point, ...] = ()
    warnings: tuple[str, ...] = ()

    def all(self) -> tuple[Artifact, ...]:
        return (self.main, *self.files)

    def write(self, directory: Path) -> list[Path]:
        """Write every artifact under ``directory`` (atomically); returns the paths."""
        from nemorun.files import write_atomic

        paths = []
        for artifact in self.all():
            path = directory / artifact.name
            write_atomic(path, artifact.text, 0o755 if artifact.executable else 0o644)
            paths.append(path)
        return paths


@dataclass(frozen=True)
class Job:
    """The typed context of every template: what to run, where, with which environment."""

    name: str
    """The run's name (``NEMORUN_RUN_NAME``): the spec's ``name``, else the file's stem."""
    source: str
    overrides: tuple[str, ...]
    target: str
    options: ExecutorOptions
    points: tuple[Point, ...]
    entry: str | None
    """The entry module (Python tasks); None for script and command tasks."""
    delimiter: str
    """The heredoc delimiter around ``entry``: no line of it."""
    python: str
    argv: tuple[str, ...]
    """The words that run a script or command task (quoted by the template)."""
    env: tuple[tuple[str, str | EnvRef], ...]
    setup: tuple[str, ...]
    workdir: str | None
    pythonpath: str | None

    @property
    def num_points(self) -> int:
        return len(self.points)

    def is_sweep(self) -> bool:
        return len(self.points) > 1


def load_for_target(
    path: str | Path, overrides: Sequence[str] = (), target: str | None = None
) -> tuple[Spec, list[str]]:
    """Load ``path`` with its executor read as ``target``'s options; returns the warnings too."""
    from nemorun.api import resolve
    from nemorun.schemas.spec import validate_tree

    resolved = resolve(path, overrides)
    raw = resolved.tree.get("executor")
    warnings: list[str] = []
    if isinstance(raw, dict) and raw.get("target", DEFAULT_TARGET) in TARGET_OPTIONS:
        chosen = target or raw.get("target", DEFAULT_TARGET)
        known = {f.name for f in dataclasses.fields(TARGET_OPTIONS[chosen])}
        kept: dict[str, Any] = {"target": chosen}
        for key, value in raw.items():
            if key == "target":
                continue
            owners = [t for t, cls in TARGET_OPTIONS.items() if _has_field(cls, key)]
            if key in known or not owners:
                kept[key] = value
            else:
                warnings.append(
                    f"executor.{key} is an option of {' and '.join(owners)}; "
                    f"target {chosen} does not use it"
                )
        resolved.tree["executor"] = kept
    elif raw is None and target is not None:
        resolved.tree["executor"] = {"target": target}
    return validate_tree(resolved), warnings


def _has_field(cls: type, name: str) -> bool:
    return any(f.name == name for f in dataclasses.fields(cls))


def compile_spec(
    spec: Spec,
    target: str | None = None,
    templates: Path | None = None,
    warnings: Sequence[str] = (),
) -> Artifacts:
    """The artifacts of ``spec`` for ``target`` (default: the spec's own target)."""
    from nemorun.compiler.targets import target_module

    name = target or spec.target
    module = target_module(name)
    if name != spec.target:
        raise SpecError(
            f"the spec was loaded for target {spec.target}, not {name}",
            suggestion="load it with load_for_target(path, overrides, target)",
        )
    # Read from the tree: `Spec.launcher` can come back as the executor's options (the
    # validator memoises mappings by id, and a freed temporary's id gets reused).
    launcher = spec.tree.get("launcher") or {}
    kind = launcher.get("kind", "none") if isinstance(launcher, dict) else "none"
    if kind != "none":
        raise SpecError(
            f"launcher '{kind}' is not supported yet by compile",
            ("launcher", "kind"),
            find_origin(spec.resolved.origins, ("launcher", "kind")),
        )
    job = make_job(spec, name, module.default_python())
    extra, more_warnings = module.plan(spec, job)
    from nemorun.compiler.render import render

    text = render(module.TEMPLATE, {"job": job, "target": extra}, templates)
    files: list[Artifact] = []
    if job.entry is not None:
        files.append(Artifact("entry.py", job.entry))
    main = Artifact(f"{_file_name(job.name)}{module.SUFFIX}", text, executable=True)
    return Artifacts(name, main, tuple(files), job.points, (*warnings, *more_warnings))


def make_job(spec: Spec, target: str, default_python: str) -> Job:
    """Everything target-independent that a template needs."""
    from nemorun.compiler.render import heredoc_delimiter

    options = spec.executor
    task = spec.task
    python = options.python or default_python
    entry: str | None = None
    argv: tuple[str, ...] = ()
    if task.call is not None:
        generated = entry_point(spec)
        entry, points = generated.source, generated.points
        if len(entry.encode()) > MAX_ENTRY_BYTES:
            raise SpecError(
                f"the entry point is {len(entry.encode())} bytes, more than a job can pass as "
                f"one argument (python -c, {MAX_ENTRY_BYTES} bytes at most)",
                suggestion="split the sweep into smaller ones",
            )
    else:
        points = sweep_points(spec)
        if spec.is_sweep() or not spec.single_task:
            raise SpecError(
                "sweeps and several tasks are supported for Python tasks only, for now",
                suggestion="give the task a '_target_'",
            )
        argv = _argv(spec, python)
    return Job(
        name=spec.name or spec.resolved.source.stem,
        source=str(spec.resolved.source),
        overrides=tuple(spec.resolved.overrides),
        target=target,
        options=options,
        points=points,
        entry=entry,
        delimiter=heredoc_delimiter(entry or ""),
        python=python,
        argv=argv,
        env=_env(spec),
        setup=tuple(options.setup),
        workdir=options.workdir,
        pythonpath=":".join(str(p) for p in spec.pythonpath) or None,
    )


def _argv(spec: Spec, python: str) -> tuple[str, ...]:
    task = spec.task
    if task.script is not None:
        script = task.script.script
        runner = python if script.endswith(".py") else "bash"
        return (runner, script, *task.script.args)
    assert task.command is not None
    command = task.command.command
    return ("bash", "-c", command) if isinstance(command, str) else tuple(command)


def _env(spec: Spec) -> tuple[tuple[str, str | EnvRef], ...]:
    errors = []
    for name in spec.executor.env:
        if not ENV_NAME.fullmatch(name):
            path: KeyPath = ("executor", "env", name)
            errors.append(
                SpecError(
                    "not a valid environment variable name",
                    path,
                    find_origin(spec.resolved.origins, path),
                    expected="letters, digits and '_', not starting with a digit",
                    found=repr(name),
                )
            )
    if errors:
        raise SpecErrors(errors)
    return tuple(spec.executor.env.items())


def _file_name(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name, flags=re.ASCII).lstrip(".") or "job"


def local_python() -> str:
    """The interpreter nemorun runs under: local jobs default to it."""
    return sys.executable or "python3"
