"""Packing a Slurm sweep: ``executor.per_job: k`` runs k points in each array element.

Why an executor option and not a key of ``sweep:``: ``sweep:`` maps key paths to values, and
any name (a task argument called ``per_job``) may be a key path there; and packing is how one
target runs the points, not which points exist (the same sweep runs unpacked on ``local``).
Other targets refuse the option as they refuse any option they do not know, at its line.

A packed element runs its points one after another (``per_job_parallel``: all at once, each its
own ``srun`` step) and writes, for each point, ``STEM-point-P.out``, ``.err`` and ``.status``
(the exit status, or ``cancelled …``) beside the run's logs: the launcher reads a point's state
there (`nemorun.launchers.slurm_packing`). ``fail_fast`` packs too (one point per element unless
``per_job`` says more): the element that sees a point fail cancels the rest of the sweep itself,
so it works with nobody following the run.

How many elements an array may have and how many jobs the cluster takes are inputs
(`Machine.max_array_size`, `Machine.max_submit_jobs`, read by the launcher): compile asks no one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nemorun.compiler.job import Parts

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.compiler.machine import Machine
    from nemorun.compiler.targets.checks import OptionChecks
    from nemorun.compiler.targets.slurm import SlurmOptions, SlurmPlan

DEFAULT_ARRAY_SIZE = 1001
"""Slurm's own default ``MaxArraySize``: the limit when neither the spec nor the cluster says."""
POINT_FILES = "-point-"
"""``STEM-point-P.out`` / ``.err`` / ``.status``: one point's files in a packed sweep."""


@dataclass(frozen=True)
class Packing:
    """How the elements of a packed sweep run their points."""

    per_job: int
    parallel: bool
    fail_fast: bool
    logs: str | None
    """The per-point files' prefix (``RUN_DIR/logs/STEM``); None without a run (they go to
    the directory the script was submitted from)."""


def packing(options: SlurmOptions, job: Job) -> Packing | None:
    """The packing of a sweep, or None when its elements run one point each, as always."""
    if not job.is_sweep() or not (options.per_job or options.fail_fast):
        return None
    logs = f"{job.run.logs_dir}/{job.stem}" if job.run is not None else None
    return Packing(
        options.per_job or 1, bool(options.per_job_parallel), bool(options.fail_fast), logs
    )


def elements(points: int, per_job: int) -> int:
    """How many array elements run ``points`` points, ``per_job`` in each."""
    return -(-points // per_job)


def array_limit(options: SlurmOptions, machine: Machine) -> int:
    """The most elements one array may have: the spec's ``max_array_size``, else the cluster's
    ``MaxArraySize``, else Slurm's default."""
    return options.max_array_size or machine.max_array_size or DEFAULT_ARRAY_SIZE


def check(check: OptionChecks, options: SlurmOptions, job: Job) -> None:
    """Packing's rules: parallel points need packing and no torchrun; the sweep's jobs must fit
    in what the cluster takes from one user (`Machine.max_submit_jobs`)."""
    if options.cluster and packing(options, job) is not None:
        key = "per_job" if options.per_job else "fail_fast"
        check.error(
            key,
            "a packed sweep's points keep their status and cancel marks in the run's directory, "
            "which nemorun reads only on this machine: not supported with a remote cluster yet",
            suggestion=f"remove executor.{key}, or executor.cluster",
        )
    if job.retry is not None and packing(options, job) is not None:
        key = "per_job" if options.per_job else "fail_fast"
        check.error(
            key,
            "retries requeue or chain a whole job, and a packed job runs several points: "
            f"nemorun does not combine retries with {key}",
            suggestion=f"remove executor.{key}, or executor.retries",
        )
    if options.per_job_parallel and not options.per_job:
        check.error(
            "per_job_parallel",
            "per_job_parallel runs the points of one job at once: it needs per_job",
            suggestion="set executor.per_job, e.g. per_job: 4",
        )
    if options.per_job_parallel and job.launcher.kind == "torchrun":
        check.error(
            "per_job_parallel",
            "under launcher torchrun each point is one step over all the job's nodes: "
            "points cannot share the job",
            suggestion="remove per_job_parallel (the points then run one after another)",
        )
    limit = job.machine.max_submit_jobs
    per_job = options.per_job or 1
    needed = elements(job.num_points, per_job)
    if limit is None or not job.is_sweep() or needed <= limit:
        return
    fit = -(-job.num_points // limit)
    message = (
        f"the sweep needs {needed:,} jobs ({job.num_points:,} points, {per_job} per job), "
        f"more than the {limit:,} the cluster takes at once (MaxSubmitJobs, else MaxJobCount)"
    )
    suggestion = f"pack more points into each job: executor.per_job={fit}"
    if options.per_job:
        check.error("per_job", message, suggestion=suggestion)
    else:
        check.error_at(("sweep",), message, suggestion=suggestion)


def arrays(base: SlurmPlan, parallelism: int | None, job: Job) -> SlurmPlan | Parts:
    """A sweep's job array, or its several arrays when it has more than ``max_array_size``
    elements (points, or packs of ``per_job`` points).

    The arrays hold at most ``max_array_size`` tasks, in order: part ``i`` is its own sbatch
    script (``NAME.i.sbatch``, written with ``-o DIR``; stdout cannot hold several, so
    compiling without ``-o`` is an error that says so) with ``--array=0-(k-1)%P`` and
    ``NEMORUN_POINT = offset + $SLURM_ARRAY_TASK_ID``. The parts share the entry (all the
    points) rather than each holding a copy: they name its one file, the run's or the
    ``entry.py`` written beside them (`Job.written_entry`), which the nodes read from this
    machine's files; only when compile does not know where that file will be does each part
    embed it. ``%P`` (``array_parallelism``) holds per array: parts submitted together can
    run up to parts * P tasks at once.
    """
    size = base.array_size
    per_job = base.packing.per_job if base.packing else 1
    starts = range(0, job.num_points, size * per_job)
    shared = job.written_entry if job.entry is not None and len(starts) > 1 else None
    plans = []
    for part, offset in enumerate(starts):
        count = min(size * per_job, job.num_points - offset)
        array = f"0-{elements(count, per_job) - 1}"
        if parallelism:
            array += f"%{parallelism}"
        plans.append(
            dataclasses.replace(
                base,
                directives=(*base.directives, ("array", array)),
                array=array,
                offset=offset,
                count=count,
                part=part,
                parts=len(starts),
                entry_file=None if shared is None else str(shared),
            )
        )
    if len(plans) == 1:
        return plans[0]
    what = f"{job.num_points} points" + (f" in packs of {per_job}" if per_job > 1 else "")
    reason = (
        f"the sweep has {what}, more than max_array_size ({size}): "
        f"it is split into {len(plans)} job arrays"
    )
    return Parts(tuple(plans), reason)
