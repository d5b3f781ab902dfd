"""Running one Slurm client command: bounded in time, blind to the caller's Slurm variables.

Every call nemorun makes to Slurm goes through `run_command`, so none can hang a command: it
waits at most its timeout (``NEMORUN_SLURM_TIMEOUT`` lowers every one of them, for a controller
known to be slow or far away) and then raises `LaunchError` naming the command.

Inside ``with on_cluster(transport):`` the same commands run on a remote cluster's login node
over ssh (`nemorun.launchers.ssh`), so the Slurm target's logic is the same on both sides.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.launchers.base import LaunchError

if TYPE_CHECKING:
    from nemorun.launchers.ssh import Transport

TIMEOUT = 60.0
"""Seconds any one Slurm command may take before it counts as not answering."""
INPUT_PREFIXES = ("SBATCH_", "SQUEUE_", "SACCT_", "SCANCEL_", "SINFO_", "NEMORUN_REPACK")
"""The caller's variables that would change what a command does behind its arguments (a job
would see the caller's ``NEMORUN_REPACK``: `nemorun.launchers.slurm_packing`)."""


CLEAN_REMOTE = (
    "for v in $(env | grep -E "
    "'^((SBATCH|SQUEUE|SACCT|SCANCEL|SINFO)_[A-Za-z0-9_]*|NEMORUN_REPACK)=' | cut -d= -f1); "
    'do unset "$v"; done; exec "$@"'
)
"""A fixed ``sh`` program run before each Slurm command on a cluster: `INPUT_PREFIXES` unset
(a login shell's ``.bashrc`` may export ``SBATCH_TIMELIMIT``), then the command itself."""


_CLUSTER: contextvars.ContextVar[Transport | None] = contextvars.ContextVar("cluster", default=None)


@contextlib.contextmanager
def on_cluster(transport: Transport | None) -> Iterator[None]:
    """`run_command` runs on ``transport``'s cluster within the block (this machine: None)."""
    token = _CLUSTER.set(transport)
    try:
        yield
    finally:
        _CLUSTER.reset(token)


def current_cluster() -> Transport | None:
    """The transport `on_cluster` set, or None for this machine."""
    return _CLUSTER.get()


def timeout_setting() -> float:
    """``NEMORUN_SLURM_TIMEOUT`` in seconds, else `TIMEOUT`."""
    text = os.environ.get("NEMORUN_SLURM_TIMEOUT", "")
    try:
        seconds = float(text) if text else TIMEOUT
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise LaunchError(f"NEMORUN_SLURM_TIMEOUT={text!r}: expected seconds, e.g. 30")
    return seconds


def run_command(
    argv: list[str], cwd: Path | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``argv``'s result; `LaunchError` when it is missing or does not answer in time."""
    transport = _CLUSTER.get()
    if transport is not None:  # the login shell's own SBATCH_… are dropped there, as here
        where = None if cwd is None else str(cwd)
        return transport.run(["sh", "-c", CLEAN_REMOTE, "sh", *argv], where, timeout)
    env = {k: v for k, v in os.environ.items() if not k.startswith(INPUT_PREFIXES)}
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise LaunchError(f"{argv[0]} is not on PATH: is this a Slurm cluster?") from None
    except subprocess.TimeoutExpired:
        raise LaunchError(f"{argv[0]} did not answer within {timeout:g} s") from None
    except OSError as error:
        raise LaunchError(f"cannot run {argv[0]}: {error.strerror or error}") from None
