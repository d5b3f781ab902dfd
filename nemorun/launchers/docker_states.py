"""What the docker target's supervisor files say about a run: pure reading, no docker call.

The shared supervisor (`nemorun.launchers.supervise`) writes, under ``RUN/docker/``:
``supervisor`` (its pid and start time: ``/proc/PID/stat`` field 22, because PIDs wrap and a pid
alone proves nothing), per job ``ID.started`` / ``ID.exit`` (the exit status of ``bash STEM.sh
POINT``: the container's, or docker's own 125-127) / ``ID.blocked`` (why it never ran: failed
or skipped, `not_run_state`), then
``done``; `cancel` writes ``cancelled`` and ``cancel_points`` ``ID.cancelled``. `DockerView.state`
turns those, and what ``docker inspect`` said of the container, into a job state; the caller
keeps the last state seen in ``run.state["last"]``, so a point whose container was just removed
does not flicker back to pending. A supervisor that died without recording a point's exit
status (killed, machine rebooted) makes the point failed (running, if its container still runs).
"""

from __future__ import annotations

from pathlib import Path

from nemorun.launchers.base import JobRef, JobState, RunHandle
from nemorun.launchers.dependencies import not_run_state

EXIT_REASONS = {
    125: "docker could not create or start the container (exit 125)",
    126: "the container's command could not be invoked (exit 126)",
    127: "the container's command was not found (exit 127)",
    137: "killed (exit 137: SIGKILL, docker kill or out of memory)",
}


def docker_dir(run: RunHandle) -> Path:
    return run.dir / "docker"


def cancel_marker(state_dir: Path, job: str) -> Path:
    """The file whose presence says that job (one sweep point) is cancelled."""
    return state_dir / f"{job}.cancelled"


class DockerView:
    """What the supervisor's files say about a run (read afresh for each question)."""

    def __init__(self, run: RunHandle) -> None:
        self.run = run
        self.dir = docker_dir(run)

    def supervisor(self) -> tuple[int, int] | None:
        try:
            pid, start = (self.dir / "supervisor").read_text().split()
            return int(pid), int(start)
        except (OSError, ValueError):
            recorded = self.run.state.get("supervisor")
            return (int(recorded[0]), int(recorded[1])) if recorded else None

    def supervisor_alive(self) -> bool:
        supervisor = self.supervisor()
        return supervisor is not None and not self.done() and alive(*supervisor)

    def done(self) -> bool:
        return (self.dir / "done").exists()

    def started(self, job: str) -> bool:
        return (self.dir / f"{job}.started").exists()

    def exit(self, job: str) -> int | None:
        try:
            return int((self.dir / f"{job}.exit").read_text())
        except (OSError, ValueError):
            return None

    def blocked(self, job: str) -> str | None:
        try:
            return (self.dir / f"{job}.blocked").read_text().strip()
        except OSError:
            return None

    def cancelled(self, job: str) -> bool:
        """True when the run, or this job alone, was cancelled."""
        return (self.dir / "cancelled").exists() or cancel_marker(self.dir, job).exists()

    def ended(self, job: str) -> bool:
        return (
            self.exit(job) is not None
            or self.blocked(job) is not None
            or (self.cancelled(job) and not self.started(job))
            or not self.supervisor_alive()
        )

    def state(
        self, job: JobRef, container: tuple[str, int] | None, last: str | None, alive: bool
    ) -> tuple[JobState, str | None, int | None]:
        code = self.exit(job.id)
        if code is not None:
            if code == 0:
                return JobState.COMPLETED, None, 0
            if self.cancelled(job.id):
                return JobState.CANCELLED, "cancelled", code
            return JobState.FAILED, EXIT_REASONS.get(code, f"exit code {code}"), code
        blocked = self.blocked(job.id)
        if blocked is not None:
            return not_run_state(blocked), blocked, None
        if self.cancelled(job.id) and not (self.started(job.id) and alive):
            return JobState.CANCELLED, "cancelled", None
        if not self.started(job.id):
            if alive:
                after = job.extra.get("after") or []
                waiting = f"waiting for {', '.join(after)}" if after else None
                if waiting is None:
                    waiting = "waiting for earlier points (max_parallel)"
                return JobState.PENDING, waiting, None
            return JobState.FAILED, "never started: the supervisor is gone", None
        docker_state = container[0] if container else None
        if docker_state in ("running", "restarting", "paused"):
            reason = None if alive else "the supervisor is gone; the container still runs"
            return JobState.RUNNING, reason, None
        if not alive:
            why = "the supervisor ended without recording the exit status (killed?)"
            return JobState.FAILED, why, None
        if docker_state == "created":
            return JobState.PENDING, "container created, not started yet", None
        if last == JobState.RUNNING.value or docker_state in ("exited", "dead", "removing"):
            return JobState.RUNNING, None, None  # ending: its exit status is being written
        return JobState.PENDING, "creating the container", None


def alive(pid: int, start: int) -> bool:
    """``pid`` runs, is not a zombie, and started at ``start`` (clock ticks since boot)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()
    return len(fields) > 19 and fields[0] not in ("Z", "X") and int(fields[19]) == start
