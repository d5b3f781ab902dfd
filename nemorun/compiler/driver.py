"""The compile driver: a validated spec → the job's entry point → the target's artifact.

``compile_spec(spec, target) → Artifacts`` is pure: it reads the spec and the templates and
returns text; nothing is written (``Artifacts.write`` does that, for ``-o DIR``), and nothing
depends on the clock or the machine beyond the paths the spec itself names. The main artifact
writes the entry Python from a heredoc to a file where the job runs (no size limit).

The target is chosen before validation (`nemorun.api.load` with ``target``, through
`executor_for_target`): ``--target``, else ``executor.target``, else ``local``. Executor
options of another target (``partition`` when compiling for ``local``) are removed with a
warning naming them; options no target knows stay, so the validator reports them with a
suggestion.

Each target is declared by a `nemorun.registry.TargetDef` (its module plus its template); the
typed context every template gets is `Job` (and the target's own plan object). A ``launcher.kind``
the target does not list is refused at its line. Its ``plan`` may return `Parts`: several
template contexts, one main artifact each (``NAME.0.sbatch``, ``NAME.1.sbatch``…), which cannot
go to stdout together (`Artifacts.main` then suggests ``-o DIR``).

Compile's other inputs (the machine, a run, one task of several): see `compile_spec`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemorun.compiler.entry import entry_point, sweep_points
from nemorun.compiler.job import ENTRY_FILE, Artifact, Artifacts, Job, Parts, RunContext
from nemorun.compiler.machine import UNKNOWN_MACHINE, Machine
from nemorun.compiler.retries import retry_plan
from nemorun.errors import KeyPath, Origin, SpecError, SpecErrors
from nemorun.schemas.convert import EnvRef
from nemorun.schemas.options import DEFAULT_TARGET, ExecutorOptions
from nemorun.schemas.source import find_origin
from nemorun.schemas.spec import Spec

if TYPE_CHECKING:
    from nemorun.registry import TargetDef

DEFAULT_PYTHON = "python3"
"""The job's interpreter where this machine's is not reachable (containers, clouds)."""


def executor_for_target(
    raw: Any, target: str | None, where: str = "executor"
) -> tuple[Any, list[str]]:
    """The raw ``executor`` mapping read as ``target``'s options (default: its own target):
    another target's options are dropped, with a warning each. An unknown ``target`` is a
    `SpecError`; anything the validator must report about ``raw`` (not a mapping, an unknown
    ``executor.target``) is returned unchanged. Only an option the chosen target does not know
    makes the registry list every target (plugins included), to name its owners."""
    from nemorun.registry import find_target, get_target, target_names

    warnings: list[str] = []
    if target is not None:
        get_target(target)
    if isinstance(raw, dict) and find_target(raw.get("target", DEFAULT_TARGET)) is not None:
        chosen = target or raw.get("target", DEFAULT_TARGET)
        known = get_target(chosen).option_names()
        kept: dict[str, Any] = {"target": chosen}
        for key, value in raw.items():
            if key == "target":
                continue
            owners = () if key in known else _owners(key, target_names())
            if not owners:
                kept[key] = value
            else:
                warnings.append(
                    f"{where}.{key} is an option of {' and '.join(owners)}; "
                    f"target {chosen} does not use it"
                )
        return kept, warnings
    if raw is None and target is not None:
        return {"target": target}, warnings
    return raw, warnings


def _owners(option: str, names: Sequence[str]) -> tuple[str, ...]:
    """The targets among ``names`` that have ``option``."""
    from nemorun.registry import get_target

    return tuple(name for name in names if option in get_target(name).option_names())


def compile_spec(
    spec: Spec,
    target: str | None = None,
    templates: Path | None = None,
    warnings: Sequence[str] = (),
    run: RunContext | None = None,
    task: str | None = None,
    host_python: str | None = None,
    machine: Machine = UNKNOWN_MACHINE,
    output: Path | None = None,
) -> Artifacts:
    """The artifacts of ``spec`` for ``target`` (default: the spec's own target), for ``run``
    when given. ``spec`` has one task: one task of several is compiled as the single-task
    spec `nemorun.compiler.tasks.task_spec` gives, with ``task`` naming it (and the artifacts'
    stem); `nemorun.compiler.tasks.compile_tasks` does both for every task.
    ``host_python`` is the interpreter of the machine compiling (see `job_python`);
    ``output``, the directory ``-o DIR`` writes into, lets split Slurm parts share ``entry.py``.

    **The machine** (`nemorun.compiler.machine.Machine`) is an input too: the CLI and the launcher
    tell compile which options this machine's ``sbatch`` takes; without it, nemorun's built-in
    knowledge is used.

    **A run** (`RunContext`: the run's id and directory, chosen by the launcher) is an *input* of
    compile, like the spec: the artifact then exports ``NEMORUN_RUN_ID`` and ``NEMORUN_RUN_DIR`` and
    writes its logs under ``RUN_DIR/logs/``. Without one, the output is what ``nemorun compile``
    prints, byte for byte. Compile stays pure either way: no clock, no randomness. (With several
    tasks, each task's artifacts are named after it, so they and their logs sit side by side.)
    """
    name, declared = _declared_target(spec, target)
    _refuse_env_refs_in_options(spec)
    _refuse_nul_characters(spec)
    python = job_python(spec.executor, declared.host_filesystem, host_python)
    job = dataclasses.replace(
        make_job(spec, name, python, run, task),
        machine=machine,
        output=output,
        retry=retry_plan(spec, declared),
    )
    extra, more_warnings = declared.plan(spec, job)
    from nemorun.compiler.render import load_template

    template = load_template(declared.template, templates, declared.template_dir)
    stem, why_several = job.stem, None
    if isinstance(extra, Parts):
        contexts, why_several = extra.contexts, extra.reason
        names = [f"{stem}.{i}{declared.suffix}" for i in range(len(contexts))]
    else:
        contexts, names = (extra,), [f"{stem}{declared.suffix}"]
    own = templates is None and declared.template_dir is None  # nemorun's template
    mains = tuple(
        Artifact(file, _rendered(template, job, context, own), executable=True)
        for file, context in zip(names, contexts)
    )
    files: list[Artifact] = []
    if job.entry is not None:
        files.append(Artifact(ENTRY_FILE, job.entry))
    logs = declared.log_paths(job, contexts[0]) if run and declared.log_paths else {}
    return Artifacts(
        name, mains, tuple(files), job.points, (*warnings, *more_warnings), why_several, logs
    )


def _rendered(template: Any, job: Job, plan: Any, own: bool) -> str | Sequence[str]:
    """The main artifact's text: a large sweep's stream of documents from two renders of
    nemorun's own template (``own``: no user's template directory) when the plan can stand
    in points (`nemorun.compiler.stream`), else the template rendered for every point."""
    from nemorun.compiler import stream
    from nemorun.compiler.render import render_template

    def render(job: Job, plan: Any) -> str:
        return render_template(template, {"job": job, "target": plan})

    if own and job.num_points >= stream.MIN_POINTS and hasattr(plan, "stand_in"):
        chunks = stream.render_points(
            job, job.points, lambda indices: plan.stand_in(job, indices), render
        )
        if chunks is not None:
            return chunks
    return render(job, plan)


def _declared_target(spec: Spec, target: str | None) -> tuple[str, TargetDef]:
    """The name and `TargetDef` ``spec`` compiles for, once it is known to fit: one task,
    loaded for that target, with a launcher the target supports."""
    from nemorun.registry import get_target

    if not spec.single_task:
        raise SpecError(
            f"the spec has several tasks ({', '.join(spec.tasks)}): compile one at a time",
            suggestion="write them all into a directory with -o DIR",
        )
    name = target or spec.target
    declared = get_target(name)
    if name != spec.target:
        raise SpecError(
            f"the spec was loaded for target {spec.target}, not {name}",
            suggestion="load it with nemorun.load(path, overrides, target)",
        )
    kind = spec.launcher.kind
    if kind not in declared.launchers:
        raise SpecError(
            f"launcher '{kind}' is not supported yet by target {name}",
            ("launcher", "kind"),
            find_origin(spec.resolved.origins, ("launcher", "kind")),
        )
    return name, declared


def _refuse_env_refs_in_options(spec: Spec) -> None:
    """``${oc.env:…}`` is read where the job runs: only ``env`` values (and task arguments) can
    wait that long. Any other executor option is read by the scheduler when the job is
    submitted, so a reference there would reach it as text."""
    from nemorun.errors import SpecErrors
    from nemorun.schemas.convert import EnvRef

    errors = []
    for field in dataclasses.fields(spec.executor):
        if field.name == "env":
            continue
        value = getattr(spec.executor, field.name)
        items: list[tuple[tuple[str | int, ...], Any]] = [((field.name,), value)]
        if isinstance(value, dict):
            items = [((field.name, k), v) for k, v in value.items()]
        elif isinstance(value, list):
            items = [((field.name, i), v) for i, v in enumerate(value)]
        elif dataclasses.is_dataclass(value) and not isinstance(value, (type, EnvRef)):
            items = [
                ((field.name, f.name), getattr(value, f.name)) for f in dataclasses.fields(value)
            ]
        for sub, item in items:
            if isinstance(item, EnvRef):
                path = ("executor", *sub)
                origin = find_origin(spec.resolved.origins, path)
                errors.append(
                    SpecError(
                        "an environment reference cannot be read here: executor options are "
                        "read when the job is submitted, not where it runs",
                        path,
                        origin.at_value() if origin is not None else None,
                        found=repr(item.template),
                        suggestion="write the value, put it under 'env:', or set it with an "
                        "override (executor.KEY=VALUE)",
                    )
                )
    if errors:
        raise SpecErrors(errors)


def _refuse_nul_characters(spec: Spec) -> None:
    """A NUL character cannot reach a job through a shell: exec's arguments and the
    environment are C strings that end there, and bash drops it from a script. So no value
    that becomes a word of the job's shell (the run name, every executor and launcher option,
    a script or command task) may hold one. Python task arguments reach the job inside the
    entry, written as Python literals, and may."""
    keys = ["name", "executor", "launcher"]
    if spec.task.call is None:
        keys.append("task")
    errors = [
        SpecError(
            "a NUL character cannot reach the job: its arguments, environment and script "
            "end or drop a string there",
            path,
            _value_origin(spec, path),
            found=repr(value),
            suggestion="remove the NUL character",
        )
        for key in keys
        for path, value in _strings(spec.tree.get(key), (key,))
        if "\0" in value
    ]
    if errors:
        raise SpecErrors(errors)


def _strings(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Every string in ``value`` (mapping keys too), with its key path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key, path)
            yield from _strings(item, (*path, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _value_origin(spec: Spec, path: KeyPath) -> Origin | None:
    origin = find_origin(spec.resolved.origins, path)
    return origin.at_value() if origin is not None and len(path) > 1 else origin


def make_job(
    spec: Spec,
    target: str,
    python: str,
    run: RunContext | None = None,
    task: str | None = None,
) -> Job:
    """Everything target-independent that a template needs; ``python`` runs Python tasks."""
    from nemorun.compiler.render import heredoc_delimiter

    options = spec.executor
    what = spec.task
    entry: str | None = None
    argv: tuple[str, ...] = ()
    if what.call is not None:
        generated = entry_point(spec)
        entry, points = generated.source, generated.points
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
        env=_env(spec) + (run.env if run is not None else ()),
        setup=tuple(options.setup),
        workdir=options.workdir,
        pythonpath=tuple(str(p) for p in spec.pythonpath),
        launcher=spec.launcher,
        run=run,
        task=task,
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
    """The spec's ``env`` (its names were checked by the validator: `ENV_NAME`'s format, none
    of `JOB_VARIABLES`)."""
    return tuple(spec.executor.env.items())


def job_python(options: ExecutorOptions, host_filesystem: bool, host_python: str | None) -> str:
    """The interpreter that runs the job's Python, by one rule for every target.

    ``executor.python`` when the spec sets it. Else, when the job runs on this machine's
    filesystem (the target's ``HOST_FILESYSTEM``: local, and Slurm, whose nodes share it) and
    not in a container, ``host_python``: the interpreter nemorun runs under, passed in by the
    CLI and the launcher (compile reads nothing of the machine itself). Else ``python3`` from
    the job's own ``PATH``: a container's or a cloud machine's.
    """
    if options.python:
        return options.python
    container = options.container
    if host_filesystem and (container is None or not container.uses_image()) and host_python:
        return host_python
    return DEFAULT_PYTHON
