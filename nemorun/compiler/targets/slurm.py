"""The ``slurm`` target: one sbatch script; a sweep is one job array (or several).

`SlurmOptions` fields become ``#SBATCH --long-name=value`` lines in a fixed order; ``extra``
adds any other long option, checked against the options of this machine's sbatch when compile
is told them (`nemorun.compiler.machine`), else nemorun's built-in list of sbatch 22.05's
(`nemorun.compiler.sbatch_options`). A sweep of N points becomes
``--array=0-(N-1)%P`` and each array task picks its point from ``$SLURM_ARRAY_TASK_ID``;
a sweep above ``max_array_size`` (the spec's, else the cluster's when the launcher read it) is
split into several arrays, and ``per_job`` packs several points into each array element
(`nemorun.compiler.packing`).

Where the logs go: `_log_stem`. Under torchrun: `_torchrun`. Value formats (times, GPU
counts, memory sizes, counts…) are declared on `SlurmOptions`' fields and checked by the
validator; `_Checks` holds the rules between options and those of the rendered directives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nemorun.compiler import packing, torchrun
from nemorun.compiler.job import Parts
from nemorun.compiler.machine import Machine
from nemorun.compiler.packing import DEFAULT_ARRAY_SIZE, Packing
from nemorun.compiler.retries import slurm_policy
from nemorun.compiler.sbatch_options import BUILTIN
from nemorun.compiler.targets.checks import OptionChecks
from nemorun.compiler.targets.slurm_containers import (
    NO_CONTAINER,
    ContainerStep,
    SlurmContainer,
    container_step,
)
from nemorun.compiler.torchrun import Macros, Var, Word
from nemorun.errors import KeyPath, did_you_mean
from nemorun.registry import TargetDef
from nemorun.schemas.formats import Format, any_case, option
from nemorun.schemas.options import COUNT, ExecutorOptions
from nemorun.schemas.retries import REASONS, Resilience

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.schemas.spec import Spec

MACROS = Macros(
    node_rank=Word.of(Var("SLURM_NODEID")),
    head_node=Word.of(Var("NEMORUN_HEAD_NODE")),
    job_id=Word.of(Var("SLURM_JOB_ID")),
)
# Options of the batch job that size tasks: under torchrun the srun step has one per node.
TASK_OPTIONS = ("ntasks", "ntasks_per_node", "gpus_per_task")

# Options nemorun sets itself, or that would change what the script is.
MANAGED = frozenset({"array", "job-name", "output", "error", "wrap", "parsable", "wait", "batch"})
# Fields that are not sbatch options, or that are written specially.
NOT_DIRECTIVES = frozenset(
    {f.name for f in dataclasses.fields(ExecutorOptions) if f.name != "nodes"}
    | {"array_parallelism", "max_array_size", "cluster", "extra", "job_name", "output"}
    | {"error", "requeue", "per_job", "per_job_parallel", "fail_fast"}
)


SLURM_TIME = Format(
    "a Slurm time",
    pattern=r"[0-9]+(?::[0-9]{1,2}){0,2}"  # minutes, MM:SS, HH:MM:SS
    r"|[0-9]+-[0-9]+(?::[0-9]{1,2}){0,2}"  # D-HH, D-HH:MM, D-HH:MM:SS
    f"|{any_case('infinite')}|{any_case('unlimited')}",
    expected="minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (or UNLIMITED)",
    example="04:00:00",
    minimum=0,
)
SLURM_GPUS = Format(
    "a GPU count",
    pattern=r"(?:[A-Za-z0-9_.-]+:)?[0-9]+",
    expected="a count or type:count, like 8 or a100:8",
    example="a100:8",
    minimum=0,
)
SLURM_MEMORY = Format(
    "a Slurm memory size",
    pattern=r"[0-9]+(?:[KMGTkmgt][Bb]?)?",
    expected="megabytes, or a whole number with a unit K, M, G or T, like 4000 or 64G",
    example="64G",
)
_MAIL_TYPES = (
    "NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT",
    "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS",
)  # fmt: skip
_ANY_MAIL_TYPE = "|".join(any_case(t) for t in _MAIL_TYPES)  # sbatch reads them in any case
SLURM_MAIL_TYPE = Format(
    "a list of mail types",
    pattern=f"(?:{_ANY_MAIL_TYPE})(?:,(?:{_ANY_MAIL_TYPE}))*",
    expected="comma-separated " + ", ".join(_MAIL_TYPES),
    example="END,FAIL",
    choices=_MAIL_TYPES,
    choice_of=str.upper,
)
SLURM_SIGNAL = Format(
    "a signal",
    pattern=r"(?:[RB]:)?[A-Za-z0-9]+(?:@[0-9]+)?",
    expected="[R:|B:]SIGNAL[@SECONDS], like USR1@90",
    example="USR1@90",
)


@dataclass
class SlurmOptions(ExecutorOptions):
    """sbatch options, by their long names with underscores (``cpus_per_task``).

    Args:
        account: Account to charge (``--account``).
        partition: Partition to run in (``--partition``).
        time: Time limit: minutes, ``MM:SS``, ``HH:MM:SS`` or ``D-HH[:MM[:SS]]``.
        gpus_per_node: GPUs on each node, a count or ``type:count`` (``a100:8``).
        extra: Any other sbatch long option, checked against sbatch's own list.
        max_array_size: Largest job array the cluster accepts; bigger sweeps are split.
            Unset: the cluster's ``MaxArraySize`` at launch (1001 when compiling alone).
        per_job: Points each array element runs (a sweep of N points is N/per_job jobs).
        per_job_parallel: The points of one element run at once, each its own srun step.
        fail_fast: The first failed point cancels the rest of the sweep.
        cluster: A remote cluster's profile (``clusters.yaml``): submit there over ssh.
    """

    # Slurm's own container: a runtime (pyxis, apptainer, none) and an optional image.
    container: SlurmContainer | None = None  # type: ignore[assignment]
    account: str | None = None
    partition: str | None = None
    qos: str | None = None
    time: str | int | None = option(SLURM_TIME)
    ntasks: int | None = option(COUNT)
    ntasks_per_node: int | None = option(COUNT)
    cpus_per_task: int | None = option(COUNT)
    gpus: str | int | None = option(SLURM_GPUS)
    gpus_per_node: str | int | None = option(SLURM_GPUS)
    gpus_per_task: str | int | None = option(SLURM_GPUS)
    gres: str | None = None
    mem: str | None = option(SLURM_MEMORY)
    mem_per_cpu: str | None = option(SLURM_MEMORY)
    mem_per_gpu: str | None = option(SLURM_MEMORY)
    constraint: str | None = None
    exclude: str | None = None
    nodelist: str | None = None
    reservation: str | None = None
    exclusive: bool | None = None
    requeue: bool | None = None
    signal: str | None = option(SLURM_SIGNAL)
    mail_type: str | None = option(SLURM_MAIL_TYPE)
    mail_user: str | None = None
    comment: str | None = None
    wckey: str | None = None
    licenses: str | None = None
    time_min: str | int | None = option(SLURM_TIME)
    array_parallelism: int | None = option(COUNT)
    max_array_size: int | None = option(COUNT)
    per_job: int | None = option(COUNT)
    per_job_parallel: bool | None = None
    fail_fast: bool | None = None
    cluster: str | None = None
    job_name: str | None = None
    output: str | None = None
    error: str | None = None
    extra: dict[str, bool | int | str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class SlurmPlan:
    """What ``slurm.sbatch.j2`` needs beyond the `Job`."""

    directives: tuple[tuple[str, Any], ...]
    """(long option, value); a value of None is a flag (``--exclusive``)."""
    array: str | None
    container: ContainerStep = NO_CONTAINER
    """The container's words in the srun step and its ``export`` lines
    (`nemorun.compiler.targets.slurm_containers`)."""
    offset: int = 0
    """The sweep point of array index 0 (a part of a split sweep starts after the others)."""
    count: int = 1
    """How many points this script runs."""
    part: int = 0
    parts: int = 1
    """This script is part ``part`` of ``parts`` (1 unless the sweep is split)."""
    srun: tuple[Word, ...] = ()
    """Options of srun itself (before any container flags)."""
    packing: Packing | None = None
    """How each element runs several points (``per_job``, ``fail_fast``), or None."""
    array_size: int = DEFAULT_ARRAY_SIZE
    """The most elements one array may have (`packing.array_limit`)."""
    torchrun: tuple[Word, ...] | None = None
    """The torchrun words (run by ``bash -c`` in the step), or None without a launcher."""
    torchrun_args: tuple[Word, ...] = ()
    """The ``bash -c`` script's ``$0``, then `torchrun.RUN_ENTRY` and the entry's file."""
    entry_file: str | None = None
    """The entry's one file that the parts of a split sweep share (`_arrays`), or None when
    the script holds the entry itself."""


def plan(spec: Spec, job: Job) -> tuple[SlurmPlan | Parts, list[str]]:
    """The checked options as ``#SBATCH`` directives, and the srun step's words."""
    options = spec.executor
    assert isinstance(options, SlurmOptions)
    check = _Checks(spec)
    check.memory(options)
    check.gpus_per_task(options)
    packing.check(check, options, job)
    warnings: list[str] = []
    srun, command, command_args = _torchrun(spec, job, warnings)
    if options.per_job_parallel and options.per_job:
        srun = (*srun, Word.of("--exact"), Word.of("--ntasks=1"))  # a point, not the whole job
    directives = _directives(spec, job, check)
    container = container_step(options, job, check)
    check.done()
    base = SlurmPlan(
        tuple(directives),
        None,
        container,
        count=job.num_points,
        srun=srun,
        torchrun=command,
        torchrun_args=command_args,
        packing=packing.packing(options, job),
        array_size=packing.array_limit(options, job.machine),
    )
    if not job.is_sweep():
        return base, warnings
    return packing.arrays(base, options.array_parallelism, job), warnings


def _torchrun(
    spec: Spec, job: Job, warnings: list[str]
) -> tuple[tuple[Word, ...], tuple[Word, ...] | None, tuple[Word, ...]]:
    """srun's own options, the torchrun words and the ``bash -c`` script's arguments for
    ``launcher: {kind: torchrun}``; ``((), None, ())`` without a launcher.

    One srun task per node (``--ntasks-per-node=1``, ``--kill-on-bad-exit=1``), each running
    torchrun under ``bash -c`` so that ``$SLURM_NODEID`` is read inside the step; the
    rendezvous is on the first host of ``scontrol show hostnames "$SLURM_JOB_NODELIST"``
    (``NEMORUN_HEAD_NODE``, set by the batch script, which runs there), at
    ``launcher.rdzv_port``, with ``--rdzv-id=$SLURM_JOB_ID`` (each array task is its own
    job). `torchrun.RUN_ENTRY` and the entry's file reach ``bash -c`` as its ``$1`` and ``$2``
    (each node has its copy: the script's ``sbcast``). Two torchrun jobs whose first node is
    the same machine (array tasks sharing a node) would both listen on ``rdzv_port``: give
    such jobs whole nodes (``exclusive``) or distinct ports. See `nemorun.compiler.torchrun`.
    """
    if job.launcher.kind != "torchrun":
        return (), None, ()
    options = spec.executor
    assert isinstance(options, SlurmOptions)
    launcher = spec.launcher
    nodes = options.nodes
    srun = tuple(
        Word.of(w)
        for w in (
            f"--nodes={nodes}",
            f"--ntasks={nodes}",
            "--ntasks-per-node=1",
            "--kill-on-bad-exit=1",
        )
    )
    command_args: tuple[Word, ...]
    if job.entry is not None:
        program = torchrun.python_program(job.python, Var("2"), runner=Var("1"))
        command_args = (
            Word.of("nemorun-torchrun"),
            Word.of(torchrun.RUN_ENTRY),
            Word.of(Var("NEMORUN_ENTRY")),
        )
    else:
        program = tuple(Word.of(w) for w in job.argv)
        command_args = (Word.of("nemorun-torchrun"),)
    command = torchrun.command(launcher, nodes, MACROS, program)
    for name in TASK_OPTIONS:
        if getattr(options, name) is not None:
            warnings.append(
                f"executor.{name} sizes the batch job only: under launcher torchrun, srun "
                f"starts one task per node (torchrun starts {launcher.nproc_per_node} "
                "workers on each)"
            )
    return srun, command, command_args


def _directives(spec: Spec, job: Job, check: _Checks) -> list[tuple[str, Any]]:
    """The ``#SBATCH`` lines, in order: the job name, the fields, ``requeue``, ``extra``,
    then the log paths (`_log_stem` unless the spec sets ``output`` / ``error``)."""
    options = spec.executor
    assert isinstance(options, SlurmOptions)
    directives: list[tuple[str, Any]] = [("job-name", options.job_name or job.job_name)]
    directives += _field_directives(options)
    if options.requeue is not None:
        directives.append(("requeue" if options.requeue else "no-requeue", None))
    directives += slurm_policy(check, job.retry, options, directives)
    directives += check.extra(_extra(spec, options), job.machine)
    logs = _log_stem(job)
    directives.append(("output", options.output or f"{logs}.out"))
    directives.append(("error", options.error or f"{logs}.err"))
    check.one_line(directives, options)
    return directives


def _log_stem(job: Job) -> str:
    """Where the logs go unless the spec sets ``output`` / ``error``: ``%x-%j`` (``%x-%A_%a``
    for an array), relative to the submit directory (the job's starting directory), plus
    ``.out`` / ``.err``. Compiled for a run, they go to ``RUN_DIR/logs/STEM-%j`` (or
    ``STEM-%A_%a``) instead, where ``STEM`` is the artifact's stem (a ``%`` of the directory
    doubled, as sbatch reads it; `log_paths` tells the launcher)."""
    ids = "%A_%a" if job.is_sweep() else "%j"
    if job.run is None:
        return f"%x-{ids}"
    return f"{str(job.run.logs_dir).replace('%', '%%')}/{job.stem}-{ids}"


def log_paths(job: Job, plan: SlurmPlan | Parts) -> dict[str, str]:
    """The ``--output`` and ``--error`` patterns, as sbatch reads them (``%j``, ``%A``, ``%a``)."""
    first = plan.contexts[0] if isinstance(plan, Parts) else plan
    directives = dict(first.directives)
    return {"output": str(directives["output"]), "error": str(directives["error"])}


def _extra(spec: Spec, options: SlurmOptions) -> dict[str, str | int | bool]:
    """``extra`` with YAML booleans kept: ``str | int | bool`` reads a plain ``true`` as the
    string ``"true"`` (str comes first in the union), but ``--contiguous`` takes no value."""
    raw = spec.tree.get("executor")
    raw_extra = raw.get("extra") if isinstance(raw, dict) else None
    if not isinstance(raw_extra, dict):
        return options.extra
    return {
        k: raw_extra[k] if isinstance(raw_extra.get(k), bool) else v
        for k, v in options.extra.items()
    }


def _field_directives(options: SlurmOptions) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        if field.name in NOT_DIRECTIVES or value is None or value is False:
            continue
        out.append((field.name.replace("_", "-"), None if value is True else value))
    return out


class _Checks(OptionChecks):
    """Collects located errors about ``executor.*`` options: the rules between options and
    those of the rendered directives, each a located `SpecError`."""

    def memory(self, options: SlurmOptions) -> None:
        """``mem``, ``mem_per_cpu`` and ``mem_per_gpu`` exclude each other."""
        mems = [n for n in ("mem", "mem_per_cpu", "mem_per_gpu") if getattr(options, n) is not None]
        if len(mems) > 1:
            self.error(mems[1], f"{mems[0]} and {mems[1]} exclude each other", "only one of them")

    def gpus_per_task(self, options: SlurmOptions) -> None:
        """``gpus_per_task`` needs a task count."""
        tasks = options.ntasks is not None or options.ntasks_per_node
        if options.gpus_per_task is not None and not tasks:
            self.error(
                "gpus_per_task", "gpus_per_task needs a task count", "ntasks or ntasks_per_node"
            )

    def extra(self, extra: dict[str, str | int | bool], machine: Machine) -> list[tuple[str, Any]]:
        """The ``extra`` directives, each a long option of sbatch that is neither a field's nor
        one nemorun sets itself; the machine's sbatch is asked only when there are some."""
        out: list[tuple[str, Any]] = []
        sbatch = machine.sbatch_options() if extra else BUILTIN
        for key, value in extra.items():
            name = key.replace("_", "-").lstrip("-")
            field = name.replace("-", "_")
            if field in {f.name for f in dataclasses.fields(SlurmOptions)}:
                self.error(
                    ("extra", key),
                    f"'{name}' has its own option",
                    suggestion=f"set executor.{field}",
                )
            elif name in MANAGED:
                self.error(("extra", key), f"nemorun sets --{name} itself")
            elif name not in sbatch.names:
                self.error(
                    ("extra", key),
                    sbatch.refusal(),
                    expected="a long option of sbatch, without the leading '--'",
                    suggestion=did_you_mean(name, sbatch.names),
                )
            elif value is not False:
                out.append((name, None if value is True else value))
        return out

    def one_line(self, directives: list[tuple[str, Any]], options: SlurmOptions) -> None:
        """sbatch reads each ``#SBATCH`` line alone: no value of one (every directive, checked
        as rendered, the log paths included) may hold a line break, a carriage return or a
        NUL."""
        fields = {f.name for f in dataclasses.fields(SlurmOptions)}
        extra_keys = {k.replace("_", "-").lstrip("-"): k for k in options.extra}
        for name, value in directives:
            if not (isinstance(value, str) and any(ch in value for ch in "\n\r\0")):
                continue
            key = name.replace("-", "_")
            path: KeyPath | None = None
            if key in fields and getattr(options, key) is not None:
                path = ("executor", key)
            elif name == "job-name":
                path = ("name",)
            elif name in extra_keys:
                path = ("executor", "extra", extra_keys[name])
            message = "an sbatch option cannot hold a line break, carriage return or NUL"
            if path is None:  # a log path nemorun made: the run's directory is to blame
                message = f"--{name} ({value!r}) cannot be written on an #SBATCH line"
                self.error_at(("executor", key), message, suggestion="set executor." + key)
            else:
                self.error_at(path, message, found=repr(value))


TARGET = TargetDef(
    name="slurm",
    options=SlurmOptions,
    plan=plan,
    template="slurm.sbatch.j2",
    suffix=".sbatch",
    launch="nemorun.launchers.slurm:SlurmTarget",
    host_filesystem=True,  # the nodes share this machine's files: nemorun's interpreter runs
    launchers=("none", "torchrun"),
    parallel_option="array_parallelism",
    log_paths=log_paths,
    stop_command="scancel {ids}",
    orders_tasks=True,
    resilience=Resilience(REASONS, modes=("requeue", "chain"), checkpoint_signal=True),
)
