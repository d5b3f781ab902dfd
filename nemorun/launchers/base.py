"""The interface every launch target implements (`Target`), and the data it exchanges.

A target sends the artifacts already compiled into ``run.dir`` (exactly those bytes: what you
compile is what you launch), then answers for its jobs: ``status``, ``logs``, ``cancel``,
optionally ``cancel_points``. No method prints: progress and output are the CLI's.

Compiling is not the target's business: `nemorun.compiler.driver.compile_spec` produces the
artifacts (pure), the launch code writes them into the run directory, then calls ``submit``.
A target's `nemorun.registry.TargetDef` names its launch half (``launch``), so a plugin package
adds one without touching nemorun. What ``submit`` finds and must respect: `Target.submit`.
"""

from __future__ import annotations

import abc
import enum
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from nemorun.compiler.manifest import Manifest, ManifestError, PlannedTask, read_manifest

if TYPE_CHECKING:
    from nemorun.compiler.machine import Machine
    from nemorun.schemas.spec import Spec


class JobState(enum.Enum):
    """A job's (or a run's) state, in nemorun's words; schedulers' states map onto these."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"
    """Never ran, on purpose: a condition of its ``after:`` can no longer be met (``notok``
    after a task that succeeded…). A job state only: a run counts it as completed."""
    UNKNOWN = "unknown"

    def is_final(self) -> bool:
        """True once the job can no longer change state."""
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.SKIPPED)


@dataclass(frozen=True)
class JobRef:
    """One job as the scheduler knows it: one per scheduler job (a whole Slurm array is one
    job; its elements come back from ``status`` one by one, each with its ``point``).

    ``id`` is the scheduler's id (a Slurm job id, ``123_4`` for an array element, a local
    process id, a container name…); ``task`` is the spec's task name; ``points`` the sweep
    points this job runs; ``log`` the file its output goes to, when there is one (for a job
    of several points, a path where ``{point}`` stands for the point).
    """

    id: str
    task: str = "task"
    points: tuple[int, ...] = (0,)
    log: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobStatus:
    """What a status query found for one job (or one array element)."""

    id: str
    state: JobState
    reason: str | None = None
    """The scheduler's explanation (Slurm's pending reason, an exit code, …)."""
    exit_code: int | None = None
    point: int | None = None
    attempt: int | None = None
    """Under ``executor.retries``: the attempt this is (1 for the first), else None."""
    attempts: int | None = None
    """Under ``executor.retries``: how many attempts the policy allows in all."""


@dataclass
class RunHandle:
    """What a target needs to know about a run: where it lives and what was submitted."""

    id: str
    name: str
    dir: Path
    target: str
    jobs: list[JobRef] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    """The target's own persisted state (e.g. the last Slurm states seen); saved with the record."""
    points: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Submit only these points of these tasks (``rerun --failed``); empty: every point of
    every task."""
    cluster: dict[str, Any] | None = None
    """The remote cluster the run went to (`nemorun.schemas.clusters.Cluster.to_json`), or
    None for this machine."""

    @property
    def artifacts_dir(self) -> Path:
        return self.dir / "artifacts"

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    def here(self, path: str) -> str:
        """`path_in_run` for this run."""
        return path_in_run(path, self.id, self.dir)


def path_in_run(path: str, run_id: str, run_dir: Path) -> str:
    """``path``, recorded for run ``run_id``, where it is now: a relative path is relative to
    ``run_dir``; an absolute one inside the run's directory as it was when recorded (it has a
    component equal to the run's id) is moved under ``run_dir``, so a record survives moving
    ``NEMORUN_HOME``. Any other path is left as it is."""
    pure = PurePath(path)
    if not pure.is_absolute():
        return str(run_dir.joinpath(*pure.parts))
    if run_id not in pure.parts:
        return path
    return str(run_dir.joinpath(*pure.parts[pure.parts.index(run_id) + 1 :]))


def run_manifest(run: RunHandle) -> Manifest:
    """The run's compiled ``tasks.json``, its log paths where the run's directory is now
    (`RunHandle.here`); `LaunchError` when it cannot be read."""
    try:
        manifest = read_manifest(run.artifacts_dir)
    except ManifestError as error:
        raise LaunchError(str(error)) from None
    tasks = tuple(
        replace(t, logs={k: run.here(v) for k, v in t.logs.items()}) for t in manifest.tasks
    )
    return replace(manifest, tasks=tasks)


def planned_tasks(run: RunHandle) -> list[PlannedTask]:
    """The tasks of the run's ``tasks.json`` to submit, parents first, each with the points to
    run (all of them, or those of ``run.points``); `LaunchError` when it cannot be read, names
    a task or point it does not have, or was compiled for another target than ``run.target``."""
    try:
        return run_manifest(run).plan(run.points, run.target)
    except ManifestError as error:
        raise LaunchError(str(error)) from None


def unordered_tasks(run: RunHandle) -> list[PlannedTask]:
    """`planned_tasks` for a target that cannot make one task wait for another: a task that
    comes ``after`` another one being submitted with it is refused (`LaunchError`)."""
    given = planned_tasks(run)
    names = {planned.name for planned in given}
    for planned in given:
        if planned.task.singleton:
            raise LaunchError(
                f"task {planned.name} is a singleton: the {run.target} target cannot keep two "
                "runs of it apart (remove 'singleton: true', or launch on slurm, local or docker)"
            )
        parents = [p for p in planned.task.after if p in names]
        if parents:
            raise LaunchError(
                f"task {planned.name} comes after {', '.join(parents)}: the {run.target} target "
                "does not order tasks yet (launch them as separate runs)"
            )
    return given


class LaunchError(Exception):
    """The scheduler refused or failed (exit code 1), as opposed to a bad spec (2)."""


class TargetUnavailable(LaunchError):
    """The target is registered but cannot be used here (its module fails to import…)."""


class Target(abc.ABC):
    """A place jobs run: the launch half of a target. Implement the four abstract methods and
    name the class in the target's `nemorun.registry.TargetDef` (``launch="module:Class"``)."""

    name: str = ""
    deadline: float | None = None
    """A `time.monotonic` moment by which every scheduler call of this object must have
    answered, or None. Commands that ask about many runs (``ls``) set it, so a scheduler that
    hangs costs the whole command one bounded wait, not one per run; `call_timeout` applies it."""

    def call_timeout(self, timeout: float) -> float:
        """``timeout``, cut to what is left before `deadline`; `LaunchError` when nothing is."""
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise LaunchError(f"{self.name} did not answer in the time this command allows")
        return min(timeout, left)

    def available(self) -> str | None:
        """None when this machine can submit to the target, else why not (shown to the user)."""
        return None

    def machine(self, machine: Machine) -> Machine:
        """What compile is told about where the run goes: ``machine`` (this machine), with what
        the scheduler says about its limits (Slurm: `nemorun.launchers.slurm_limits`). Asked
        once per launch, before compiling; the default adds nothing."""
        return machine

    def preflight(self, spec: Spec, run: RunHandle) -> list[str]:
        """Ask the live scheduler whether it would take ``run``'s compiled artifacts, before
        anything is submitted: `SpecErrors` located at the options it cannot honour,
        `LaunchError` when it does not answer; returns notes for the user (Slurm: the start
        estimate). The default has nothing to ask."""
        return []

    @abc.abstractmethod
    def submit(self, run: RunHandle) -> list[JobRef]:
        """Send the run's compiled artifacts; return the jobs created. Raise `LaunchError`.

        What it finds: the artifacts and ``tasks.json``, read with `planned_tasks` (the one
        reader, `nemorun.compiler.manifest`: parents first, each task with the points to run,
        only those of ``run.points`` for ``rerun --failed``); the run's ``logs/``. A task must
        not start before its conditions on the tasks it comes ``after`` hold (``ok``, ``any``,
        ``notok``, ``corr``: Slurm's ``--dependency=after…``; the point supervisor of the local
        and docker targets orders them itself), nor, with ``singleton``, while a job of the same
        name runs; one whose ``ok`` dependency failed is reported ``failed``, reason
        ``dependency failed``; one whose condition can no longer be met, ``skipped``.
        """

    def follow_status(self, run: RunHandle) -> list[JobStatus]:
        """`status`, as a follower (``logs -f``, ``--wait``) asks it again and again: a target
        whose scheduler is shared (Slurm) answers from its last look until it is due again
        (`nemorun.launchers.polling.Backoff`). The default asks every time."""
        return self.status(run)

    def tagged_jobs(self, tags: Sequence[str]) -> dict[str, list[str]]:
        """The scheduler's live jobs carrying each of ``tags`` (the runs' ids a launch tags its
        jobs with, see `nemorun.launchers.records.journal_intent`), in one query: how ``ls``
        finds jobs a killed launch submitted but never journaled. The default knows none."""
        return {}

    @abc.abstractmethod
    def status(self, run: RunHandle) -> list[JobStatus]:
        """The state of every job of ``run`` (may update ``run.state`` for persistence)."""

    def status_many(self, runs: Sequence[RunHandle]) -> list[list[JobStatus]]:
        """`status` of each of ``runs``, in order, as ``ls`` asks it: a target whose scheduler
        can answer about many jobs at once overrides this with one batched query (Slurm: one
        ``squeue`` for all of them), so listing N unfinished runs is not N round trips."""
        return [self.status(run) for run in runs]

    @abc.abstractmethod
    def logs(self, run: RunHandle, job: JobRef, follow: bool = False) -> Iterator[str]:
        """The output lines of ``job``; with ``follow``, keep yielding until it ends.

        Only the output of ``job.points``: the CLI narrows a job to one point with
        ``dataclasses.replace(job, points=(p,))`` for ``nemorun logs --job``."""

    @abc.abstractmethod
    def cancel(self, run: RunHandle) -> None:
        """Stop every job of ``run`` that has not ended. What it notes in ``run.state`` is
        seen by the `status` that follows and saved with it."""

    def cancel_points(self, run: RunHandle, points: dict[str, tuple[int, ...]]) -> None:
        """Stop ``points`` of each task named (``nemorun cancel --point``), and nothing else:
        a running point is stopped, one not started yet never starts, and reads ``cancelled``
        afterwards; one that has ended stays as it is. The caller passes only points the run's
        jobs have. A target that cannot stop one point alone keeps this default: it refuses."""
        from nemorun.errors import SpecError

        raise SpecError(
            f"the {self.name} target cannot cancel single points",
            suggestion="cancel the whole run: nemorun cancel RUN",
        )

    def wait_for_change(self, run: RunHandle, timeout: float) -> None:
        """Block for up to ``timeout`` seconds between two looks at ``run``'s state; a target
        that can tell when a state changes returns as soon as it does (local: when its
        supervisor exits). The default just waits."""
        time.sleep(timeout)


def summarize(states: list[JobState]) -> JobState:
    """A run's state from its jobs': any failed → failed, then cancelled, running, pending;
    all completed or skipped → completed (a skipped job took the branch not taken, it did not
    go wrong); nothing known → unknown."""
    if not states:
        return JobState.UNKNOWN
    for state in (JobState.FAILED, JobState.CANCELLED, JobState.RUNNING, JobState.PENDING):
        if state in states:
            return state
    if all(s in (JobState.COMPLETED, JobState.SKIPPED) for s in states):
        return JobState.COMPLETED
    return JobState.UNKNOWN
