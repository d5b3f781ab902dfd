"""The ``local`` target: a bash script that runs the job on this machine.

It runs every sweep point in turn (or ``max_parallel`` at a time), or only the point given as
its first argument, and exits non-zero if any point failed. Python tasks run under the
interpreter nemorun runs under unless the spec names one (``executor.python``).

**torchrun** (``launcher: {kind: torchrun}``): one node, ``--node-rank=0``, the rendezvous on
``localhost:rdzv_port``, ``--rdzv-id=nemorun-NAME-$NEMORUN_POINT`` (stable: from the run's
name and point, never random). Points then run one at a time (two rendezvous on one port would
collide), so ``max_parallel`` above 1 is refused. See `nemorun.compiler.torchrun`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nemorun.compiler import torchrun
from nemorun.compiler.torchrun import Macros, Var, Word
from nemorun.errors import SpecError
from nemorun.registry import TargetDef
from nemorun.schemas.formats import option
from nemorun.schemas.options import COUNT, ExecutorOptions
from nemorun.schemas.retries import Resilience
from nemorun.schemas.source import find_origin

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.schemas.spec import Spec


@dataclass
class LocalOptions(ExecutorOptions):
    """Runs on this machine.

    Args:
        max_parallel: How many sweep points run at once.
    """

    max_parallel: int = option(COUNT, default=1)


@dataclass(frozen=True)
class LocalPlan:
    """What ``local.sh.j2`` needs beyond the `Job`."""

    max_parallel: int
    torchrun: tuple[Word, ...] | None = None
    """The torchrun words that run one point, or None without a launcher."""


def plan(spec: Spec, job: Job) -> tuple[LocalPlan, list[str]]:
    options = spec.executor
    assert isinstance(options, LocalOptions)
    origins = spec.resolved.origins
    warnings = []
    if options.container is not None:
        raise SpecError(
            "containers are not supported by the local target yet",
            ("executor", "container"),
            find_origin(origins, ("executor", "container")),
            suggestion="compile for slurm or drop 'container:'",
        )
    if options.nodes != 1:
        warnings.append(f"target local runs on this machine only: executor.nodes={options.nodes}")
    command = None
    if job.launcher.kind == "torchrun":
        launcher = spec.launcher
        if options.max_parallel > 1 and job.num_points > 1:
            raise SpecError(
                "under launcher torchrun, local points run one at a time: each rendezvous "
                f"listens on localhost:{launcher.rdzv_port}",
                ("executor", "max_parallel"),
                find_origin(origins, ("executor", "max_parallel")),
                found=str(options.max_parallel),
                suggestion="set max_parallel: 1",
            )
        command = torchrun.command(launcher, 1, macros(job), _program(job))
    plan = LocalPlan(max_parallel=min(options.max_parallel, job.num_points), torchrun=command)
    return plan, warnings


def macros(job: Job) -> Macros:
    """One node, this machine; the rendezvous id from the run's name and point."""
    from nemorun.compiler.job import file_stem

    return Macros(
        node_rank=Word.of(0),
        head_node=Word.of("localhost"),
        job_id=Word.of(f"nemorun-{file_stem(job.job_name)}-", Var("NEMORUN_POINT")),
    )


def _program(job: Job) -> tuple[Word, ...]:
    if job.entry is not None:
        return torchrun.python_program(job.python, Var("NEMORUN_ENTRY"))
    return tuple(Word.of(word) for word in job.argv)


def log_paths(job: Job, plan: LocalPlan) -> dict[str, str]:
    """Per point: its output (stdout and stderr) and, once it ends, its exit status."""
    assert job.run is not None
    base = f"{job.run.logs_dir}/{job.stem}.{{point}}"
    return {"output": f"{base}.log", "status": f"{base}.exit"}


TARGET = TargetDef(
    name="local",
    options=LocalOptions,
    plan=plan,
    template="local.sh.j2",
    suffix=".sh",
    launch="nemorun.launchers.local:LocalTarget",
    host_filesystem=True,  # by default, the job runs under the interpreter nemorun runs under
    launchers=("none", "torchrun"),
    parallel_option="max_parallel",
    log_paths=log_paths,
    orders_tasks=True,
    resilience=Resilience(("failed",)),  # a non-zero exit is all it can see
)
