"""The resilience policy as compiled: `RetryPlan`, checked against what the target honours.

`retry_plan` turns ``executor.retries`` / ``executor.checkpoint_signal`` into the plan every
template reads as ``job.retry``, or refuses, each at its key: a target that cannot honour
them, a mode or an ``on`` reason it does not implement, a signal at or after the time limit,
a timeout retried with no signal to warn the task (a job killed at its limit cannot requeue
itself). What the policy becomes on Slurm (``#SBATCH`` lines, the script's trap) is in
`slurm_directives` and ``templates/_attempts.sh.j2``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nemorun.compiler.targets.checks import OptionChecks

if TYPE_CHECKING:
    from nemorun.registry import TargetDef
    from nemorun.schemas.spec import Spec

EARLY = 60
"""Slurm may send ``--signal`` up to this many seconds before it was asked to."""
_TIME = re.compile(r"(?:(?P<d>[0-9]+)-)?(?P<rest>[0-9]+(?::[0-9]{1,2}){0,2})")


@dataclass(frozen=True)
class RetryPlan:
    """What the templates need of the policy."""

    attempts: int
    """How many times the task may run in all (``retries.max + 1``; 1 without retries)."""
    on: tuple[str, ...] = ()
    """Why an attempt may end and be retried (`nemorun.schemas.retries.REASONS`)."""
    mode: str = "requeue"
    signal: str | None = None
    """The checkpoint signal's name (``USR1``), or None."""
    before: int = 0
    """Seconds between the signal and the time limit."""
    limit: int | None = None
    """The time limit in seconds, when there is one."""

    def retries(self, reason: str) -> bool:
        """Whether an attempt that ended for ``reason`` is retried (while attempts last)."""
        return self.attempts > 1 and reason in self.on

    @property
    def preempt_before(self) -> int:
        """A signal that arrives more than this many seconds before the limit is a
        preemption, not the time limit's warning."""
        return self.before + EARLY + 30


def retry_plan(spec: Spec, declared: TargetDef) -> RetryPlan | None:
    """The plan of ``spec``'s policy on ``declared``, or None when it sets none; located
    `SpecError`s for a policy the target cannot honour."""
    options = spec.executor
    retries, signal = options.retries, options.checkpoint_signal
    if retries is None and signal is None:
        return None
    check = OptionChecks(spec)
    can = declared.resilience
    if can is None:
        for key in ("retries", "checkpoint_signal"):
            if getattr(options, key) is not None:
                check.error(
                    key, f"target {declared.name} cannot honour {key}", suggestion="drop it"
                )
        check.done()
        raise AssertionError("unreachable")
    timed = signal is not None and can.checkpoint_signal
    limit = _limit(check, getattr(options, "time", None)) if timed else None
    if signal is not None and not can.checkpoint_signal:
        check.error(
            "checkpoint_signal",
            f"target {declared.name} has no time limit to signal the task before",
            suggestion="drop checkpoint_signal",
        )
    elif signal is not None and limit is not None and signal.before >= limit:
        check.error(
            ("checkpoint_signal", "before"),
            f"the signal would come at or before the job starts: executor.time is {limit} s",
            expected=f"fewer seconds than the time limit ({limit})",
            found=str(signal.before),
        )
    on: tuple[str, ...] = ()
    if retries is not None:
        on = _reasons(check, declared, retries.on, has_signal=signal is not None)
        if retries.mode not in can.modes:
            check.error(
                ("retries", "mode"),
                f"target {declared.name} cannot retry by {retries.mode}",
                expected=" or ".join(can.modes),
            )
        elif retries.mode == "chain" and spec.is_sweep():
            check.error(
                ("retries", "mode"),
                "mode chain queues whole jobs after whole jobs: it cannot retry the points "
                "of a sweep (a job array) one by one",
                suggestion="use mode: requeue, which requeues each array element alone",
            )
    check.done()
    return RetryPlan(
        attempts=1 + (retries.max if retries is not None else 0),
        on=on,
        mode=retries.mode if retries is not None else "requeue",
        signal=signal.name() if signal is not None else None,
        before=signal.before if signal is not None else 0,
        limit=limit,
    )


def _reasons(
    check: OptionChecks, declared: TargetDef, on: Sequence[str] | None, has_signal: bool
) -> tuple[str, ...]:
    """``retries.on`` (default: what the target can tell apart, failures aside on a
    scheduler), each reason one the target honours."""
    can = declared.resilience
    assert can is not None
    if on is None:
        chosen = [r for r in can.on if r != "failed" or can.on == ("failed",)]
        return tuple(r for r in chosen if r != "timeout" or has_signal)
    for index, reason in enumerate(on):
        if reason not in can.on:
            check.error(
                ("retries", "on", index),
                f"target {declared.name} cannot tell when an attempt ends by {reason}",
                expected=", ".join(can.on),
            )
        elif reason == "timeout" and not has_signal:
            check.error(
                ("retries", "on", index),
                "a job killed at its time limit cannot requeue itself: retrying a timeout "
                "needs a warning signal before the limit",
                suggestion="add checkpoint_signal: {signal: USR1, before: 300}",
            )
    return tuple(dict.fromkeys(on))


def _limit(check: OptionChecks, time: Any) -> int | None:
    """``executor.time`` in seconds; an error at ``checkpoint_signal`` without one."""
    seconds = slurm_seconds(time)
    if seconds is None:
        check.error(
            "checkpoint_signal",
            "a checkpoint signal comes a number of seconds before the time limit, and the job "
            "has none",
            suggestion="set executor.time",
        )
    return seconds


def slurm_seconds(time: object) -> int | None:
    """A Slurm time (minutes, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``) in seconds; None
    for none or an unlimited one."""
    if isinstance(time, int) and not isinstance(time, bool):
        return time * 60
    match = _TIME.fullmatch(time) if isinstance(time, str) else None
    if match is None:
        return None
    parts = [int(p) for p in match["rest"].split(":")]
    if match["d"] is not None:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = [*parts, 0, 0][:3]
        return ((int(match["d"]) * 24 + hours) * 60 + minutes) * 60 + seconds
    units = {1: (60,), 2: (60, 1), 3: (3600, 60, 1)}[len(parts)]
    return sum(p * u for p, u in zip(parts, units))


def slurm_directives(plan: RetryPlan | None) -> list[tuple[str, Any]]:
    """The ``#SBATCH`` lines of the policy: the signal to the batch shell (``B:``, whose trap
    forwards it to the task), ``--requeue`` for mode requeue, and ``--open-mode=append`` so
    that every attempt's output is kept in the same log."""
    if plan is None:
        return []
    out: list[tuple[str, Any]] = []
    if plan.signal is not None:
        out.append(("signal", f"B:{plan.signal}@{plan.before}"))
    if plan.attempts > 1 and plan.mode == "requeue":
        out.append(("requeue", None))
    if plan.attempts > 1:
        out.append(("open-mode", "append"))
    return out


def slurm_policy(
    check: OptionChecks, plan: RetryPlan | None, options: Any, directives: list[tuple[str, Any]]
) -> list[tuple[str, Any]]:
    """The policy's ``#SBATCH`` lines (`slurm_directives`) not already among ``directives``;
    an option of ``options`` (`SlurmOptions`) that says otherwise is refused at its key."""
    out = slurm_directives(plan)
    ours = {name for name, _ in out}
    if options.signal is not None and "signal" in ours:
        check.error("signal", "the checkpoint_signal sets --signal", suggestion="drop signal")
    if options.requeue is False and "requeue" in ours:
        check.error("requeue", "retries in mode requeue need --requeue", suggestion="drop it")
    for key in options.extra:
        if key.replace("_", "-").lstrip("-") in ours:
            check.error(("extra", key), "the resilience policy sets this option")
    return [d for d in out if d not in directives]
