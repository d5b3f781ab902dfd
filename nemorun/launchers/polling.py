"""How often a follower (``logs -f``, ``launch --wait``) asks a scheduler about a run.

A shared cluster's controller answers every user; a sweep followed for a day must not cost it
a query a second. `Backoff` asks at once, then waits 1 s between looks and half as long again
after each look that changed nothing: up to 30 s while everything is still pending (a queue
wait can last hours), up to 5 s once something runs (the end of a job is noticed within that).
Any change of state starts again from 1 s. Every caller following one run shares one
`Backoff` (`Target.follow_status`), so the log pumps of a sweep's jobs and the state loop
together make one query per interval, not one each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nemorun.launchers.base import JobState, JobStatus, RunHandle

FIRST = 1.0
PENDING_MAX = 30.0
RUNNING_MAX = 5.0
GROWTH = 1.5


@dataclass
class Backoff:
    """The last answer about one run and when to ask again."""

    delay: float = FIRST
    due: float = 0.0
    last: list[JobStatus] | None = None
    states: dict[str, JobState] = field(default_factory=dict)

    def fresh(self, now: float | None = None) -> list[JobStatus] | None:
        """The last answer while it is still fresh enough; None: time to ask."""
        now = time.monotonic() if now is None else now
        return self.last if self.last is not None and now < self.due else None

    def answered(self, statuses: list[JobStatus], now: float | None = None) -> None:
        """Note an answer and when the next question is due."""
        now = time.monotonic() if now is None else now
        states = {s.id: s.state for s in statuses}
        if states != self.states or self.last is None:
            self.delay = FIRST
        else:
            waiting = [s for s in statuses if not s.state.is_final()]
            ceiling = PENDING_MAX
            if any(s.state is not JobState.PENDING for s in waiting):
                ceiling = RUNNING_MAX
            self.delay = min(self.delay * GROWTH, ceiling)
        self.states, self.last, self.due = states, statuses, now + self.delay


class Followers:
    """One `Backoff` per followed run, shared by the threads following it: a question due
    is asked by one of them, and the others take its answer."""

    def __init__(self) -> None:
        self._runs: dict[str, Backoff] = {}
        self._lock = threading.Lock()

    def status(
        self, run: RunHandle, ask: Callable[[RunHandle], list[JobStatus]]
    ) -> list[JobStatus]:
        with self._lock:
            backoff = self._runs.setdefault(run.id, Backoff())
            last = backoff.fresh()
            if last is None:
                last = ask(run)
                backoff.answered(last)
            return last
