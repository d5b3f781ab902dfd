"""The attempts of a job with a resilience policy: text → data, and how status says them.

A job run under ``executor.retries`` writes one line per event to its record (Slurm:
``RUN_DIR/logs/attempts/JOB``, the local and docker targets: beside each point's log), tab
separated: attempt, attempts in all, UTC time, event (``started``/``ended``), reason
(``completed``, ``timeout``, ``preempt``, ``failed``), what followed (``requeued``, ``no retries
left``…) and the scheduler's job id. An attempt that started but never said how it ended was
ended from outside: Slurm requeued it itself (a node failure, a preemption) or killed it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nemorun.launchers.base import JobState, JobStatus

ATTEMPTS_DIR = "attempts"
"""Where, under a run's ``logs``, a Slurm job's attempts are recorded (one file per job or
array element)."""
CHAIN_SUFFIX = ".chain"
"""Beside a chain's record: the job ids of its attempts, one a line, in order."""


@dataclass(frozen=True)
class Attempt:
    """One attempt as its record tells it."""

    number: int
    attempts: int
    """How many attempts the policy allows in all."""
    reason: str | None = None
    """Why it ended (``completed``, ``timeout``…); None while running, or if it never said."""
    action: str | None = None
    """What followed its end (``requeued``…)."""

    def ended(self) -> str:
        """How the attempt ended, in words."""
        if self.reason is None:
            return "no word from the job: ended from outside (node failure, preemption, kill)"
        return self.reason + (f", {self.action}" if self.action else "")


def parse_attempts(text: str) -> tuple[Attempt, ...]:
    """The attempts a record holds, in order; lines it cannot read are skipped (a job killed
    while writing one leaves half a line)."""
    found: dict[int, Attempt] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 7 or not (fields[0].isdigit() and fields[1].isdigit()):
            continue
        number, total, event, reason, action = int(fields[0]), int(fields[1]), *fields[3:6]
        if event == "started":
            found[number] = Attempt(number, total)
        elif event == "ended":
            found[number] = Attempt(number, total, reason or None, action or None)
    return tuple(found[n] for n in sorted(found))


def read_attempts(path: Path) -> tuple[Attempt, ...]:
    """`parse_attempts` of the record at ``path``; none when there is no record."""
    try:
        return parse_attempts(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ()


def with_attempts(status: JobStatus, attempts: Sequence[Attempt]) -> JobStatus:
    """``status`` with its attempt (the last one started) and, in its reason, how the earlier
    ones ended; ``status`` itself when the job has no record."""
    if not attempts:
        return status
    last = attempts[-1]
    said = [f"attempt {a.number}: {a.ended()}" for a in attempts if a is not last]
    number = last.number
    if status.state is JobState.PENDING and last.reason is not None:
        number = last.number + 1  # requeued: the next attempt waits
        said.append(f"attempt {last.number}: {last.ended()}")
    elif last.reason is not None and status.state.is_final():
        said.append(f"attempt {last.number}: {last.ended()}")
    reason = "; ".join([*said, *([status.reason] if status.reason else [])]) or None
    return dataclasses.replace(status, reason=reason, attempt=number, attempts=last.attempts)


def attempt_label(statuses: Sequence[JobStatus]) -> str | None:
    """``attempt 2/4``: the furthest attempt of a run's unfinished jobs past their first, for
    ``ls``; None when every job is on its first attempt (or has no policy)."""
    live = [s for s in statuses if s.attempt and s.attempt > 1 and not s.state.is_final()]
    if not live:
        return None
    furthest = max(live, key=lambda s: s.attempt or 0)
    return f"attempt {furthest.attempt}/{furthest.attempts}"


def recorded_attempts(run_dir: Path, job: str, status: JobStatus) -> JobStatus:
    """`with_attempts` from the record of Slurm job (or array element) ``job`` of the run in
    ``run_dir``, when it has one."""
    return with_attempts(status, read_attempts(run_dir / "logs" / ATTEMPTS_DIR / job))
