"""The ``local`` target: a detached supervisor per run runs the compiled bash artifact, point by
point, on this machine.

**Why our own supervisor and not submitit's ``LocalExecutor``.** submitit runs a *pickled
Python function* in a child it controls; it cannot run the bash artifact `nemorun compile`
printed, and keeps no state a second process could read. Ours (`supervise`, standard library
only, shared with the docker target) runs the very artifact, orders the tasks, bounds a sweep's
parallelism (``max_parallel``) and leaves what it knows in files under the run directory, so
``status``, ``logs`` and ``cancel`` work from any process, after the launcher has gone.

**Job ids.** One `JobRef` per task: the supervisor's pid (``<pid>/<task>`` for several tasks);
a point of a sweep reads ``<job>_<point>``. The pid's start time (``/proc/PID/stat`` field 22)
is in ``JobRef.extra``: a pid reused after a reboot is never mistaken for it (nor signalled).

**Cancel** writes the marker, then SIGTERMs every process of the supervisor's session (every
point is in it, each in a process group of its own), SIGKILL two seconds later. ``cancel
--point`` writes the point's marker and stops a running point's process group alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from nemorun.compiler.manifest import PlannedTask, TaskEntry
from nemorun.files import PRIVATE_DIR, PRIVATE_FILE, open_private, write_atomic
from nemorun.launchers.attempts import read_attempts, with_attempts
from nemorun.launchers.base import (
    JobRef,
    JobState,
    JobStatus,
    LaunchError,
    RunHandle,
    Target,
    planned_tasks,
    run_manifest,
)
from nemorun.launchers.dependencies import not_run_state, singleton_lock
from nemorun.launchers.supervise import cancel_marker

SUPERVISOR = Path(__file__).with_name("supervise.py")
CANCELLED = "cancelled"
TERMINATE_GRACE = 2.0
POLL_FIRST, POLL = 0.01, 0.25
"""Seconds between looks at a followed job's logs: fast at first (short jobs end quickly)."""


class LocalTarget(Target):
    """Runs on this machine under a detached supervisor (see the module docstring)."""

    name = "local"

    def __init__(self) -> None:
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    def submit(self, run: RunHandle) -> list[JobRef]:
        tasks = planned_tasks(run)
        (run.dir / "local").mkdir(mode=PRIVATE_DIR, exist_ok=True)
        run.logs_dir.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        plan = run.dir / "local" / "plan.json"
        write_atomic(plan, json.dumps(_plan(run, tasks), indent=1), PRIVATE_FILE)
        with open_private(run.logs_dir / "supervisor.log") as log:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(SUPERVISOR), str(plan), str(os.getpid())],
                    cwd=run.dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise LaunchError(f"cannot start the local supervisor: {exc}") from None
        self._children[run.id] = process
        pid = process.pid
        extra = {"pid": pid, "start_time": process_start_time(pid), "host": socket.gethostname()}
        several = len(tasks) > 1 or any(t.name != "task" for t in tasks)
        jobs = []
        for planned in tasks:
            points = planned.points
            output = planned.task.logs["output"]
            log_path = output.format(point=points[0]) if len(points) == 1 else output
            job_id = f"{pid}/{planned.name}" if several else str(pid)
            jobs.append(JobRef(job_id, planned.name, points, log_path, dict(extra)))
        return jobs

    def status(self, run: RunHandle) -> list[JobStatus]:
        elsewhere = _host(run)
        # Read before the files (see _point_state); None: another machine's, cannot tell.
        alive = None if elsewhere is not None else self._supervisor_alive(run)
        cancelled = (run.dir / "local" / CANCELLED).exists()
        manifest = run_manifest(run)
        out = []
        unfinished: set[str] = set()
        for job in run.jobs:
            index, task = manifest.entry(job.task)
            skipped = _read(run.dir / "local" / f"{index}.skipped")
            for point in job.points:
                stopped = cancelled or cancel_marker(run.dir / "local", index, point).exists()
                why = skipped or _read(run.dir / "local" / f"{index}.{point}.skipped")
                state, reason, code = _point_state(run, index, task, point, alive, stopped, why)
                if state is JobState.UNKNOWN and alive is None:
                    reason = f"runs on {elsewhere}, not on this machine"
                if state is JobState.PENDING:
                    waiting = [t for t in task.after if t in unfinished]
                    reason = f"waiting for {', '.join(waiting)}" if waiting else None
                    reason = reason or _read(run.dir / "local" / f"{index}.waiting")
                if state is not JobState.COMPLETED:
                    unfinished.add(job.task)
                point_id = f"{job.id}_{point}" if task.points > 1 else job.id
                tries = read_attempts(
                    Path(task.logs["status"].format(point=point)).with_suffix(".attempts")
                )
                out.append(with_attempts(JobStatus(point_id, state, reason, code, point), tries))
        return out

    def logs(self, run: RunHandle, job: JobRef, follow: bool = False) -> Iterator[str]:
        _, task = run_manifest(run).entry(job.task)
        paths = {p: Path(task.logs["output"].format(point=p)) for p in job.points}
        several = len(job.points) > 1
        if not follow:
            for point, path in paths.items():
                if several:
                    yield f"==> point {point}: {path} <=="
                yield from _lines(path)
            return
        yield from self._follow(run, job, paths, several)

    def _follow(
        self, run: RunHandle, job: JobRef, paths: dict[int, Path], several: bool
    ) -> Iterator[str]:
        offsets = dict.fromkeys(paths, 0)
        partial = dict.fromkeys(paths, b"")
        mine = dataclasses.replace(run, jobs=[job])
        delay = POLL_FIRST
        while True:
            done = all(s.state.is_final() for s in self.status(mine))
            for point, path in paths.items():
                try:
                    with open(path, "rb") as handle:
                        handle.seek(offsets[point])
                        data = handle.read()
                except FileNotFoundError:
                    continue
                if len(data) == 0 and not done:
                    continue
                offsets[point] += len(data)
                text = partial[point] + data
                *complete, partial[point] = text.split(b"\n")
                if done and partial[point]:
                    complete.append(partial[point])
                    partial[point] = b""
                prefix = f"[{point}] " if several else ""
                for line in complete:
                    yield prefix + line.decode("utf-8", errors="replace")
            if done:
                return
            self.wait_for_change(run, delay)  # new output is polled; the end wakes at once
            delay = min(delay * 1.5, POLL)

    def wait_for_change(self, run: RunHandle, timeout: float) -> None:
        """Wait on the supervisor's pidfd: it is readable from the moment the supervisor exits,
        after it wrote every state it will. Without pidfds (or for another machine's run),
        wait out ``timeout``."""
        supervisor = _supervisor(run) if _host(run) is None else None
        fd = _pidfd(*supervisor) if supervisor is not None else None
        if fd is None:
            time.sleep(timeout)
            return
        try:
            if select.select([fd], [], [], 0)[0]:
                time.sleep(timeout)  # it had ended before: nothing more to wake up for
            else:
                select.select([fd], [], [], timeout)
        finally:
            os.close(fd)

    def cancel(self, run: RunHandle) -> None:
        elsewhere = _host(run)
        if elsewhere is not None:
            raise LaunchError(f"run {run.id} runs on {elsewhere}: cancel it there")
        write_atomic(run.dir / "local" / CANCELLED, "cancelled\n")
        supervisor = _supervisor(run)
        if supervisor is None or not _same_process(*supervisor, allow_zombie=True):
            return
        self._stop(run, lambda: _members(SESSION, supervisor[0]))

    def cancel_points(self, run: RunHandle, points: dict[str, tuple[int, ...]]) -> None:
        elsewhere = _host(run)
        if elsewhere is not None:
            raise LaunchError(f"run {run.id} runs on {elsewhere}: cancel it there")
        supervisor = _supervisor(run)
        # Points run in the supervisor's session, which it leads (only while it lives).
        session = supervisor[0] if supervisor is not None and _same_process(*supervisor) else None
        manifest = run_manifest(run)
        stopping: list[tuple[int, Path]] = []  # (process group, status file) of running points
        for job in run.jobs:
            index, task = manifest.entry(job.task)
            for point in job.points:
                if point not in points.get(job.task, ()):
                    continue
                # The marker first: the supervisor looks at it again once the point started.
                write_atomic(cancel_marker(run.dir / "local", index, point), "cancelled\n")
                started = _read(run.dir / "local" / f"{index}.{point}.started") or ""
                status = Path(task.logs["status"].format(point=point))
                if session is None or not started.isdigit() or status.exists():
                    continue  # not running: the supervisor will not start it
                if _is_point_of(int(started), session):
                    stopping.append((int(started), status))
        if not stopping:
            return
        self._stop(run, lambda: [p for group, _ in stopping for p in _members(GROUP, group)])
        # The supervisor writes the status of a point that ended without writing its own.
        deadline = time.monotonic() + TERMINATE_GRACE
        while time.monotonic() < deadline and not all(f.exists() for _, f in stopping):
            if not self._supervisor_alive(run):
                return
            time.sleep(0.02)

    def _stop(self, run: RunHandle, members: Callable[[], list[int]]) -> None:
        """SIGTERM the processes ``members`` lists, SIGKILL what is left after the grace."""
        _signal_all(members(), signal.SIGTERM)
        deadline = time.monotonic() + TERMINATE_GRACE
        while time.monotonic() < deadline:
            self._reap(run)
            if not members():
                return
            time.sleep(0.02)
        _signal_all(members(), signal.SIGKILL)

    def _supervisor_alive(self, run: RunHandle) -> bool:
        self._reap(run)
        supervisor = _supervisor(run)
        return supervisor is not None and _same_process(*supervisor)

    def _reap(self, run: RunHandle) -> None:
        """Collect our own child once it ended, so it does not linger as a zombie."""
        child = self._children.get(run.id)
        if child is not None and child.poll() is not None:
            self._children.pop(run.id, None)  # watch's threads may race here


def _plan(run: RunHandle, tasks: list[PlannedTask]) -> dict[str, Any]:
    """What the supervisor runs (`nemorun.launchers.supervise.Plan`), in the files this
    target's status reads: ``local/INDEX.POINT.started``, the artifact's own status file…"""
    run_dir = Path(os.path.abspath(run.dir))
    state = run_dir / "local"
    return {
        "cwd": os.getcwd(),
        "record": str(run_dir / "run.json"),
        "supervisor": None,
        "done": None,
        "cancelled": str(state / CANCELLED),
        "own_groups": True,
        "tasks": [
            {
                "name": p.name,
                "after": list(p.task.after),
                "conditions": dict(p.task.conditions),
                "singleton": singleton_lock(run, p.task),
                "waiting": str(state / f"{p.index}.waiting"),
                "parallel": p.task.max_parallel or 1,
                "script": str(run_dir / "artifacts" / p.task.mains[0]),
                "blocked": [str(state / f"{p.index}.skipped")],
                "points": [
                    {
                        "point": point,
                        "log": str(run_dir / p.task.logs["output"].format(point=point)),
                        "exit": str(run_dir / p.task.logs["status"].format(point=point)),
                        "started": str(state / f"{p.index}.{point}.started"),
                        "cancel": str(cancel_marker(state, p.index, point)),
                        "skip": str(state / f"{p.index}.{point}.skipped"),
                    }
                    for point in p.points
                ],
            }
            for p in tasks
        ],
    }


def _point_state(
    run: RunHandle,
    index: int,
    task: TaskEntry,
    point: int,
    alive: bool | None,
    cancelled: bool,
    skipped: str | None,
) -> tuple[JobState, str | None, int | None]:
    """A point's state from the files the supervisor and the artifact write: an exit status
    → completed (0) or failed (``exit code N``); a ``.skipped`` marker → failed (``dependency
    failed: …``) or skipped (``condition not met: …``); no status yet → running (started) or
    pending while the supervisor lives, and once it is gone, cancelled (``cancelled``: the run
    or this point was) or failed (``ended without an exit status``: killed, or rebooted)."""
    # `alive` was read before the files: a supervisor that ended in between has written
    # everything it ever will, so a point without a status file then really has none.
    code_text = _read(Path(task.logs["status"].format(point=point)))
    if code_text is not None:
        try:
            code = int(code_text)
        except ValueError:
            return JobState.UNKNOWN, f"unreadable exit status {code_text!r}", None
        if code == 0:
            return JobState.COMPLETED, None, 0
        if cancelled and code in (130, 137, 143):
            return JobState.CANCELLED, "cancelled", code
        return JobState.FAILED, f"exit code {code}", code
    started = (run.dir / "local" / f"{index}.{point}.started").exists()
    if cancelled and not started:
        return JobState.CANCELLED, "cancelled", None
    if skipped is not None:
        return not_run_state(skipped), skipped, None
    if alive is None:
        return JobState.UNKNOWN, None, None
    if alive:
        return (JobState.RUNNING if started else JobState.PENDING), None, None
    if cancelled:
        return JobState.CANCELLED, "cancelled", None
    return JobState.FAILED, "ended without an exit status (killed?)", None


def _host(run: RunHandle) -> str | None:
    """The machine the run's supervisor runs on, when it is not this one."""
    hosts = {job.extra.get("host") for job in run.jobs} - {None}
    here = socket.gethostname()
    return next((str(h) for h in hosts if h != here), None)


def _supervisor(run: RunHandle) -> tuple[int, int | None] | None:
    for job in run.jobs:
        if "pid" in job.extra:
            return int(job.extra["pid"]), job.extra.get("start_time")
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None


def _lines(path: Path) -> Iterator[str]:
    try:
        with open(path, "rb") as handle:
            for line in handle:
                yield line.rstrip(b"\n").decode("utf-8", errors="replace")
    except FileNotFoundError:
        return


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22)."""
    stat = _stat(pid)
    return int(stat[19]) if stat is not None else None


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (field 3 onwards)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2 :].split()


def _pidfd(pid: int, start_time: int | None) -> int | None:
    """A pidfd of the process ``pid`` started at ``start_time`` (None once it has gone, or
    where pidfds do not exist). Opened before the identity check: the fd cannot then refer to
    a later process that reused the pid."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        fd: int = opener(pid)
    except OSError:
        return None
    if not _same_process(pid, start_time, allow_zombie=True):
        os.close(fd)
        return None
    return fd


def _same_process(pid: int, start_time: int | None, allow_zombie: bool = False) -> bool:
    """True while ``pid`` is still the process started at ``start_time`` (and not a zombie)."""
    if not Path("/proc/self/stat").exists():  # no procfs: fall back on the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    stat = _stat(pid)
    if stat is None:
        return False
    if stat[0] in ("Z", "X") and not allow_zombie:
        return False
    return start_time is None or int(stat[19]) == start_time


GROUP, SESSION = 2, 3
"""Where `_stat` has a process's group and its session."""


def _members(field: int, ident: int) -> list[int]:
    """The live processes (zombies do not count) whose ``field`` (`GROUP` or `SESSION`) is
    ``ident``."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.isdigit():
            continue
        stat = _stat(int(entry))
        if stat is not None and stat[field] == str(ident) and stat[0] not in ("Z", "X"):
            found.append(int(entry))
    return found


def _is_point_of(pid: int, supervisor: int) -> bool:
    """True when ``pid`` leads a point's process group in the session of ``supervisor``
    (so a pid reused by another process is never signalled)."""
    stat = _stat(pid)
    return stat is not None and stat[GROUP] == str(pid) and stat[SESSION] == str(supervisor)


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
