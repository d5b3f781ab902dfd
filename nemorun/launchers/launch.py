"""Start a run from a loaded spec and manage it: ``start_run``, ``open_run``, ``replay``, and
the `Run` they give. Loading the spec is the caller's (`nemorun.api_runs`).

``start_run(spec, path, overrides, target)`` does, in order: claim a run directory (its id and
path are then *inputs* of compile, like the spec); compile every task for that run
(`nemorun.compiler.tasks.compile_tasks`, pure); write the record's files (spec copies, resolved
spec, artifacts, provenance); hand the run to the target's ``submit``, which sends the
artifacts exactly as written; and last, write ``run.json`` with the jobs it got, which makes
the record valid (`nemorun.launchers.records`). Anything that fails before that removes the
directory again; a kill leaves a directory no listing shows.

Options that change what runs are spec overrides, so they are compiled into the artifact and
recorded with the others: ``max_parallel=N`` adds ``++executor.max_parallel=N`` (local) or
``++executor.array_parallelism=N`` (slurm), see `parallel_overrides`. A rerun replays a record
(`nemorun.launchers.replay`, re-exported here).

Nothing here prints: `Run.watch` yields log lines and state changes for the CLI to show.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# Re-exported: rerunning is part of starting runs for the callers.
from nemorun.errors import LaunchInterrupted, SpecError
from nemorun.launchers import remote
from nemorun.launchers.base import (
    JobRef,
    JobState,
    JobStatus,
    LaunchError,
    RunHandle,
    Target,
    summarize,
)
from nemorun.launchers.inputs import artifact_hashes, write_inputs
from nemorun.launchers.records import (
    RECORD,
    RECORD_VERSION,
    STATE,
    Record,
    create_run_dir,
    find_run,
    iso,
    job_to_json,
    now_utc,
    save_state,
    status_to_json,
    write_json,
)
from nemorun.launchers.replay import points_to_rerun as points_to_rerun
from nemorun.launchers.replay import replay as replay
from nemorun.launchers.tracking import TrackedRun, Tracking, start_tracking

if TYPE_CHECKING:
    from nemorun.compiler.tasks import Build
    from nemorun.schemas.spec import Spec


@dataclass(frozen=True)
class LogLine:
    """A line of a job's output."""

    job: JobRef
    text: str


@dataclass(frozen=True)
class Progress:
    """The states of every job (and array element) after some of them changed."""

    statuses: tuple[JobStatus, ...]
    changed: tuple[JobStatus, ...]


@dataclass
class Run:
    """A recorded run and the target that answers for it."""

    record: Record
    target: Target
    warnings: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return self.record.id

    def handle(self) -> RunHandle:
        return self.record.handle()

    def status(self, handle: RunHandle | None = None) -> list[JobStatus]:
        """Ask the target for the states of every job, and record them with the target state
        of ``handle`` (default: a fresh one) as the asking left it."""
        handle = handle or self.handle()
        statuses = self.target.status(handle)
        save_state(self.record, statuses, handle.state)
        return statuses

    def state(self) -> JobState:
        return summarize([s.state for s in self.status()])

    def cancel(self) -> list[JobStatus]:
        """Stop every job that has not ended; the states afterwards, asked with the target
        state ``cancel`` changed (Slurm's: a dependent job then reads cancelled, not failed)."""
        handle = self.handle()
        self.target.cancel(handle)
        return self.status(handle)

    def cancel_points(self, points: Sequence[int]) -> list[JobStatus]:
        """Stop sweep points ``points`` of every task that runs them, and nothing else; the
        states afterwards. A point no job of the run has is a `SpecError`."""
        handle = self.handle()
        by_task: dict[str, tuple[int, ...]] = {}
        for job in handle.jobs:
            mine = tuple(sorted({p for p in points if p in job.points}))
            if mine:
                by_task[job.task] = tuple(sorted({*by_task.get(job.task, ()), *mine}))
        missing = sorted({p for p in points} - {p for ps in by_task.values() for p in ps})
        if missing:
            have = sorted({p for job in handle.jobs for p in job.points})
            raise SpecError(
                f"run {self.id} has no point {', '.join(map(str, missing))}",
                expected="one of its points: " + ", ".join(map(str, have)),
            )
        self.target.cancel_points(handle, by_task)
        return self.status(handle)

    def logs(self, job: JobRef | None = None, follow: bool = False) -> Iterator[tuple[JobRef, str]]:
        """The output of ``job`` (default: every job in turn), line by line."""
        handle = self.handle()
        for one in [job] if job is not None else handle.jobs:
            for line in self.target.logs(handle, one, follow):
                yield one, line

    def watch(self, logs: bool = True, interval: float = 0.5) -> Iterator[LogLine | Progress]:
        """Follow the run to its end: every job's output as it comes (``logs``), and the
        states whenever one changes. Looks fast at first, and between looks lets the target
        wake it when something changes (`Target.wait_for_change`)."""
        handle = self.handle()
        lines: queue.Queue[LogLine] = queue.Queue()
        pumps = []
        if logs:
            for job in handle.jobs:
                pump = threading.Thread(
                    target=_pump, args=(self.target, handle, job, lines), daemon=True
                )
                pump.start()
                pumps.append(pump)
        seen: dict[str, JobState] = {}
        delay = 0.01
        while True:
            statuses = self.target.follow_status(handle)
            save_state(self.record, statuses, handle.state)
            changed = tuple(s for s in statuses if seen.get(s.id) is not s.state)
            if changed:
                seen.update((s.id, s.state) for s in changed)
                yield Progress(tuple(statuses), changed)
            yield from _drain(lines)
            if all(s.state.is_final() for s in statuses):
                for pump in pumps:
                    pump.join(timeout=10)
                yield from _drain(lines)
                return
            self.target.wait_for_change(handle, delay)
            delay = min(delay * 1.5, interval)

    def wait(self) -> JobState:
        """Block until every job ended; the run's final state."""
        final: tuple[JobStatus, ...] = ()
        for event in self.watch(logs=False):
            if isinstance(event, Progress):
                final = event.statuses
        return summarize([s.state for s in final])


def _pump(target: Target, handle: RunHandle, job: JobRef, out: queue.Queue[LogLine]) -> None:
    try:
        for text in target.logs(handle, job, follow=True):
            out.put(LogLine(job, text))
    except Exception as exc:  # a reader's failure must not hide the run's end
        out.put(LogLine(job, f"nemorun: cannot read the output of job {job.id}: {exc}"))


def _drain(lines: queue.Queue[LogLine]) -> Iterator[LogLine]:
    while True:
        try:
            yield lines.get_nowait()
        except queue.Empty:
            return


def open_run(query: str) -> Run:
    """The run ``query`` names (id, unique id prefix, or name) with its target."""
    from nemorun.launchers.registry import load_target

    record = find_run(query)
    return Run(record, load_target(record.target))


def start_run(
    spec: Spec,
    spec_path: str | Path,
    overrides: Sequence[str] = (),
    target: str | None = None,
    warnings: Sequence[str] = (),
    points: dict[str, tuple[int, ...]] | None = None,
    rerun_of: str | None = None,
    preflight: bool = True,
    notes: Callable[[str], None] | None = None,
) -> Run:
    """Compile ``spec`` (from ``spec_path`` with ``overrides``, for ``target``) for a new run,
    submit it, record it (module docstring). ``warnings``: the loader's; ``points``: submit only
    those; ``preflight``: ask the scheduler first (`Target.preflight`), telling ``notes`` what it
    says. `SpecError`/`SpecErrors` for bad input, `LaunchError` when the target refuses."""
    path = Path(spec_path)
    target_name = run_target(spec, target)
    cluster = remote.cluster_json(spec)
    runner = _ready_target(target_name, cluster is not None)
    name = spec.name or path.stem
    created = now_utc()
    run_id, run_dir = create_run_dir(name, created)
    handle = RunHandle(run_id, name, run_dir, target_name, points=dict(points or {}))
    handle.cluster = cluster
    tracking: Tracking | None = None
    try:
        with _terminate_as_interrupt():
            tracking = start_tracking(spec.tracking, TrackedRun(run_id, name, run_dir, target_name))
            build = _compile_for(spec, path, target, warnings, handle, tracking.env)
            files = write_inputs(run_dir, path, spec, build)
            remote.send_artifacts(handle)
            tracking.describe(run_dir, target_name)
            if preflight:
                _tell(notes, runner.preflight(spec, handle))
            handle.jobs = runner.submit(handle)
            data = {
                "nemorun_run": RECORD_VERSION,
                "id": run_id,
                "name": name,
                "target": target_name,
                "created": iso(created),
                "submitted": iso(now_utc()),
                "cwd": os.getcwd(),
                "spec": str(path),
                "files": files,
                "overrides": list(overrides),
                "target_option": target,
                "points": {k: list(v) for k, v in points.items()} if points else None,
                "rerun_of": rerun_of,
                "tasks": [t.name for t in build.tasks],
                "artifacts": artifact_hashes(run_dir / "artifacts"),
                "jobs": [job_to_json(j, handle.dir) for j in handle.jobs],
                "cluster": handle.cluster,
                "tracking": tracking.refs,
            }
            record = _write_record(handle, data)
    except BaseException:
        _undo(runner, handle, tracking)
        raise
    return Run(record, runner, (*build.warnings, *tracking.warnings))


def _undo(runner: Target, handle: RunHandle, tracking: Tracking | None) -> None:
    """A launch that failed before its record was whole: stop what it submitted (nothing
    could find those jobs again), mark the trackers' runs failed, remove the directory."""
    if handle.jobs:
        with contextlib.suppress(Exception):
            runner.cancel(handle)
    if tracking is not None:
        tracking.abort()
    shutil.rmtree(handle.dir, ignore_errors=True)


def _tell(notes: Callable[[str], None] | None, said: Sequence[str]) -> None:
    if notes is not None:
        for note in said:
            notes(note)


def _compile_for(
    spec: Spec,
    path: Path,
    target: str | None,
    warnings: Sequence[str],
    run: RunHandle,
    env: tuple[tuple[str, str], ...] = (),
) -> Build:
    """Every task of ``spec`` compiled for ``run`` (its id, directory and target's limits are
    inputs of compile, like the spec: `Target.machine`), after packaging the code if asked."""
    from nemorun.compiler.tasks import compile_tasks
    from nemorun.launchers.registry import load_target
    from nemorun.launchers.remote import compile_inputs, transport_of
    from nemorun.launchers.slurm_commands import on_cluster

    given = compile_inputs(spec, path, run)
    with on_cluster(transport_of(run)):
        machine = load_target(run.target).machine(given.machine)
    return compile_tasks(
        spec,
        target,
        spec.templates,
        list(warnings),
        dataclasses.replace(given.run, env=env),
        given.pythonpath,
        host_python=given.host_python,
        machine=machine,
    )


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; the API caller owns them there
        return

    def interrupt(signum: int, frame: object) -> None:
        raise LaunchInterrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ready_target(name: str, on_cluster: bool = False) -> Target:
    """The target ``name``, refused when unusable here (a cluster's is asked when used)."""
    from nemorun.launchers.registry import load_target

    target = load_target(name)
    why_not = None if on_cluster else target.available()
    if why_not is not None:
        raise LaunchError(f"target {name} cannot be used here: {why_not}")
    return target


def _write_record(handle: RunHandle, data: dict[str, object]) -> Record:
    """The jobs' first states, then ``run.json``: from then on, the run exists."""
    from nemorun.launchers.records import load_record

    pending = [
        JobStatus(j.id if len(j.points) == 1 else f"{j.id}_{p}", JobState.PENDING, point=p)
        for j in handle.jobs
        for p in j.points
    ]
    state = {
        "status": JobState.PENDING.value,
        "jobs": [status_to_json(s) for s in pending],
        "target_state": handle.state,
        "updated": iso(now_utc()),
        "ended": None,
    }
    write_json(handle.dir / STATE, state)
    write_json(handle.dir / RECORD, data)
    record = load_record(handle.dir)
    assert record is not None
    return record


def run_target(spec: Spec, target: str | None) -> str:
    """The one target a run goes to: ``target``, else the spec's (every task's must agree)."""
    if target is not None:
        return target
    if spec.single_task:
        return spec.target
    chosen = {name: task.target or spec.target for name, task in spec.tasks.items()}
    if len(set(chosen.values())) > 1:
        shown = ", ".join(f"{name} → {t}" for name, t in chosen.items())
        raise SpecError(
            f"the tasks of one run go to one target; here: {shown}",
            suggestion="launch with --target T, or give every task the same executor target",
        )
    return next(iter(chosen.values()))


def parallel_overrides(spec: Spec, count: int, target: str | None) -> list[str]:
    """The overrides that bound a sweep's parallelism to ``count``: each target's
    ``parallel_option`` (`nemorun.registry.TargetDef`)."""
    from nemorun.registry import get_target, target_names

    if count < 1:
        raise SpecError("--max-parallel must be at least 1", found=str(count))
    wanted = {"executor": target or spec.target}
    if not spec.single_task:
        for name, task in spec.tasks.items():
            if task.executor is not None:
                wanted[f"tasks.{name}.executor"] = target or task.target or spec.target
    out = []
    for where, chosen in wanted.items():
        option = get_target(chosen).parallel_option
        if option is None:
            able = [n for n in target_names() if get_target(n).parallel_option is not None]
            names = ", ".join(able[:-1]) + f" and {able[-1]}" if len(able) > 1 else able[0]
            raise SpecError(
                f"--max-parallel applies to the {names} targets, not {chosen}",
                suggestion="drop --max-parallel",
            )
        out.append(f"++{where}.{option}={count}")
    return out
