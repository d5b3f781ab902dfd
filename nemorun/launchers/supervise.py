"""The local target's supervisor: one detached process per run that runs its points.

Started by `nemorun.launchers.local.LocalTarget.submit` as ``python -I -S supervise.py RUN_DIR
LAUNCHER_PID`` in a session of its own (so the launching shell's Ctrl-C and hang-up never
reach it, and ``cancel`` stops it and every point with one signal to its process group). It
imports the standard library only, as a plain script: a fast start, and nothing of nemorun
(nor of the user's working directory) on its path.

What it does, in order:

1. **Waits for the record.** It runs nothing until ``run.json`` exists: the launch writes that
   file last, after ``submit`` returned. If the launching process dies first (the parent pid
   is no longer ``LAUNCHER_PID``) or gives up (the run directory is removed), the supervisor
   exits without running anything: a killed launch never leaves jobs running without a record.
2. **Runs the tasks** of ``artifacts/tasks.json`` in that order, each only after the tasks it
   runs ``after`` succeeded; a task whose dependency failed is not started: its marker
   ``local/<task index>.skipped`` holds the reason (``dependency failed: prep``).
3. **Runs each task's points** (those of its job in ``run.json``) as ``bash ARTIFACT POINT``,
   at most ``max_parallel`` at a time, in the working directory the run was launched from. A
   point's stdout and stderr go to its log (``logs.output`` in ``tasks.json``), truncated when
   it starts; ``local/<task index>.<point>.started`` holds its pid. The artifact writes the
   point's exit status beside its log; if bash ends before it could (a failing ``setup``
   line), the supervisor writes the status itself. Each point leads a process group of its
   own (in this process's session), so ``cancel --point`` stops it and its children alone; a
   point whose `cancel_marker` exists is not started (and is stopped if it was just started).

The states that `LocalTarget.status` reports are read from those files and from whether this
process is still alive (by pid *and* start time, so a reused pid is not mistaken for it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    run_dir, launcher = Path(argv[1]), int(argv[2])
    record_file = run_dir / "run.json"
    while not record_file.exists():
        # The launcher's pid comes as an argument: if it died before this process started,
        # our parent is already someone else, and comparing with a later getppid() never fires.
        if os.getppid() != launcher or not run_dir.is_dir():
            return 0  # the launch died or gave up before its record was whole: run nothing
        time.sleep(0.002)
    record = json.loads(record_file.read_text(encoding="utf-8"))
    manifest = json.loads((run_dir / "artifacts" / "tasks.json").read_text(encoding="utf-8"))
    selected = {job["task"]: job["points"] for job in record["jobs"]}
    state_dir = run_dir / "local"
    state_dir.mkdir(mode=0o700, exist_ok=True)
    failed: set[str] = set()
    for index, task in enumerate(manifest["tasks"]):
        name = task["name"]
        if name not in selected:
            continue
        blocked = [d for d in task["after"] if d in failed]
        if blocked:
            _put(state_dir / f"{index}.skipped", f"dependency failed: {', '.join(blocked)}\n")
            failed.add(name)
            continue
        if not _run_points(run_dir, record["cwd"], index, task, selected[name]):
            failed.add(name)
    return 1 if failed else 0


def _run_points(
    run_dir: Path, cwd: str, index: int, task: dict[str, Any], points: list[int]
) -> bool:
    """Run ``points`` of ``task``, at most ``max_parallel`` at once; True if all succeeded."""
    artifact = run_dir / "artifacts" / task["mains"][0]
    output, status_file = task["logs"]["output"], task["logs"]["status"]
    limit = max(1, int(task.get("max_parallel") or 1))
    queue = list(points)
    running: dict[int, int] = {}  # pid → point
    ok = True
    while queue or running:
        while queue and len(running) < limit:
            point = queue.pop(0)
            cancelled = cancel_marker(run_dir / "local", index, point)
            if cancelled.exists():
                ok = False
                continue
            pid = _start(artifact, point, cwd, Path(output.format(point=point)))
            if pid is None:
                _put(Path(status_file.format(point=point)), "127\n")
                ok = False
                continue
            _put(run_dir / "local" / f"{index}.{point}.started", f"{pid}\n")
            running[pid] = point
            if cancelled.exists():  # cancelled between the look above and the started file
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGTERM)
        if not running:
            break
        pid, wait_status = os.wait()
        if pid not in running:
            continue
        point = running.pop(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        code = 128 - code if code < 0 else code
        ok = ok and code == 0
        status = Path(status_file.format(point=point))
        if not status.exists():
            _put(status, f"{code}\n")
    return ok


def _start(artifact: Path, point: int, cwd: str, log: Path) -> int | None:
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Private like the rest of the record; O_NOFOLLOW: a link planted at the log's path fails.
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with open(fd, "wb") as handle:
        try:
            process = subprocess.Popen(
                ["bash", str(artifact), str(point)],
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                preexec_fn=os.setpgrp,  # a group of its own; this process has no threads
            )
        except OSError as exc:
            handle.write(f"nemorun: cannot start point {point}: {exc}\n".encode())
            return None
    # The pid is reaped by os.wait above; stop Popen from warning that it is still running.
    process.returncode = 0
    return process.pid


def cancel_marker(state_dir: Path, index: int, point: int) -> Path:
    """The file whose presence says that point ``point`` of task ``index`` is cancelled."""
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
