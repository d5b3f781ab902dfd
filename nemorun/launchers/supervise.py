"""The point supervisor of the local and docker targets: one detached process per run that runs
its points, ``bash ARTIFACT POINT`` each, and leaves what happened in files.

Started as ``python -I -S supervise.py PLAN [LAUNCHER_PID]`` in a session of its own (so the
launching shell's Ctrl-C and hang-up never reach it). It imports the standard library only, as a
plain script: a fast start, and nothing of nemorun (nor of the user's working directory) on its
path. Everything it needs is in ``PLAN``, which the target writes (`Plan`): its tasks in run
order, each point's log and the files to write, so each target keeps its own file layout.

1. With ``record`` in the plan, it **waits for the record** (the launch writes it last) and
   exits without running anything if the launcher (``LAUNCHER_PID``, its parent) dies first or
   the run directory goes: a killed launch never leaves jobs running without a record.
2. **Tasks run in order**, each when its ``after`` conditions hold (`_unmet`; ``corr`` point
   by point, `_corr_skips`), holding its ``singleton`` lock (`_singleton`); else its
   ``blocked`` (or a point's ``skip``) files say why: failed, or skipped (`NOT_MET`).
3. **Points run** at most ``parallel`` at a time, each with its output in its log (truncated).
   Its ``started`` file holds its pid; its ``exit`` file its exit status (128 + N for signal N),
   unless the artifact wrote it first. A point whose ``cancel`` file, or the run's ``cancelled``
   file, exists is not started; with ``own_groups`` each point leads a process group, and one
   cancelled just as it started is stopped (`cancel_marker` protocol in `_start_point`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
NOT_MET = "condition not met"
"""How the reason of a task or point that was skipped (not failed) begins, in its ``blocked``
or ``skip`` file; the targets' status readers tell the two apart by it."""

Plan = dict[str, Any]
"""``{"cwd", "record", "supervisor", "cancelled", "done", "own_groups", "tasks": [{"name",
"after", "conditions", "singleton", "waiting", "parallel", "script", "blocked": [path],
"points": [{"point", "log", "exit", "started", "cancel", "skip"}]}]}``; ``record``,
``supervisor``, ``done``, ``singleton`` (a lock file) and ``waiting`` may be null or missing,
``conditions`` ({task: any|notok|corr}) empty (paths are absolute)."""


def main(argv: list[str]) -> int:
    plan: Plan = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    if plan.get("supervisor"):
        stat = Path(f"/proc/{os.getpid()}/stat").read_text()
        _put(Path(plan["supervisor"]), f"{os.getpid()} {stat.rpartition(')')[2].split()[19]}\n")
    if plan.get("record") and not _record_written(Path(plan["record"]), int(argv[2])):
        return 0  # the launch died or gave up before its record was whole: run nothing
    outcome: dict[str, str] = {}  # task → ok, failed or skipped
    results: dict[str, dict[int, bool]] = {}  # task → point → succeeded, for the points it ran
    for task in plan["tasks"]:
        if Path(plan["cancelled"]).exists():
            break
        unmet = _unmet(task, outcome)
        if unmet is not None:
            for path in task["blocked"]:
                _put(Path(path), unmet[0])
            outcome[task["name"]], results[task["name"]] = unmet[1], {}
            continue
        skips = _corr_skips(task, results)
        for point in task["points"]:
            if point["point"] in skips:
                _put(Path(point["skip"]), skips[point["point"]])
        points = [p for p in task["points"] if p["point"] not in skips]
        with _singleton(task.get("singleton"), task.get("waiting")):
            ran = _run_points(plan, task, points)
        results[task["name"]] = ran
        outcome[task["name"]] = _outcome(task, ran, skips)
    if plan.get("done"):
        _put(Path(plan["done"]), "")
    return 1 if FAILED in outcome.values() else 0


def _unmet(task: dict[str, Any], outcome: dict[str, str]) -> tuple[str, str] | None:
    """(why, outcome) when the task must not run: a parent it needs ``ok`` failed (it fails
    too: ``dependency failed: …``), or a condition is not met (it is skipped: `NOT_MET`). A
    parent that is not in the plan (a rerun leaves out tasks that succeeded) counts as met."""
    conditions = task.get("conditions") or {}
    failed, not_met = [], []
    for parent in task["after"]:
        got, condition = outcome.get(parent), conditions.get(parent, "ok")
        if got is None or condition in ("any", "corr"):
            continue  # corr: point by point (`_corr_skips`)
        if condition == "notok" and got == OK:
            not_met.append(f"{parent} succeeded (after {parent}: notok)")
        elif condition == "ok" and got == FAILED:
            failed.append(parent)
        elif condition == "ok" and got == SKIPPED:
            not_met.append(f"{parent} was skipped")
    if failed:
        return f"dependency failed: {', '.join(failed)}\n", FAILED
    if not_met:
        return f"{NOT_MET}: {'; '.join(not_met)}\n", SKIPPED
    return None


def _corr_skips(task: dict[str, Any], results: dict[str, dict[int, bool]]) -> dict[int, str]:
    """Why each point that must not run does not (``corr``: the parent's same point did not
    succeed): ``dependency failed: …`` when it failed, `NOT_MET` when it never ran."""
    out: dict[int, str] = {}
    for parent, condition in (task.get("conditions") or {}).items():
        if condition != "corr" or parent not in results:
            continue
        for point in (p["point"] for p in task["points"]):
            done = results[parent].get(point)
            if done is False:
                out.setdefault(point, f"dependency failed: {parent} point {point}\n")
            elif done is None:
                out.setdefault(point, f"{NOT_MET}: {parent} point {point} did not run\n")
    return out


def _outcome(task: dict[str, Any], ran: dict[int, bool], skips: dict[int, str]) -> str:
    """ok when every point ran and succeeded; skipped when the others were all skipped for a
    condition not met; else failed (a point failed, was cancelled, or its dependency failed)."""
    points = [p["point"] for p in task["points"]]
    if all(ran.get(p) for p in points):
        return OK
    not_met = all(ran.get(p) or skips.get(p, "").startswith(NOT_MET) for p in points)
    return SKIPPED if not_met else FAILED


@contextlib.contextmanager
def _singleton(lock: str | None, waiting: str | None) -> Iterator[None]:
    """Hold the exclusive lock on ``lock`` (when given) while the task runs: another run's
    task of the same name waits here until this one ends (or this process dies). While it
    waits, ``waiting`` (when given) says so, for ``status``."""
    if not lock:
        yield
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                _put(Path(waiting), f"waiting for another run of {Path(lock).stem} (singleton)\n")
            fcntl.flock(fd, fcntl.LOCK_EX)
            if waiting:
                Path(waiting).unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)


def _record_written(record: Path, launcher: int) -> bool:
    """Wait until ``record`` exists; False when the launcher died or removed the run first."""
    while not record.exists():
        # The launcher's pid comes as an argument: if it died before this process started,
        # our parent is already someone else, and comparing with a later getppid() never fires.
        if os.getppid() != launcher or not record.parent.is_dir():
            return False
        time.sleep(0.002)
    return True


def _run_points(plan: Plan, task: dict[str, Any], points: list[dict[str, Any]]) -> dict[int, bool]:
    """Run ``points``, at most ``parallel`` at once; whether each that started (or failed to
    start) succeeded. A point cancelled before it started is not in the answer."""
    limit = max(1, int(task.get("parallel") or 1))
    queue = list(points)
    running: dict[int, dict[str, Any]] = {}  # pid → point
    ran: dict[int, bool] = {}
    while queue or running:
        while queue and len(running) < limit and not Path(plan["cancelled"]).exists():
            point = queue.pop(0)
            pid = _start_point(plan, task["script"], point)
            if pid is None:
                if Path(point["exit"]).exists():  # it could not start (exit 127)
                    ran[point["point"]] = False
            else:
                running[pid] = point
        if not running:
            return ran
        pid, wait_status = os.wait()
        if pid not in running:
            continue
        point = running.pop(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        code = 128 - code if code < 0 else code
        ran[point["point"]] = code == 0
        if not Path(point["exit"]).exists():
            _put(Path(point["exit"]), f"{code}\n")
    return ran


def _start_point(plan: Plan, script: str, point: dict[str, Any]) -> int | None:
    """Start one point; its pid, or None when it was cancelled or could not start.

    The protocol with a target's ``cancel --point`` (which writes ``cancel`` first, then looks
    at ``started``): ``started`` is written before the look at ``cancel`` that precedes the
    start, so either the target sees the point started (and stops it its own way) or this
    process sees the marker and starts nothing. With ``own_groups``, a marker that appears just
    after the start stops the point's group here too."""
    cancel, started = Path(point["cancel"]), Path(point["started"])
    if cancel.exists():
        return None
    _put(started, "starting\n")
    if cancel.exists():
        started.unlink()
        return None
    pid = _start(script, point, plan["cwd"], bool(plan.get("own_groups")))
    if pid is None:
        _put(Path(point["exit"]), "127\n")
        return None
    _put(started, f"{pid}\n")
    if plan.get("own_groups") and cancel.exists():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    return pid


def _start(script: str, point: dict[str, Any], cwd: str, own_group: bool) -> int | None:
    log = Path(point["log"])
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Private like the rest of the record; O_NOFOLLOW: a link planted at the log's path fails.
    # O_APPEND: the artifact appends the task's output to this same file, so what the script
    # itself says (bash's "Terminated" when a cancel stops the task) goes after it, not over it.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_NOFOLLOW
    fd = os.open(log, flags, 0o600)
    with open(fd, "wb") as handle:
        try:
            process = subprocess.Popen(
                ["bash", script, str(point["point"])],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                preexec_fn=os.setpgrp if own_group else None,  # this process has no threads
            )
        except OSError as exc:
            handle.write(f"nemorun: cannot start point {point['point']}: {exc}\n".encode())
            return None
    # The pid is reaped by os.wait above; stop Popen from warning that it is still running.
    process.returncode = 0
    return process.pid


def cancel_marker(state_dir: Path, index: int, point: int) -> Path:
    """The local target's file whose presence says that point ``point`` of task ``index`` is
    cancelled."""
    return state_dir / f"{index}.{point}.cancelled"


def _put(path: Path, text: str) -> None:
    """Write a small state file by rename, so a reader sees all of it or nothing."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
