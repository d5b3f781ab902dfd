"""The ``slurm`` target: ``sbatch --parsable`` on the compiled scripts, states from Slurm's tools.

**Submit** (`SlurmTarget.submit`): every main script of every task of ``tasks.json``, parents
first, as it is, from ``run.dir``; a task waits for its parents with ``--dependency=afterok``.
A run is submitted whole or not at all. ``SBATCH_*`` variables of the caller are not passed to
sbatch: they would override the script's own ``#SBATCH`` lines, and the script is what runs.

**Status** (`SlurmTarget.status`, `status_many` for many runs in one query) asks slurmctld
(``squeue``, else ``scontrol``: current, but forgets finished jobs after ``MinJobAge``), then
``sacct`` (knows finished jobs, but lags) about the jobs slurmctld no longer knows, and keeps
the last state seen in ``run.state["slurm"]``: a job last seen final is not asked about again.
A job whose parent failed reads **failed** (``dependency never satisfied: …``), never cancelled.

**Logs** are the files the scripts name (`nemorun.launchers.slurm_logs`). ``JobRef.log`` is the
output file, ``{point}`` standing for the point in an array that starts at point 0 (a later part
of a split sweep keeps ``%a``: its point minus the part's first).
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemorun.compiler.manifest import TaskEntry
from nemorun.errors import SpecErrors
from nemorun.launchers.attempts import recorded_attempts
from nemorun.launchers.base import (
    JobRef,
    JobState,
    JobStatus,
    LaunchError,
    RunHandle,
    Target,
    planned_tasks,
)
from nemorun.launchers.polling import Followers
from nemorun.launchers.records import journal_intent, journal_job
from nemorun.launchers.slurm_chain import chain_ids, current_attempts, submit_chain
from nemorun.launchers.slurm_commands import TIMEOUT, run_command, timeout_setting
from nemorun.launchers.slurm_logs import absolute, follow_logs, log_job, read_logs
from nemorun.launchers.slurm_script import (
    ScriptInfo,
    fill_offsets,
    read_script,
    resolve_log,
)
from nemorun.launchers.slurm_states import (
    NEVER_SATISFIED,
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    Seen,
    array_elements,
    array_throttle,
    command_message,
    compact_indices,
    element_id,
    failed_parent,
    live_jobs,
    parse_sacct,
    parse_scontrol,
    parse_squeue,
    run_tag,
    status_from_seen,
    tagged,
)

if TYPE_CHECKING:
    from nemorun.schemas.spec import Spec

ACCOUNTING_OFF = "accounting storage is disabled"
INVALID_ID = "Invalid job id"
# scancel's complaints about jobs that have already ended.
ALREADY_OVER = ("already completing or completed", INVALID_ID)


class SlurmTarget(Target):
    """Submit, watch, read and cancel a run's jobs on the Slurm cluster this machine talks to."""

    name = "slurm"
    poll_interval = 0.2
    """Seconds between two reads of the log files when following."""
    status_interval = 1.0
    """Seconds between two status queries when following."""
    unknown_grace = 30.0
    """Seconds a followed job may stay unknown to every tool before following stops."""

    def __init__(self) -> None:
        self._followers = Followers()  # logs -f, --wait: one backing-off query per run

    # --- availability ------------------------------------------------------------------------

    def available(self) -> str | None:
        if shutil.which("sbatch") is None:
            return "sbatch is not on PATH: install Slurm's client commands (slurm-client)"
        try:
            result = self._run(["sinfo", "-h", "-o", "%P"], timeout=15)
        except LaunchError as error:
            return str(error)
        if result.returncode != 0:
            return f"sinfo does not answer: {command_message(result)}"
        return None

    # --- preflight and submit ----------------------------------------------------------------

    def preflight(self, spec: Spec, run: RunHandle) -> list[str]:
        """Partition, account, QOS and GPUs against the live cluster, then ``sbatch
        --test-only`` on each task's first script (`nemorun.launchers.slurm_preflight`)."""
        from nemorun.launchers import slurm_preflight as pre

        facts = pre.read_facts(lambda argv: self._run(argv, timeout=pre.TIMEOUT))
        errors = pre.check_options(spec, facts)
        if errors:
            raise SpecErrors(errors)
        scripts = [run.artifacts_dir / t.task.mains[0] for t in planned_tasks(run) if t.task.mains]
        return pre.start_estimates(self._run, scripts, Path(run.dir))

    def submit(self, run: RunHandle) -> list[JobRef]:
        """A task's scripts get ``--dependency=afterok:<ids>`` (every job of every task it
        comes after) and ``--kill-on-invalid-dep=yes`` (unless the script sets it), so Slurm
        itself ends a job whose parent failed instead of leaving it pending forever. When sbatch
        refuses a script, the jobs already submitted for the run are cancelled and `LaunchError`
        carries sbatch's message. ``run.points`` (a rerun of some points) submits only those
        points of those tasks: ``--array=1,3`` on the command line replaces the script's own
        range (its ``%`` limit kept), scripts and tasks without a chosen point are not
        submitted, and a task whose parents are not resubmitted waits for nothing."""
        if not Path(run.dir).is_dir():
            raise LaunchError(f"the run directory {run.dir} does not exist")
        tasks = planned_tasks(run)
        journal_intent(Path(run.dir), self.name, run_tag(run.id))
        ids_of: dict[str, list[str]] = {}
        sbatch, script = partial(self._run, cwd=run.dir), lambda i: run.artifacts_dir / i.file
        refs: list[JobRef] = []
        try:
            for planned in tasks:
                task = planned.task
                # Parents not submitted now (a rerun's) already succeeded: nothing to wait for.
                after_ids = [i for parent in task.after for i in ids_of.get(parent, [])]
                infos = [self._script(run, file) for file in task.mains]
                fill_offsets(infos)
                ids_of[task.name] = []
                chosen = set(planned.points)
                for info in infos:
                    indices = None
                    if run.points:  # a rerun of some points: only those
                        indices = [i for i in info.indices if info.point(i) in chosen]
                        if not (indices or (not info.array and info.offset in chosen)):
                            continue  # no chosen point in this script
                    refs.append(self._submit_one(run, task, info, after_ids, indices))
                    refs[-1] = submit_chain(sbatch, self._scancel, run, refs[-1], script(info))
                    ids_of[task.name].append(refs[-1].id)
        except BaseException:
            if refs:
                self._scancel([r.id for r in refs])
            raise
        slurm = run.state.setdefault("slurm", {})
        slurm.setdefault("last", {})
        slurm.pop("cancelled", None)
        return refs

    def _script(self, run: RunHandle, file: str) -> ScriptInfo:
        path = run.artifacts_dir / file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise LaunchError(f"cannot read {path}: {error.strerror or error}") from None
        try:
            return read_script(file, text)
        except ValueError as error:
            raise LaunchError(f"{path}: {error}") from None

    def _submit_one(
        self,
        run: RunHandle,
        task: TaskEntry,
        info: ScriptInfo,
        after_ids: list[str],
        indices: list[int] | None = None,
    ) -> JobRef:
        """Submit one script; ``indices``: only these elements of its array (``--array`` on
        the command line overrides the script's own, its ``%`` limit kept)."""
        argv = ["sbatch", "--parsable"]
        array = info.array
        points = info.points
        if info.array and indices is not None and indices != info.indices:
            array = compact_indices(indices) + array_throttle(info.array)
            argv.append(f"--array={array}")
            points = tuple(info.point(i) for i in indices)
        if after_ids:
            argv.append(f"--dependency=afterok:{':'.join(after_ids)}")
            if "kill-on-invalid-dep" not in info.options:
                argv.append("--kill-on-invalid-dep=yes")
        comment = info.options.get("comment")  # the script's own, kept
        argv.append(f"--comment={comment + ' ' if comment else ''}{run_tag(run.id)}")
        argv.append(str((run.artifacts_dir / info.file).resolve()))
        result = self._run(argv, cwd=run.dir)
        if result.returncode != 0:
            raise LaunchError(f"sbatch refused {info.file}: {command_message(result)}")
        job_id = result.stdout.strip().split(";", 1)[0].strip()
        if not job_id.isdigit():
            raise LaunchError(f"sbatch gave no job id for {info.file}: {result.stdout.strip()!r}")
        journal_job(Path(run.dir), self.name, job_id)
        workdir = Path(run.dir)
        if info.chdir:
            workdir = workdir / info.chdir
        extra: dict[str, Any] = {
            "script": info.file,
            "name": info.job_name,
            "offset": info.offset,
            "output": info.output,
            "workdir": str(workdir),
        }
        if array:
            extra["array"] = array
        if info.error:
            extra["error"] = info.error
        if task.after:
            extra["after"] = list(task.after)
            extra["after_ids"] = list(after_ids)
        warnings = result.stderr.strip()
        if warnings:
            extra["sbatch_stderr"] = warnings
        log = str(absolute(workdir, resolve_log(info.output, job=job_id, name=info.job_name)))
        if array and info.offset == 0:
            log = log.replace("%a", "{point}")  # index = point; else %a stays (point - offset)
        return JobRef(job_id, task.name, points, log, extra)

    # --- status ------------------------------------------------------------------------------

    def status(self, run: RunHandle) -> list[JobStatus]:
        """One `JobStatus` per job and per array element (``123_4``, with its sweep point).

        - ``squeue -t all -r`` asks slurmctld itself: exact and current, every array element,
          but only until a finished job is forgotten (``MinJobAge``, 300 s by default). It wins
          where it answers; ``scontrol show job -o`` stands in when squeue does not answer;
        - ``sacct`` (accounting) is asked only about the jobs slurmctld no longer knows: it
          knows finished jobs, but lags slurmctld by a moment (a just-submitted job is missing);
        - the last state seen of each element is kept in ``run.state["slurm"]["last"]``: a job
          that no tool knows any more keeps its last *final* state; a job last seen unfinished,
          or never seen, is ``unknown``; a job whose elements were all last seen final is not
          asked about again.

        A job waiting on a parent that failed (Slurm's ``DependencyNeverSatisfied``) is
        **failed**, reason ``dependency never satisfied: <parent> failed``. Slurm cancels it at
        once (``--kill-on-invalid-dep=yes``); if it is still pending (a script that asked
        ``kill-on-invalid-dep=no``), this cancels it. Either way it then reads as failed, never
        as cancelled; only `cancel` makes a run's jobs cancelled (``cancel_points`` some
        elements: their ids are kept in ``run.state["slurm"]["cancelled_elements"]``)."""
        return self.status_many([run])[0]

    def follow_status(self, run: RunHandle) -> list[JobStatus]:
        return self._followers.status(run, self.status)

    def status_many(self, runs: Sequence[RunHandle]) -> list[list[JobStatus]]:
        """`status` of every run with one query for all their jobs (`_query`); the jobs whose
        every element was last seen in a final state are not asked about again."""
        live = [i for run in runs for i in live_jobs(run)]
        seen, problems = self._query([*live, *chain_ids(runs, live)]) if live else ({}, [])
        seen = current_attempts(runs, seen)  # a chain (retries mode chain): its current attempt
        return [self._statuses(run, seen, problems) for run in runs]

    def _statuses(
        self, run: RunHandle, seen: dict[str, Seen], problems: list[str]
    ) -> list[JobStatus]:
        """The run's statuses from what the tools said (``seen``), else from the last seen."""
        slurm = run.state.setdefault("slurm", {})
        last: dict[str, dict[str, Any]] = slurm.setdefault("last", {})
        never: dict[str, str] = slurm.setdefault("never", {})
        jobs = list(run.jobs)
        if not jobs:
            return []
        statuses: list[JobStatus] = []
        by_task: dict[str, list[JobStatus]] = {}
        to_cancel: list[str] = []
        for ref in jobs:
            for index in array_elements(ref):
                eid = element_id(ref.id, index)
                point = int(ref.extra.get("offset", 0)) + (index or 0)
                fresh = seen.get(eid)
                if fresh is not None:
                    previous = last.get(eid, {})
                    for name in ("raw_id", "node"):
                        if getattr(fresh, name) is None and previous.get(name) is not None:
                            setattr(fresh, name, previous[name])
                    last[eid] = fresh.to_json()
                    status = status_from_seen(eid, point, fresh)
                elif eid in last:
                    old = Seen.from_json(eid, last[eid])
                    status = status_from_seen(eid, point, old)
                    if not status.state.is_final():
                        why = "; ".join(problems) or "Slurm no longer knows the job"
                        state = JobState.UNKNOWN
                        if not problems and eid in slurm.get("cancelled_elements", ()):
                            state, why = JobState.CANCELLED, "cancelled; Slurm forgot it"
                        why = f"{why} (last seen {old.state})"
                        status = JobStatus(eid, state, why, None, point)
                else:
                    why = "; ".join(problems) or "Slurm does not know this job"
                    status = JobStatus(eid, JobState.UNKNOWN, why, None, point)
                status = self._dependency(run, ref, eid, status, by_task, never, to_cancel)
                statuses.append(status := recorded_attempts(run.dir, eid, status))
                by_task.setdefault(ref.task, []).append(status)
        if to_cancel:
            self._scancel(to_cancel)
        return statuses

    def _dependency(
        self,
        run: RunHandle,
        ref: JobRef,
        eid: str,
        status: JobStatus,
        by_task: dict[str, list[JobStatus]],
        never: dict[str, str],
        to_cancel: list[str],
    ) -> JobStatus:
        """A job whose dependency can never be satisfied reads as failed (and is cancelled)."""
        if eid in never and status.state in (JobState.CANCELLED, JobState.PENDING):
            return JobStatus(eid, JobState.FAILED, never[eid], None, status.point)
        pending_forever = status.state is JobState.PENDING and status.reason == NEVER_SATISFIED
        killed = status.state is JobState.CANCELLED and status.reason == NEVER_SATISFIED
        parent = failed_parent(ref, by_task)
        # sacct keeps the reason a job had before Slurm killed it ("Dependency"): a job that
        # never started, was cancelled without `cancel`, and whose parent failed, was killed
        # for its dependency.
        inferred = (
            status.state is JobState.CANCELLED
            and parent is not None
            and not run.state.get("slurm", {}).get("cancelled")
            and eid not in run.state["slurm"].get("cancelled_elements", ())
            and not (run.state["slurm"]["last"].get(eid) or {}).get("node")
        )
        if not (pending_forever or killed or inferred):
            return status
        reason = "dependency never satisfied: " + (parent or "a job it depends on failed")
        never[eid] = reason
        if pending_forever:
            to_cancel.append(eid)
        return JobStatus(eid, JobState.FAILED, reason, None, status.point)

    def _query(self, ids: Sequence[str]) -> tuple[dict[str, Seen], list[str]]:
        """What slurmctld (squeue, else scontrol) says about ``ids``' elements, then ``sacct``
        about the jobs it no longer knows (at most two commands for any number of runs);
        slurmctld wins. Also the tools' failures, as messages."""
        seen: dict[str, Seen] = {}
        problems: list[str] = []
        controller, trouble = self._controller(ids)
        if trouble:
            problems.append(trouble)
        known = {s.job for s in controller}
        gone = [i for i in ids if i not in known]
        if gone:
            joined = ",".join(gone)
            acct = self._run(["sacct", "--parsable2", "-n", "-X", "-j", joined, "-o", SACCT_FIELDS])
            if acct.returncode == 0:
                seen.update((s.id, s) for s in parse_sacct(acct.stdout))
            elif ACCOUNTING_OFF not in command_message(acct):
                problems.append(f"sacct: {command_message(acct)}")
        seen.update((s.id, s) for s in controller)
        return seen, problems

    def _controller(self, ids: Sequence[str]) -> tuple[list[Seen], str | None]:
        """slurmctld's records of ``ids``: squeue, else scontrol (one job at a time)."""
        result = self._squeue(ids)
        if result.returncode == 0:
            return parse_squeue(result.stdout), None
        if INVALID_ID in command_message(result):
            return [], None  # none of them is known any more
        out: list[Seen] = []
        for job in ids:
            one = self._scontrol(job)
            if one.returncode == 0:
                out.extend(parse_scontrol(one.stdout))
            elif INVALID_ID not in command_message(one):
                return out, f"squeue: {command_message(result)}; scontrol: {command_message(one)}"
        return out, None

    def _squeue(self, ids: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return self._run(
            ["squeue", "-h", "-r", "-t", "all", "-j", ",".join(ids), "-O", SQUEUE_FORMAT]
        )

    def _scontrol(self, job: str) -> subprocess.CompletedProcess[str]:
        return self._run(["scontrol", "show", "job", "-o", job])

    # --- logs --------------------------------------------------------------------------------

    def tagged_jobs(self, tags: Sequence[str]) -> dict[str, list[str]]:
        result = self._run(["squeue", "-h", "-a", "-u", getpass.getuser(), "-o", "%i|%k"])
        if result.returncode != 0:
            raise LaunchError(f"squeue failed: {command_message(result)}")
        return tagged(result.stdout, tags)

    def logs(self, run: RunHandle, job: JobRef, follow: bool = False) -> Iterator[str]:
        ref, only = log_job(run, job)
        if follow:
            yield from follow_logs(self, run, ref, only)
        else:
            yield from read_logs(run, ref, only)

    # --- cancel ------------------------------------------------------------------------------

    def cancel(self, run: RunHandle) -> None:
        ids = [i for j in run.jobs for i in (j.id, *j.extra.get("chain", []))]
        run.state.setdefault("slurm", {})["cancelled"] = time.time()
        if ids:
            self._scancel(ids, strict=True)

    def cancel_points(self, run: RunHandle, points: dict[str, tuple[int, ...]]) -> None:
        """``scancel`` the array elements (``123_4``) that run those points, or a plain job
        that runs one of them."""
        ids = []
        for ref in run.jobs:
            wanted = points.get(ref.task, ())
            offset = int(ref.extra.get("offset", 0))
            ids += [
                element_id(ref.id, i) for i in array_elements(ref) if offset + (i or 0) in wanted
            ]
        slurm = run.state.setdefault("slurm", {})
        slurm["cancelled_elements"] = sorted({*slurm.get("cancelled_elements", []), *ids})
        if ids:
            self._scancel(ids, strict=True)

    def _scancel(self, ids: Sequence[str], strict: bool = False) -> None:
        result = self._run(["scancel", *ids])
        if result.returncode == 0 or not strict:
            return
        problems = [
            line
            for line in command_message(result).splitlines()
            if not any(word in line for word in ALREADY_OVER)
        ]
        if problems:
            raise LaunchError(f"scancel failed: {'; '.join(problems)}")

    # --- running commands --------------------------------------------------------------------

    def _run(
        self,
        argv: list[str],
        cwd: Path | None = None,
        timeout: float = TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run a Slurm command; `LaunchError` when it is missing or does not answer in time."""
        return run_command(argv, cwd, self.call_timeout(min(timeout, timeout_setting())))
