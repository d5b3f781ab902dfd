"""The resilience policy every target may honour: ``executor.retries`` and
``executor.checkpoint_signal``.

They are declared on `ExecutorOptions` (so every target's spec reads them the same way, and
a target that cannot honour them refuses them at their key instead of calling them unknown);
each target says what it honours in its `Resilience` (``TargetDef.resilience``). Why an
attempt ends (`REASONS`) is said in one vocabulary on every target: ``timeout``, ``preempt``
and ``node_fail`` are a cluster's; ``failed`` (the task exited non-zero) is the only one a
target without a scheduler can see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nemorun.schemas.formats import Format, option

REASONS = ("timeout", "preempt", "node_fail", "failed")
"""Why an attempt ends, as ``retries.on`` names them."""
Reason = Literal["timeout", "preempt", "node_fail", "failed"]
RETRIES = Format("a number of retries", minimum=1)
SECONDS = Format("a number of seconds", minimum=1)
SIGNAL_NAME = Format(
    "a signal name",
    pattern="(?:SIG)?[A-Z][A-Z0-9]*",
    expected="a signal name like USR1, USR2, TERM or INT",
    example="USR1",
)


@dataclass
class Retries:
    """Run the task again when an attempt ends for one of the ``on`` reasons.

    Args:
        max: How many times the task may run again (the task runs at most ``max + 1`` times).
        on: Why an attempt may end and be retried: ``timeout``, ``preempt``, ``node_fail``
            (Slurm), ``failed`` (a non-zero exit). Default: every reason the target honours.
        mode: ``requeue`` (Slurm requeues the same job) or ``chain`` (each attempt is its own
            job, queued at submission after the previous one with ``afternotok``).
    """

    max: int = option(RETRIES, default=1)
    on: list[Reason] | None = None
    mode: Literal["requeue", "chain"] = "requeue"


@dataclass
class CheckpointSignal:
    """A signal sent to the task ``before`` seconds ahead of its time limit, so it can save a
    checkpoint (Slurm may send it up to a minute earlier than asked).

    Args:
        signal: The signal's name (``USR1``).
        before: Seconds before the time limit; less than ``executor.time``.
    """

    signal: str = option(SIGNAL_NAME, default="USR1")
    before: int = option(SECONDS, default=300)

    def name(self) -> str:
        """The signal's name without ``SIG`` (``USR1``), as bash's ``kill -s`` and sbatch
        read it."""
        return self.signal.removeprefix("SIG")


@dataclass(frozen=True)
class Resilience:
    """What a target honours of the policy (``TargetDef.resilience``; None: nothing)."""

    on: tuple[str, ...]
    """The ``retries.on`` reasons its attempts can be told apart by."""
    modes: tuple[str, ...] = ("requeue",)
    """The ``retries.mode`` values it implements."""
    checkpoint_signal: bool = False
    """Whether it can signal the task before a time limit."""
