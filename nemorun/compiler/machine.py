"""`Machine`: what compile is told about the machine it compiles on, an input like the spec.

Compile never looks around by itself. The CLI and the launcher pass `this_machine()`; the
default `Machine()` (the Python API, tests) knows nothing, and a target then uses nemorun's
built-in knowledge, so the same inputs give the same artifacts anywhere.

The facts: which options the machine's ``sbatch`` accepts (Slurm versions differ), and the
cluster's array and submission limits when the launcher read them (compile itself never asks).
`Machine.sbatch_options` reads them from ``sbatch --version`` and ``sbatch --help`` the first
time a Slurm artifact asks, with a timeout, once per process and sbatch path; never when
``sbatch`` is not on PATH. If sbatch does not answer in time, or its help cannot be read, the
built-in list is used, and errors name the list that refused an option.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass

from nemorun.compiler.sbatch_options import BUILTIN, SbatchOptions, from_help

SBATCH_TIMEOUT = 10.0
"""Seconds to wait for ``sbatch --help`` (it answers locally, without the controller)."""


@dataclass(frozen=True)
class Machine:
    """What compile may know of this machine; ``Machine()`` knows nothing."""

    sbatch: str | None = None
    """The ``sbatch`` to ask about its options, or None to use nemorun's built-in list."""
    max_array_size: int | None = None
    """The cluster's ``MaxArraySize`` (read by the launcher, `nemorun.launchers.slurm_limits`):
    sweeps split to fit it unless the spec sets ``max_array_size``. None: not known."""
    max_submit_jobs: int | None = None
    """How many jobs (array elements count one each) the cluster takes from one user at once
    (``MaxSubmitJobs``, else ``MaxJobCount``). None: not known."""

    def sbatch_options(self) -> SbatchOptions:
        """The options the machine's sbatch accepts; the built-in list when unknown."""
        if self.sbatch is None:
            return BUILTIN
        return _read_sbatch_options(self.sbatch) or BUILTIN


UNKNOWN_MACHINE = Machine()
"""The default input of compile: nothing known, built-in knowledge only."""


def this_machine() -> Machine:
    """The machine nemorun runs on: its ``sbatch`` if one is on PATH (nothing is run yet)."""
    return Machine(sbatch=shutil.which("sbatch"))


@functools.cache
def _read_sbatch_options(sbatch: str) -> SbatchOptions | None:
    texts = []
    for flag in ("--version", "--help"):
        try:
            proc = subprocess.run(
                [sbatch, flag], capture_output=True, text=True, timeout=SBATCH_TIMEOUT
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode != 0:
            return None
        texts.append(proc.stdout)
    return from_help(*texts)
