"""The cluster's sweep limits, read at launch so that compile can fit the sweep to them.

``MaxArraySize`` (``scontrol show config``: the largest array index is one less) bounds each
job array; how many jobs one user may have submitted at once bounds the whole sweep, every
array element counting as one job: the user's association's ``MaxSubmitJobs`` (``sacctmgr``,
when accounting answers), else the controller's ``MaxJobCount``. Each is asked once, with the
preflight's timeout; what cannot be read stays unknown (None) and compile falls back on the
spec's ``max_array_size`` or Slurm's default, so an unreadable limit never stops a launch.
"""

from __future__ import annotations

import dataclasses
import getpass
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nemorun.launchers.slurm_preflight import TIMEOUT, Runner, parse_config

if TYPE_CHECKING:
    from nemorun.compiler.machine import Machine

ASK = TIMEOUT
"""Seconds each query may take."""


@dataclass(frozen=True)
class SweepLimits:
    max_array_size: int | None
    max_submit_jobs: int | None

    def told(self, machine: Machine) -> Machine:
        """``machine`` knowing these limits, for compile."""
        return dataclasses.replace(
            machine, max_array_size=self.max_array_size, max_submit_jobs=self.max_submit_jobs
        )


def read_limits(run: Runner) -> SweepLimits:
    """What the cluster says; None for what it does not say (or does not answer)."""
    config = _answer(run, ["scontrol", "show", "config"])
    limits = parse_config(config) if config is not None else {}
    user = getpass.getuser()
    assoc = _answer(run, ["sacctmgr", "-nP", "show", "assoc", f"user={user}", "format=maxsubmit"])
    submit = min((int(n) for n in (assoc or "").split() if n.isdigit()), default=None)
    return SweepLimits(
        _count(limits.get("MaxArraySize")),
        submit if submit is not None else _count(limits.get("MaxJobCount")),
    )


def _answer(run: Runner, argv: list[str]) -> str | None:
    from nemorun.launchers.base import LaunchError

    try:
        result = run(argv)
    except LaunchError:
        return None
    return result.stdout if result.returncode == 0 else None


def _count(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and int(text) > 0 else None
