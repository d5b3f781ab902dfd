"""The ``slurm`` target: ``sbatch --parsable`` on the compiled scripts, states from Slurm's tools.

**Submit** (`SlurmTarget.submit`): every main script of every task of ``tasks.json``, parents
first, as it is, from ``run.dir``; a task waits for its parents (`slurm_dependency`).
A run is submitted whole or not at all. ``SBATCH_*`` variables of the caller are not passed to
sbatch: they would override the script's own ``#SBATCH`` lines, and the script is what runs.

**Status** (`SlurmTarget.status`, `status_many` for many runs in one query) asks slurmctld
(``squeue``, else ``scontrol``: current, but forgets finished jobs after ``MinJobAge``), then
``sacct`` (knows finished jobs, but lags) about the jobs slurmctld no longer knows, and keeps
the last state seen in ``run.state["slurm"]``: a job last seen final is not asked about again.
A job whose parent failed reads **failed** (``dependency never satisfied: …``), never cancelled.

**Logs** are the files the scripts name (`nemorun.launchers.slurm_logs`). ``JobRef.log`` is the
output file, ``{point}`` standing for the point in an array that starts at point 0 (a later part
of a split sweep keeps ``%a``: its point minus the part's first). A run on a remote cluster
(``run.cluster``): the same commands on its login node, the remote paths (`launchers.remote`).
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
from nemorun.launchers.dependencies import not_run_state, slurm_dependency, slurm_unmet
from nemorun.launchers.polling import Followers
from nemorun.launchers.records import journal_intent, journal_job
from nemorun.launchers.remote import by_cluster, transport_of, where
from nemorun.launchers.remote_logs import remote_logs
from nemorun.launchers.slurm_chain import chain_ids, current_attempts, submit_chain
from nemorun.launchers.slurm_commands import (
    TIMEOUT,
    current_cluster,
    on_cluster,
    run_command,
    timeout_setting,
)
from nemorun.launchers.slurm_logs import absolute, follow_logs, log_job, read_logs
from nemorun.launchers.slurm_packing import cancel_points as packed_cancel
from nemorun.launchers.slurm_packing import is_packed, point_statuses, repack
from nemorun.launchers.slurm_query import INVALID_ID, query
from nemorun.launchers.slurm_script import ScriptInfo, fill_offsets, read_script, resolve_log
from nemorun.launchers.slurm_states import (
    NEVER_SATISFIED,
    Seen,
    array_elements,
    array_throttle,
    command_message,
    compact_indices,
    element_id,
    failed_parent,
    live_jobs,
    run_tag,
    status_from_seen,
    tagged,
)

if TYPE_CHECKING:
    from nemorun.compiler.machine import Machine
    from nemorun.schemas.spec import Spec

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

    def machine(self, machine: Machine) -> Machine:
        """``machine`` with the cluster's ``MaxArraySize`` and submission limit, which compile
        fits the sweep to (`nemorun.launchers.slurm_limits`)."""
        from nemorun.launchers.slurm_limits import ASK, read_limits

        return read_limits(lambda argv: self._run(argv, timeout=ASK)).told(machine)

    def preflight(self, spec: Spec, run: RunHandle) -> list[str]:
        """Partition, account, QOS and GPUs against the live cluster, then ``sbatch
        --test-only`` on each task's first script (`nemorun.launchers.slurm_preflight`)."""
        from nemorun.launchers import slurm_preflight as pre

        with on_cluster(transport_of(run)):
            facts = pre.read_facts(lambda argv: self._run(argv, timeout=pre.TIMEOUT))
            errors = pre.check_options(spec, facts)
            if errors:
                raise SpecErrors(errors)
            base = where(run)
            scripts = [
                base / "artifacts" / t.task.mains[0] for t in planned_tasks(run) if t.task.mains
            ]
            return pre.start_estimates(self._run, scripts, base)

    def submit(self, run: RunHandle) -> list[JobRef]:
        """A task's scripts get ``--dependency`` (`slurm_dependency`) and
        ``--kill-on-invalid-dep=yes`` (unless the script sets it), so Slurm itself ends a job
        whose dependency can never be met instead of leaving it pending forever. When sbatch
        refuses a script, the jobs already submitted for the run are cancelled and `LaunchError`
        carries sbatch's message. ``run.points`` (a rerun of some points) submits only those
        points of those tasks: ``--array=1,3`` on the command line replaces the script's own
        range (its ``%`` limit kept), scripts and tasks without a chosen point are not
        submitted, and a task whose parents are not resubmitted waits for nothing."""
        if not Path(run.dir).is_dir():
            raise LaunchError(f"the run directory {run.dir} does not exist")
        with on_cluster(transport_of(run)):
            return self._submit_all(run)

    def _submit_all(self, run: RunHandle) -> list[JobRef]:
        tasks = planned_tasks(run)
        journal_intent(Path(run.dir), self.name, run_tag(run.id), run.cluster)
        ids_of: dict[str, list[str]] = {}
        sbatch, script = partial(self._run, cwd=run.dir), lambda i: run.artifacts_dir / i.file
        refs: list[JobRef] = []
        try:
            for planned in tasks:
                task = planned.task
                infos = [self._script(run, file) for file in task.mains]
                fill_offsets(infos)
                ids_of[task.name] = []
                chosen = set(planned.points)
                for part, info in enumerate(infos):
                    depend = slurm_dependency(task, ids_of, part, len(infos))
                    indices = None
                    if run.points and info.per_job:  # some points of a packed sweep: re-packed
                        indices = [p for p in info.points if p in chosen]
                        if not indices:
                            continue  # no chosen point in this part
                    elif run.points:  # a rerun of some points: only those
                        indices = [i for i in info.indices if info.point(i) in chosen]
                        if not (indices or (not info.array and info.offset in chosen)):
                            continue  # no chosen point in this script
                    refs.append(self._submit_one(run, task, info, depend, indices))
                    # in refs before its chain is queued: cancelled if that fails
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
        dependency: str | None,
        indices: list[int] | None = None,
    ) -> JobRef:
        """Submit one script with its ``--dependency``; ``indices``: only these elements of its
        array (``--array`` overrides the script's, its ``%`` limit kept), or the points to
        re-pack (`repack`)."""
        argv = ["sbatch", "--parsable"]
        array = info.array
        points = info.points
        if info.per_job and indices is not None:
            array, points = repack(info, indices, argv)
        elif info.array and indices is not None and indices != info.indices:
            array = compact_indices(indices) + array_throttle(info.array)
            argv.append(f"--array={array}")
            points = tuple(info.point(i) for i in indices)
        if dependency:
            argv.append(f"--dependency={dependency}")
            if "kill-on-invalid-dep" not in info.options:
                argv.append("--kill-on-invalid-dep=yes")
        comment = info.options.get("comment")  # the script's own, kept
        argv.append(f"--comment={comment + ' ' if comment else ''}{run_tag(run.id)}")
        base = where(run)
        script = base / "artifacts" / info.file
        argv.append(str(script if run.cluster else script.resolve()))
        result = self._run(argv, cwd=base)
        if result.returncode != 0:
            raise LaunchError(f"sbatch refused {info.file}: {command_message(result)}")
        job_id = result.stdout.strip().split(";", 1)[0].strip()
        if not job_id.isdigit():
            raise LaunchError(f"sbatch gave no job id for {info.file}: {result.stdout.strip()!r}")
        journal_job(Path(run.dir), self.name, job_id)
        workdir = base
        if info.chdir:
            workdir = workdir / info.chdir
        extra = _job_record(task, info, workdir, array, dependency)
        warnings = result.stderr.strip()
        if warnings:
            extra["sbatch_stderr"] = warnings
        log = str(absolute(workdir, resolve_log(info.output, job=job_id, name=info.job_name)))
        if array and info.offset == 0:
            log = log.replace("%a", "{point}")  # index = point; else %a stays (point - offset)
        if info.per_job:
            extra.update(per_job=info.per_job, pack_logs=info.pack_logs)
            log = f"{info.pack_logs}-point-{{point}}.out"
        return JobRef(job_id, task.name, points, log, extra)

    # --- status ------------------------------------------------------------------------------

    def status(self, run: RunHandle) -> list[JobStatus]:
        """One `JobStatus` per job and per array element (``123_4``, with its sweep point):
        squeue (else scontrol) where slurmctld still knows the job, else sacct, else the last
        state seen (``run.state["slurm"]["last"]``); a job last seen unfinished that no tool
        knows is unknown. A job whose parent failed (``DependencyNeverSatisfied``) reads
        failed (and is cancelled if it still pends); only `cancel` makes jobs cancelled
        (``cancel_points``: their ids in ``run.state["slurm"]["cancelled_elements"]``)."""
        return self.status_many([run])[0]

    def follow_status(self, run: RunHandle) -> list[JobStatus]:
        return self._followers.status(run, self.status)

    def status_many(self, runs: Sequence[RunHandle]) -> list[list[JobStatus]]:
        """`status` of every run with one query per cluster for all their jobs
        (`slurm_query.query`), a chain's later attempts included (retries mode chain); the jobs
        whose every element was last seen in a final state are not asked about again."""
        out: dict[int, list[JobStatus]] = {}
        for group in by_cluster(runs):  # one query per cluster
            with on_cluster(transport_of(runs[group[0]])):
                mine = [runs[n] for n in group]
                live = [i for run in mine for i in live_jobs(run)]
                asked = [*live, *chain_ids(mine, live)]
                seen, problems = query(self._run, asked) if live else ({}, [])
                seen = current_attempts(mine, seen)  # a chain: its current attempt
                out.update((n, self._statuses(runs[n], seen, problems)) for n in group)
        return [out[n] for n in range(len(runs))]

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
                status = recorded_attempts(run.dir, eid, status)
                mine = point_statuses(ref, index, status) if is_packed(ref) else [status]
                statuses += mine
                by_task.setdefault(ref.task, []).extend(mine)
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
        """A job whose dependency can never be satisfied: failed or skipped (`slurm_unmet`)."""
        if eid in never and status.state in (JobState.CANCELLED, JobState.PENDING):
            return JobStatus(eid, not_run_state(never[eid]), never[eid], None, status.point)
        pending_forever = status.state is JobState.PENDING and status.reason == NEVER_SATISFIED
        killed = status.state is JobState.CANCELLED and status.reason == NEVER_SATISFIED
        parent = failed_parent(ref, by_task)
        # sacct keeps the reason a job had before Slurm killed it ("Dependency"): a job that
        # never started, was cancelled without `cancel`, and whose parent failed, was killed
        # for its dependency.
        inferred = (
            status.state is JobState.CANCELLED
            and bool(parent is not None or ref.extra.get("conditions"))
            and not run.state.get("slurm", {}).get("cancelled")
            and eid not in run.state["slurm"].get("cancelled_elements", ())
            and not (run.state["slurm"]["last"].get(eid) or {}).get("node")
        )
        if not (pending_forever or killed or inferred):
            return status
        never[eid] = reason = slurm_unmet(ref, by_task)
        if pending_forever:
            to_cancel.append(eid)
        return JobStatus(eid, not_run_state(reason), reason, None, status.point)

    # --- logs --------------------------------------------------------------------------------

    def tagged_jobs(self, tags: Sequence[str]) -> dict[str, list[str]]:
        """(Inside `on_cluster`: that cluster's jobs, of the user ssh logs in as.)"""
        user = ["--me"] if current_cluster() is not None else ["-u", getpass.getuser()]
        result = self._run(["squeue", "-h", "-a", *user, "-o", "%i|%k"])
        if result.returncode != 0:
            raise LaunchError(f"squeue failed: {command_message(result)}")
        return tagged(result.stdout, tags)

    def logs(self, run: RunHandle, job: JobRef, follow: bool = False) -> Iterator[str]:
        ref, only = log_job(run, job)
        transport = transport_of(run)
        if transport is not None:
            yield from remote_logs(self, transport, run, ref, only, follow)
        elif follow:
            yield from follow_logs(self, run, ref, only)
        else:
            yield from read_logs(run, ref, only)

    # --- cancel ------------------------------------------------------------------------------

    def cancel(self, run: RunHandle) -> None:
        ids = [i for j in run.jobs for i in (j.id, *j.extra.get("chain", []))]
        run.state.setdefault("slurm", {})["cancelled"] = time.time()
        if ids:
            with on_cluster(transport_of(run)):
                self._scancel(ids, strict=True)

    def cancel_points(self, run: RunHandle, points: dict[str, tuple[int, ...]]) -> None:
        """``scancel`` the array elements (``123_4``) that run those points, or a plain job
        that runs one of them."""
        ids = []
        for ref in run.jobs:
            wanted = points.get(ref.task, ())
            if is_packed(ref):
                ids += packed_cancel(ref, wanted)
                continue
            offset = int(ref.extra.get("offset", 0))
            ids += [
                element_id(ref.id, i) for i in array_elements(ref) if offset + (i or 0) in wanted
            ]
            if ids and ids[-1] == ref.id:  # a chained job: its later attempts would start
                ids += list(ref.extra.get("chain", []))
        slurm = run.state.setdefault("slurm", {})
        slurm["cancelled_elements"] = sorted({*slurm.get("cancelled_elements", []), *ids})
        if ids:
            with on_cluster(transport_of(run)):
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
        self, argv: list[str], cwd: Path | None = None, timeout: float = TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a Slurm command; `LaunchError` when it is missing or does not answer in time."""
        return run_command(argv, cwd, self.call_timeout(min(timeout, timeout_setting())))


def _job_record(
    task: TaskEntry, info: ScriptInfo, workdir: Path, array: str | None, dependency: str | None
) -> dict[str, Any]:
    """What a job's record keeps of its script and submission (`JobRef.extra`)."""
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
        extra.update(after=list(task.after), conditions=dict(task.conditions))
    if dependency:
        extra["dependency"] = dependency
    return extra
