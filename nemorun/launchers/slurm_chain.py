"""``retries: {mode: chain}`` on Slurm: every attempt is its own job, queued at submission.

For clusters that forbid requeue. Attempt ``k + 1`` waits for attempt ``k`` with
``--dependency=afternotok:<k>`` and ``--kill-on-invalid-dep=yes``, so when an attempt
succeeds Slurm itself cancels the rest of the chain. Each later attempt is the same script,
told its number and the first attempt's id (``NEMORUN_CHAIN_ATTEMPT``, ``NEMORUN_CHAIN_FIRST``),
and writes to the first attempt's logs (appended). The chain's ids are kept in the run
(``JobRef.extra["chain"]``) and beside the attempts' record (the script of an attempt that
ends for a reason not retried cancels the later ones from that list). A task that comes
``after`` a chained one is refused: Slurm cannot make a job wait for whichever attempt
succeeds.

Status: the run keeps one job, the first attempt's id; what it shows is the *current* attempt
(`current_attempts`): the first that has not failed, else the last that ran.
"""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from nemorun.files import write_atomic
from nemorun.launchers.attempts import ATTEMPTS_DIR, CHAIN_SUFFIX
from nemorun.launchers.base import JobRef, JobState, LaunchError, RunHandle, planned_tasks
from nemorun.launchers.records import journal_job
from nemorun.launchers.slurm_states import Seen, command_message, job_state, run_tag

Sbatch = Callable[[list[str]], subprocess.CompletedProcess[str]]


def submit_chain(
    sbatch: Sbatch,
    scancel: Callable[[list[str]], None],
    run: RunHandle,
    first: JobRef,
    path: Path,
) -> JobRef:
    """Queue the later attempts of ``first`` (the first attempt, just submitted) when its
    script is chained (`CHAIN_LINE`); ``first`` with their ids in ``extra["chain"]``.
    `LaunchError` when sbatch refuses one (those already queued are cancelled; the caller
    cancels ``first``)."""
    try:
        attempts = chain_attempts(path.read_text(encoding="utf-8"))
    except OSError as problem:
        raise LaunchError(f"cannot read {path}: {problem.strerror or problem}") from None
    if attempts < 2:
        return first
    if run.cluster:  # the attempts' shared record (below) lives here, the jobs there
        raise LaunchError(
            f"task {first.task}: retries mode chain is not supported on a remote cluster yet; "
            "use mode requeue there"
        )
    children = [t.task.name for t in planned_tasks(run) if first.task in t.task.after]
    if children:  # afterok on one attempt would fail them when a later attempt succeeds
        raise LaunchError(
            f"task {children[0]} comes after {first.task}, whose attempts are chained "
            "(retries mode chain): Slurm cannot make a job wait for whichever attempt "
            "succeeds; use mode requeue for that task"
        )
    ids = [first.id]
    logs = [f"--output={first.log}"] if first.log else []
    if first.extra.get("error"):
        err = str(first.extra["error"]).replace("%j", first.id)
        logs.append(f"--error={Path(first.extra['workdir']) / err}")
    for attempt in range(2, attempts + 1):
        variables = f"NEMORUN_CHAIN_ATTEMPT={attempt},NEMORUN_CHAIN_FIRST={first.id}"
        argv = [
            "sbatch",
            "--parsable",
            f"--dependency=afternotok:{ids[-1]}",
            "--kill-on-invalid-dep=yes",
            f"--export=ALL,{variables}",
            "--open-mode=append",
            *logs,
            f"--comment={run_tag(run.id)}",
            str(path.resolve()),
        ]
        result = sbatch(argv)
        job_id = result.stdout.strip().split(";", 1)[0].strip()
        if result.returncode != 0 or not job_id.isdigit():
            scancel(ids[1:])
            raise LaunchError(f"sbatch refused attempt {attempt}: {command_message(result)}")
        journal_job(Path(run.dir), "slurm", job_id)
        ids.append(job_id)
    record = Path(run.dir) / "logs" / ATTEMPTS_DIR / f"{first.id}{CHAIN_SUFFIX}"
    record.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(record, "".join(f"{i}\n" for i in ids))
    return dataclasses.replace(first, extra={**first.extra, "chain": ids[1:]})


def chain_ids(runs: Sequence[RunHandle], live: Sequence[str]) -> list[str]:
    """The later attempts of the live chained jobs of ``runs``, to ask about with them."""
    return [i for run in runs for ref in run.jobs if ref.id in live for i in _later(ref)]


def current_attempts(runs: Sequence[RunHandle], seen: dict[str, Seen]) -> dict[str, Seen]:
    """``seen`` with each chained job's entry replaced by its current attempt's (under the
    first attempt's id): the first attempt that has not failed, else the last that ran."""
    out = dict(seen)
    for ref in (ref for run in runs for ref in run.jobs if _later(ref)):
        chosen = None
        for job in (ref.id, *_later(ref)):
            found = seen.get(job)
            if found is None or (chosen is not None and _never_ran(found)):
                break  # not known yet, or cancelled because the one before did not fail
            chosen = found
            if job_state(found.state) is not JobState.FAILED:
                break
        if chosen is not None:
            out[ref.id] = dataclasses.replace(chosen, job=ref.id, index=None)
    return out


def _later(ref: JobRef) -> list[str]:
    return [str(i) for i in ref.extra.get("chain", [])]


def _never_ran(seen: Seen) -> bool:
    return job_state(seen.state) is JobState.CANCELLED and not seen.node


def chain_attempts(script_text: str) -> int:
    """How many attempts the script's chain has (`CHAIN_LINE`), 0 for a script without one."""
    for line in script_text.splitlines():
        if line.startswith(CHAIN_LINE):
            value = line[len(CHAIN_LINE) :].strip()
            return int(value) if value.isdigit() else 0
    return 0


CHAIN_LINE = "# nemorun chain attempts: "
"""The line of a chained script that says how many attempts to queue (written by
``_attempts.sh.j2``)."""
