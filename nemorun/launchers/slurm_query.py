"""What the Slurm target asks about jobs: slurmctld first (``squeue``, else ``scontrol``),
then ``sacct`` about the jobs slurmctld no longer knows; at most two commands for any number
of runs, whatever the number of jobs (one ``scontrol`` per job only when squeue fails)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from nemorun.launchers.slurm_preflight import Runner
from nemorun.launchers.slurm_states import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    Seen,
    command_message,
    parse_sacct,
    parse_scontrol,
    parse_squeue,
)

ACCOUNTING_OFF = "accounting storage is disabled"
INVALID_ID = "Invalid job id"


def query(run: Runner, ids: Sequence[str]) -> tuple[dict[str, Seen], list[str]]:
    """What slurmctld (squeue, else scontrol) says about ``ids``' elements, then ``sacct``
    about the jobs it no longer knows (at most two commands for any number of runs);
    slurmctld wins. Also the tools' failures, as messages."""
    seen: dict[str, Seen] = {}
    problems: list[str] = []
    records, trouble = controller(run, ids)
    if trouble:
        problems.append(trouble)
    known = {s.job for s in records}
    gone = [i for i in ids if i not in known]
    if gone:
        joined = ",".join(gone)
        acct = run(["sacct", "--parsable2", "-n", "-X", "-j", joined, "-o", SACCT_FIELDS])
        if acct.returncode == 0:
            seen.update((s.id, s) for s in parse_sacct(acct.stdout))
        elif ACCOUNTING_OFF not in command_message(acct):
            problems.append(f"sacct: {command_message(acct)}")
    seen.update((s.id, s) for s in records)
    return seen, problems


def controller(run: Runner, ids: Sequence[str]) -> tuple[list[Seen], str | None]:
    """slurmctld's records of ``ids``: squeue, else scontrol (one job at a time)."""
    result = squeue(run, ids)
    if result.returncode == 0:
        return parse_squeue(result.stdout), None
    if INVALID_ID in command_message(result):
        return [], None  # none of them is known any more
    out: list[Seen] = []
    for job in ids:
        one = scontrol(run, job)
        if one.returncode == 0:
            out.extend(parse_scontrol(one.stdout))
        elif INVALID_ID not in command_message(one):
            return out, f"squeue: {command_message(result)}; scontrol: {command_message(one)}"
    return out, None


def squeue(run: Runner, ids: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return run(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(ids), "-O", SQUEUE_FORMAT])


def scontrol(run: Runner, job: str) -> subprocess.CompletedProcess[str]:
    return run(["scontrol", "show", "job", "-o", job])
