"""The Python API for runs: ``launch``, ``run``, ``rerun``, ``runs`` and ``open_run``.

A run is recorded under the runs directory (`nemorun.launchers.records`) and answered for by
its target (`nemorun.launchers.launch.Run`: ``status()``, ``logs()``, ``watch()``,
``cancel()``, ``wait()``). Loading the spec is this layer's job (`nemorun.api.load`); the
launchers below get a validated `Spec`.

Asking schedulers about many runs (``runs()``) has one deadline for the whole call
(`scheduler_timeout`): a scheduler that does not answer leaves its runs ``unknown`` and their
records unchanged, and costs one wait, not one per run. Nothing here prints: what the user
should hear comes back as ``warnings``.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemorun.api import load_for_target

if TYPE_CHECKING:
    from nemorun.launchers.base import JobState, JobStatus
    from nemorun.launchers.launch import Run
    from nemorun.launchers.records import InterruptedLaunch, Record

SCHEDULER_TIMEOUT = 15.0
"""Seconds ``runs()`` (and ``nemorun status``) wait, in all, for schedulers that do not answer;
``NEMORUN_SCHEDULER_TIMEOUT`` changes it."""


def launch(
    spec: str | Path,
    overrides: Sequence[str] = (),
    target: str | None = None,
    *,
    max_parallel: int | None = None,
    wait: bool = False,
    preflight: bool = True,
    notes: Callable[[str], None] | None = None,
) -> Run:
    """Compile the spec at ``spec`` for a new run on ``target`` (default: the spec's), submit
    exactly those artifacts and record the run; returns it at once, or when it has ended
    with ``wait``. ``max_parallel`` bounds how many sweep points run at once (an override of
    the target's option, recorded with the others). With ``preflight`` the live scheduler is
    asked first (Slurm: partition, account, QOS, GPUs, ``sbatch --test-only``); ``notes``
    gets what it says, such as the start estimate, before anything is submitted.

    Raises `SpecErrors` for bad input and `nemorun.launchers.base.LaunchError` when the
    target refuses; the run's warnings are in ``run.warnings``.
    """
    run = _launch(Path(spec), overrides, target, max_parallel, preflight=preflight, notes=notes)
    if wait:
        run.wait()
    return run


def check(
    spec: str | Path, overrides: Sequence[str] = (), target: str | None = None
) -> tuple[str, list[str]]:
    """Everything `launch` does before submitting, and nothing after: compile ``spec`` for
    ``target`` (no record, no packaging) and ask the live scheduler about the artifacts.
    Returns the target's name and its notes (Slurm: the start estimate). Raises `SpecErrors`
    located at the options the scheduler cannot honour, `LaunchError` when it cannot be asked.
    """
    from nemorun.launchers.check import check_spec

    loaded, warnings = load_for_target(Path(spec), list(overrides), target)
    return check_spec(loaded, Path(spec), target, warnings)


def run(
    spec: str | Path,
    overrides: Sequence[str] = (),
    *,
    max_parallel: int | None = None,
    wait: bool = True,
) -> Run:
    """`launch` on this machine (target ``local``) and, by default, wait for the end."""
    return launch(spec, overrides, "local", max_parallel=max_parallel, wait=wait)


def rerun(
    run: str | Run, overrides: Sequence[str] = (), *, failed: bool = False, wait: bool = False
) -> Run:
    """Launch ``run`` (a `Run`, or its id, unique id prefix or name) again from its record
    alone, from any directory; more ``overrides`` apply last. ``failed``: only the points that
    did not complete (failed, cancelled, never started), not those still pending or running.
    """
    from nemorun.launchers.launch import replay

    old = open_run(run) if isinstance(run, str) else run
    again = replay(old, failed)
    with again.inputs() as moved:
        new = _launch(
            again.spec,
            [*again.overrides, *overrides],
            again.target,
            points=again.points,
            rerun_of=again.of,
        )
    if not moved:
        note = (
            f"the run's working directory {again.cwd} is gone: the rerun starts in "
            f"{os.getcwd()}, and its artifacts name the spec from there"
        )
        new = replace(new, warnings=(note, *new.warnings))
    if wait:
        new.wait()
    return new


def _launch(
    path: Path,
    overrides: Sequence[str],
    target: str | None,
    max_parallel: int | None = None,
    points: dict[str, tuple[int, ...]] | None = None,
    rerun_of: str | None = None,
    preflight: bool = True,
    notes: Callable[[str], None] | None = None,
) -> Run:
    from nemorun.launchers.launch import parallel_overrides, start_run

    overrides = list(overrides)
    spec, warnings = load_for_target(path, overrides, target)
    if max_parallel is not None:
        overrides += parallel_overrides(spec, max_parallel, target)
        spec, warnings = load_for_target(path, overrides, target)
    return start_run(spec, path, overrides, target, warnings, points, rerun_of, preflight, notes)


def open_run(query: str, timeout: float | None = None) -> Run:
    """The run ``query`` names (its id, a unique prefix of one, or a name: its newest run),
    with its target. ``timeout``: seconds its scheduler may take, in all, to answer this
    object's questions (default: no limit); past it they raise ``LaunchError``."""
    from nemorun.launchers.launch import open_run as open_recorded

    found = open_recorded(query)
    if timeout is not None:
        found.target.deadline = time.monotonic() + max(timeout, 0.1)
    return found


@dataclass(frozen=True)
class RunStatus:
    """A run's jobs' states, as its scheduler gave them or, when it did not answer, as last
    recorded (``stale`` then says why)."""

    record: Record
    jobs: tuple[JobStatus, ...]
    stale: str | None = None

    @property
    def state(self) -> JobState:
        """The run's state, from its jobs' (`nemorun.launchers.base.summarize`)."""
        from nemorun.launchers.base import summarize

        return summarize([s.state for s in self.jobs])

    def to_json(self) -> dict[str, Any]:
        """The run and its jobs' states, as ``nemorun status --json`` prints them."""
        from nemorun.launchers.records import status_to_json

        body = {**self.record.summary(), "status": self.state.value}
        body["jobs"] = [status_to_json(s) for s in self.jobs]
        return body


def status(query: str, timeout: float | None = None) -> RunStatus:
    """The states of run ``query``'s jobs (and array elements), asked of its scheduler within
    ``timeout`` seconds (default `scheduler_timeout`); the states last recorded when it cannot
    answer, instead of an error."""
    from nemorun.launchers.base import LaunchError
    from nemorun.launchers.launch import Run
    from nemorun.launchers.records import find_run
    from nemorun.launchers.registry import load_target

    record = find_run(query)
    try:
        target = load_target(record.target)
        budget = scheduler_timeout() if timeout is None else timeout
        target.deadline = time.monotonic() + max(budget, 0.1)
        return RunStatus(record, tuple(Run(record, target).status()))
    except LaunchError as exc:
        return RunStatus(record, tuple(record.statuses), str(exc))


@dataclass(frozen=True)
class RunInfo:
    """One recorded run as ``runs()`` found it."""

    record: Record
    status: str
    """``pending``, ``running``, ``completed``, ``failed``, ``cancelled``, or ``unknown`` when
    its scheduler did not answer in time (the record then keeps the state last seen)."""

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def attempt(self) -> str | None:
        """``attempt 2/4`` while an unfinished job of the run is past its first attempt."""
        from nemorun.launchers.attempts import attempt_label

        return (
            attempt_label(self.record.statuses) if self.status in ("running", "pending") else None
        )

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def target(self) -> str:
        return self.record.target

    @property
    def created(self) -> str:
        return self.record.created

    def summary(self) -> dict[str, Any]:
        """id, name, target, created and status, as ``nemorun ls --json`` prints them."""
        return {**self.record.summary(), "status": self.status}


@dataclass(frozen=True)
class RunList:
    """The runs ``runs()`` found, newest first, and what the user should be told about them."""

    runs: tuple[RunInfo, ...]
    warnings: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[RunInfo]:
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def __getitem__(self, index: int) -> RunInfo:
        return self.runs[index]


def runs(
    name: str | None = None,
    status: str | None = None,
    target: str | None = None,
    timeout: float | None = None,
    last: int | None = None,
) -> RunList:
    """The recorded runs, newest first, with their current status (each unfinished run's
    scheduler is asked, within ``timeout`` seconds in all: default `scheduler_timeout`).
    ``name``, ``status`` and ``target`` keep only the runs that match; ``last``: only the
    newest ``last`` of those (the older ones are neither read nor asked about)."""
    from nemorun.launchers.records import iter_records

    matching = (r for r in iter_records(name=name) if target is None or r.target == target)
    deadline = time.monotonic() + max(scheduler_timeout() if timeout is None else timeout, 0.1)
    found: list[RunInfo] = []
    warnings: list[str] = []
    while last is None or len(found) < last:
        # A page at a time: with a status filter, a page may hold fewer runs that match.
        page = list(itertools.islice(matching, None if last is None else last - len(found)))
        if not page:
            break
        unknown, said = _refresh(page, deadline)
        warnings += [w for w in said if w not in warnings]
        infos = [RunInfo(r, "unknown" if r.id in unknown else r.status.value) for r in page]
        found += [i for i in infos if status is None or i.status == status]
    warnings += _interrupted()
    return RunList(tuple(found), tuple(warnings))


def scheduler_timeout() -> float:
    """`SCHEDULER_TIMEOUT`, or ``NEMORUN_SCHEDULER_TIMEOUT`` when it is set to a number."""
    try:
        return float(os.environ.get("NEMORUN_SCHEDULER_TIMEOUT", SCHEDULER_TIMEOUT))
    except ValueError:
        return SCHEDULER_TIMEOUT


def _refresh(records: Sequence[Record], deadline: float) -> tuple[set[str], list[str]]:
    """Ask the targets about runs not known to have ended, before ``deadline``: one batched
    query per target (`Target.status_many`), and the answers recorded. Returns the ids of runs
    whose target did not answer (their records unchanged) and a warning per such target."""
    from nemorun.launchers.records import save_state
    from nemorun.launchers.registry import load_target

    by_target: dict[tuple[str, str], list[Record]] = {}
    for record in records:  # one query per target, and per remote cluster
        if not record.status.is_final():
            cluster = (record.data.get("cluster") or {}).get("name", "")
            by_target.setdefault((record.target, cluster), []).append(record)
    unknown: set[str] = set()
    warnings = []
    for (name, cluster), asked in by_target.items():
        handles = [r.handle() for r in asked]
        try:
            target = load_target(name)
            target.deadline = deadline
            answers = target.status_many(handles)
        except Exception as exc:  # a target that cannot answer now: keep the state last seen
            unknown.update(r.id for r in asked)
            warnings.append(
                f"the {name} scheduler{f' of cluster {cluster}' if cluster else ''} did not "
                f"answer ({str(exc) or type(exc).__name__}): "
                f"{len(asked)} run(s) shown as unknown, their records unchanged"
            )
            continue
        for record, handle, statuses in zip(asked, handles, answers):
            save_state(record, statuses, handle.state)
    return unknown, warnings


def _tagged(launches: Sequence[InterruptedLaunch]) -> dict[str, list[str]]:
    """The live jobs carrying the tags of ``launches`` (one query per target and per cluster
    the launches went to): jobs a launch killed between the scheduler taking them and
    journaling them are found that way."""
    from nemorun.launchers.registry import load_target
    from nemorun.launchers.remote import transport_of_cluster
    from nemorun.launchers.slurm_commands import on_cluster

    groups: dict[tuple[str, str], list[InterruptedLaunch]] = {}
    for launch in launches:
        if launch.tag:
            where = json.dumps(launch.cluster, sort_keys=True) if launch.cluster else ""
            groups.setdefault((launch.target, where), []).append(launch)
    found: dict[str, list[str]] = {}
    for (name, _), group in sorted(groups.items()):
        tags = [launch.tag for launch in group if launch.tag]
        try:
            target = load_target(name)
            target.deadline = time.monotonic() + 30
            with on_cluster(transport_of_cluster(group[0].cluster)):
                found.update(target.tagged_jobs(tags))
        except Exception:  # a scheduler that cannot answer: the journal still names its jobs
            continue
    return found


def _interrupted() -> list[str]:
    """A warning for each launch that died between submitting jobs and recording them."""
    from nemorun.launchers.records import forget_launch, interrupted_launches
    from nemorun.registry import stop_hint

    warnings = []
    launches = interrupted_launches()
    found = _tagged(launches)
    for launch in launches:
        ids = " ".join(dict.fromkeys([*launch.job_ids, *found.get(launch.tag or "", [])]))
        if not ids:  # killed before its scheduler took any job: nothing runs untracked
            forget_launch(launch.dir)
            continue
        stop = stop_hint(launch.target, ids)
        warnings.append(
            f"a launch was killed after submitting {launch.target} job(s) {ids} and before "
            f"recording them, so no run tracks them ({launch.dir}); if they are not "
            f"wanted: {stop}; then remove that directory"
        )
    return warnings
