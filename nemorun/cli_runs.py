"""The commands that launch and manage runs: launch, run, ls, status, logs, cancel, rerun, diff.

A thin shell over `nemorun.launchers.launch` (imported only when one of them runs). Output
conventions: a command's answer goes to stdout (the run id for ``launch``, tables, logs),
everything about the run's progress to stderr. On a terminal, waiting on a sweep shows one
progress line that redraws itself; otherwise (a pipe, CI) a plain line per state change.

Exit codes: 0 ok; 1 a job failed (``run``, ``launch --wait``) or the scheduler refused; 2 bad
input (a spec error, an unknown or ambiguous RUN).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from nemorun.cli import EXIT_FAILURE, EXIT_OK, _parser, _spec_and_overrides, _warn

if TYPE_CHECKING:
    from nemorun.launchers.base import JobRef, JobStatus, Target
    from nemorun.launchers.launch import Progress, Run
    from nemorun.launchers.records import Record

TARGETS_HELP = "where it runs (default: the spec's executor.target, else local)"
RUN_HELP = "a run id, a unique prefix of one, or a run's name (its newest run)"
PROGRESS_ORDER = ("completed", "failed", "cancelled", "running", "pending", "unknown")


def _launch_options(p: argparse.ArgumentParser, target: bool = True) -> None:
    if target:
        p.add_argument("--target", "-t", metavar="T", help=TARGETS_HELP)
    p.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help="run at most N sweep points at once (local: executor.max_parallel; "
        "slurm: executor.array_parallelism)",
    )


# --- launch / run -----------------------------------------------------------------------------


def _build_launch() -> argparse.ArgumentParser:
    p = _parser(
        "launch",
        "Compile a spec for a new run, submit exactly that artifact, record the run and print "
        "its id. Returns at once unless --wait.\n\nexamples:\n"
        "  nemorun launch configs/pretrain.yaml --target slurm\n"
        "  nemorun launch configs/quickstart.yaml 'optim.lr=0.01,0.02,0.03' --max-parallel 2",
    )
    _spec_and_overrides(p)
    _launch_options(p)
    p.add_argument(
        "--wait",
        action="store_true",
        help="stream the logs until the run ends (exit 1 if a job failed)",
    )
    return p


def _run_launch(ns: argparse.Namespace) -> int:
    from nemorun.launchers.launch import launch

    run = launch(ns.spec, ns.overrides, ns.target, max_parallel=ns.max_parallel)
    _launched(run)
    print(run.id, flush=True)
    if not ns.wait:
        print(f"follow it with: nemorun logs {run.id} -f", file=sys.stderr)
        return EXIT_OK
    return _follow(run, cancel_on_interrupt=False)


def _build_run() -> argparse.ArgumentParser:
    p = _parser(
        "run",
        "Run a spec on this machine and wait for it, its output streamed: 'launch --target "
        "local --wait'. Exits 1 if the task fails; Ctrl-C cancels the run.\n\n"
        "example: nemorun run configs/quickstart.yaml steps=20",
    )
    _spec_and_overrides(p)
    _launch_options(p, target=False)
    return p


def _run_run(ns: argparse.Namespace) -> int:
    from nemorun.launchers.launch import launch

    run = launch(ns.spec, ns.overrides, "local", max_parallel=ns.max_parallel)
    _launched(run)
    return _follow(run, cancel_on_interrupt=True)


def _launched(run: Run) -> None:
    _warn(run.warnings)
    jobs = run.record.jobs
    points = sum(len(j.points) for j in jobs)
    what = f"{len(jobs)} job{'s' * (len(jobs) != 1)}"
    if points != len(jobs):
        what += f", {points} points"
    print(f"nemorun: run {run.id} on {run.record.target} ({what})", file=sys.stderr, flush=True)


def _follow(run: Run, cancel_on_interrupt: bool) -> int:
    """Stream the run's output to its end; the exit code from its final state."""
    from nemorun.launchers.base import JobState, summarize
    from nemorun.launchers.launch import LogLine

    several_jobs = len(run.record.jobs) > 1
    display = _Display(sys.stderr, sum(len(j.points) for j in run.record.jobs))
    final: list[JobStatus] = []
    try:
        for event in run.watch():
            if isinstance(event, LogLine):
                prefix = f"[{event.job.task}] " if several_jobs else ""
                display.line(prefix + event.text)
            else:
                final = list(event.statuses)
                display.progress(event)
    except KeyboardInterrupt:
        display.done()
        if cancel_on_interrupt:
            run.cancel()
            print(f"nemorun: cancelled run {run.id}", file=sys.stderr)
        else:
            print(
                f"nemorun: stopped following; run {run.id} goes on (nemorun cancel {run.id})",
                file=sys.stderr,
            )
        return 130
    display.done()
    state = summarize([s.state for s in final])
    bad = [s for s in final if s.state is not JobState.COMPLETED]
    summary = f"nemorun: run {run.id} {state.value}"
    if bad:
        shown = "; ".join(_describe(s) for s in bad[:5])
        summary += f": {len(bad)} of {len(final)} not completed ({shown})"
    print(summary, file=sys.stderr)
    return EXIT_OK if state is JobState.COMPLETED else EXIT_FAILURE


def _describe(status: JobStatus) -> str:
    text = f"{status.id} {status.state.value}"
    return f"{text}, {status.reason}" if status.reason else text


class _Display:
    """Log lines on stdout; progress on stderr: one redrawn line on a terminal, else a plain
    line per state change."""

    def __init__(self, err: TextIO, points: int) -> None:
        self.err = err
        self.tty = err.isatty() and points > 1
        self.quiet = points == 1  # one job, one point: its output says it all
        self.points = points
        self.drawn = ""

    def line(self, text: str) -> None:
        self._clear()
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        self._draw()

    def progress(self, event: Progress) -> None:
        if self.quiet:
            return
        if not self.tty:
            for status in event.changed:
                print(f"nemorun: {_describe(status)}", file=self.err, flush=True)
            return
        counts = Counter(status.state.value for status in event.statuses)
        shown = " · ".join(f"{counts[s]} {s}" for s in PROGRESS_ORDER if counts[s])
        self._clear()
        self.drawn = f"[{shown}] of {self.points} points"
        self._draw()

    def done(self) -> None:
        if self.tty and self.drawn:
            self._clear()
            self.err.write(self.drawn + "\n")
            self.drawn = ""

    def _clear(self) -> None:
        if self.tty and self.drawn:
            self.err.write("\r\033[K")

    def _draw(self) -> None:
        if self.tty and self.drawn:
            self.err.write(self.drawn)
            self.err.flush()


# --- ls / status ------------------------------------------------------------------------------


def _build_ls() -> argparse.ArgumentParser:
    p = _parser(
        "ls",
        "List the recorded runs, newest first, with their current status.\n\n"
        "examples:\n  nemorun ls --status failed\n  nemorun ls --name pretrain --json",
    )
    p.add_argument("--name", help="only runs of this name")
    p.add_argument(
        "--status",
        choices=("pending", "running", "completed", "failed", "cancelled", "unknown"),
        help="only runs in this state",
    )
    p.add_argument("--target", "-t", help="only runs on this target")
    p.add_argument(
        "--json", action="store_true", help="a JSON list (id, name, target, created, status)"
    )
    return p


def _run_ls(ns: argparse.Namespace) -> int:
    from nemorun.launchers.records import list_records

    records = [
        r
        for r in list_records()
        if (ns.name is None or r.name == ns.name) and (ns.target is None or r.target == ns.target)
    ]
    unknown = _refresh(records)
    _warn_interrupted()

    def shown(r: Record) -> str:
        return "unknown" if r.id in unknown else r.status.value

    if ns.status is not None:
        records = [r for r in records if shown(r) == ns.status]
    if ns.json:
        print(json.dumps([{**r.summary(), "status": shown(r)} for r in records], indent=2))
        return EXIT_OK
    rows = [("ID", "NAME", "TARGET", "CREATED", "STATUS")]
    rows += [(r.id, r.name, r.target, r.created[:19] + "Z", shown(r)) for r in records]
    _table(rows)
    return EXIT_OK


def _warn_interrupted() -> None:
    """Say so when a launch died between submitting jobs and recording them (SIGKILL)."""
    from nemorun.launchers.records import interrupted_launches
    from nemorun.registry import stop_hint

    for launch in interrupted_launches():
        ids = " ".join(launch.job_ids)
        stop = stop_hint(launch.target, ids)
        _warn(
            [
                f"a launch was killed after submitting {launch.target} job(s) {ids} and before "
                f"recording them, so no run tracks them ({launch.dir}); if they are not "
                f"wanted: {stop}; then remove that directory"
            ]
        )


SCHEDULER_TIMEOUT = 15.0
"""Seconds a command waits, in all, for schedulers that do not answer (``ls``, ``status``);
``NEMORUN_SCHEDULER_TIMEOUT`` changes it."""


def _scheduler_deadline() -> float:
    try:
        budget = float(os.environ.get("NEMORUN_SCHEDULER_TIMEOUT", SCHEDULER_TIMEOUT))
    except ValueError:
        budget = SCHEDULER_TIMEOUT
    return time.monotonic() + max(budget, 0.1)


def _refresh(records: Sequence[Record]) -> set[str]:
    """Ask the targets about runs not known to have ended, within one deadline for the whole
    command; returns the ids of runs whose target did not answer (their records unchanged).
    A target that fails once is not asked again: one warning, not one wait per run."""
    from nemorun.launchers.launch import Run
    from nemorun.launchers.registry import load_target

    deadline = _scheduler_deadline()
    targets: dict[str, Target] = {}
    silent: dict[str, str] = {}
    unknown: set[str] = set()
    for record in records:
        if record.status.is_final():
            continue
        if record.target in silent:
            unknown.add(record.id)
            continue
        try:
            if record.target not in targets:
                targets[record.target] = load_target(record.target)
                targets[record.target].deadline = deadline
            Run(record, targets[record.target]).status()
        except Exception as exc:  # a target that cannot answer now: keep the state last seen
            silent[record.target] = str(exc) or type(exc).__name__
            unknown.add(record.id)
    for target, reason in silent.items():
        count = sum(1 for r in records if r.id in unknown and r.target == target)
        _warn(
            [
                f"the {target} scheduler did not answer ({reason}): {count} run(s) shown as "
                "unknown, their records unchanged"
            ]
        )
    return unknown


def _build_status() -> argparse.ArgumentParser:
    p = _parser(
        "status",
        "Show a run's state, per job and per sweep point (array element), with the "
        "scheduler's reason.\n\nexample: nemorun status pretrain",
    )
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("--json", action="store_true", help="the run and its jobs' states as JSON")
    return p


def _run_status(ns: argparse.Namespace) -> int:
    from nemorun.launchers.base import LaunchError, summarize
    from nemorun.launchers.launch import Run
    from nemorun.launchers.records import find_run, status_to_json
    from nemorun.launchers.registry import load_target

    record = find_run(ns.run)
    try:
        target = load_target(record.target)
        target.deadline = _scheduler_deadline()
        statuses = Run(record, target).status()
    except LaunchError as exc:
        print(f"warning: {exc}; showing the states last seen", file=sys.stderr)
        statuses = record.statuses
    state = summarize([s.state for s in statuses])
    if ns.json:
        body = {**record.summary(), "status": state.value}
        body["jobs"] = [status_to_json(s) for s in statuses]
        print(json.dumps(body, indent=2))
        return EXIT_OK
    print(
        f"run {record.id}  {record.name}  {record.target}  {state.value}  created {record.created}"
    )
    tasks = _task_of(record.jobs, statuses)
    several = len({j.task for j in record.jobs}) > 1
    rows = [("JOB", *(("TASK",) if several else ()), "POINT", "STATE", "REASON")]
    for status in statuses:
        point = "" if status.point is None else str(status.point)
        task = (tasks.get(status.id, ""),) if several else ()
        rows.append((status.id, *task, point, status.state.value, status.reason or ""))
    _table(rows)
    return EXIT_OK


def _task_of(jobs: Sequence[JobRef], statuses: Sequence[JobStatus]) -> dict[str, str]:
    out = {}
    for status in statuses:
        for job in jobs:
            if status.id == job.id or status.id.startswith(f"{job.id}_"):
                out[status.id] = job.task
                break
    return out


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


# --- logs / cancel ----------------------------------------------------------------------------


def _build_logs() -> argparse.ArgumentParser:
    p = _parser(
        "logs",
        "Print a run's output: every job's (a sweep's points each under a header), or one "
        "job's with --job.\n\nexamples:\n  nemorun logs quickstart\n"
        "  nemorun logs pretrain --job 2 -f     # point 2, followed",
    )
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    p.add_argument(
        "--job",
        metavar="N",
        help="one job: its id, a point id (1234_2), a point number or a task name",
    )
    return p


def _run_logs(ns: argparse.Namespace) -> int:
    from nemorun.launchers.launch import open_run

    run = open_run(ns.run)
    jobs = run.record.jobs
    if ns.job is not None:
        jobs = [_pick_job(jobs, ns.job)]
    if ns.follow and len(jobs) > 1:
        from nemorun.launchers.launch import LogLine

        for event in run.watch():
            if isinstance(event, LogLine):
                print(f"[{event.job.task}] {event.text}", flush=True)
        return EXIT_OK
    for job in jobs:
        if len(run.record.jobs) > 1 and ns.job is None:
            print(f"==> job {job.id} (task {job.task}) <==", flush=True)
        for _, line in run.logs(job, ns.follow):
            print(line, flush=ns.follow)
    return EXIT_OK


def _pick_job(jobs: Sequence[JobRef], wanted: str) -> JobRef:
    import dataclasses

    from nemorun.errors import SpecError

    for job in jobs:
        if wanted in (job.id, job.task):
            return job
    for job in jobs:
        prefix = f"{job.id}_"
        point = wanted[len(prefix) :] if wanted.startswith(prefix) else wanted
        if point.isdigit() and int(point) in job.points and (point != wanted or len(jobs) == 1):
            return dataclasses.replace(job, points=(int(point),))
    known = ", ".join(f"{j.id} ({j.task}, points {_span(j.points)})" for j in jobs)
    raise SpecError(f"the run has no job '{wanted}'", expected=known)


def _span(points: Sequence[int]) -> str:
    return f"{points[0]}-{points[-1]}" if len(points) > 1 else str(points[0])


def _build_cancel() -> argparse.ArgumentParser:
    p = _parser(
        "cancel",
        "Stop every job of a run that has not ended, or only some sweep points of it (the "
        "others go on).\n\nexamples:\n  nemorun cancel pretrain\n"
        "  nemorun cancel pretrain --point 2 --point 5",
    )
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument(
        "--point",
        type=int,
        action="append",
        metavar="N",
        help="only sweep point N (of every task that runs it); repeatable. "
        "Targets local, slurm and docker",
    )
    return p


def _run_cancel(ns: argparse.Namespace) -> int:
    from nemorun.launchers.base import summarize
    from nemorun.launchers.launch import open_run

    run = open_run(ns.run)
    if ns.point:
        statuses = run.cancel_points(ns.point)
        for status in statuses:
            if status.point in ns.point:
                print(f"{status.id}  point {status.point}: {status.state.value}")
        return EXIT_OK
    statuses = run.cancel()
    print(f"run {run.id}: {summarize([s.state for s in statuses]).value}")
    return EXIT_OK


# --- rerun / diff -----------------------------------------------------------------------------


def _build_rerun() -> argparse.ArgumentParser:
    p = _parser(
        "rerun",
        "Launch a recorded run again from its record alone (its copied spec files, overrides "
        "and target), from any directory; more overrides apply last.\n\nexamples:\n"
        "  nemorun rerun pretrain --failed\n  nemorun rerun 20261121-1015 steps=20",
    )
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("overrides", nargs="*", metavar="OVERRIDE", help="more overrides")
    p.add_argument(
        "--failed",
        action="store_true",
        help="only the points that did not complete: failed, cancelled, or never started "
        "(never submitted); points still pending or running are left alone",
    )
    p.add_argument("--wait", action="store_true", help="stream the logs until the run ends")
    return p


def _run_rerun(ns: argparse.Namespace) -> int:
    from nemorun.launchers.launch import rerun

    run = rerun(ns.run, ns.overrides, failed=ns.failed)
    _launched(run)
    print(run.id, flush=True)
    return _follow(run, cancel_on_interrupt=False) if ns.wait else EXIT_OK


def _build_diff() -> argparse.ArgumentParser:
    p = _parser(
        "diff",
        "Show what changed in the resolved spec between A and B, each a run or a spec file: "
        "the key paths that differ, then (with -u) a unified diff of the resolved YAML. "
        "Exits 0 either way.\n\nexamples:\n  nemorun diff pretrain configs/pretrain.yaml\n"
        "  nemorun diff 20261121-101500 20261121-1030 -u",
    )
    p.add_argument("a", metavar="A", help="a run or a spec file")
    p.add_argument("b", metavar="B", help="a run or a spec file")
    p.add_argument("-u", "--unified", action="store_true", help="also a unified diff of the YAML")
    return p


def _run_diff(ns: argparse.Namespace) -> int:
    from nemorun.launchers.compare import changes, side, unified

    a, b = side(ns.a), side(ns.b)
    found = changes(a.tree, b.tree)
    if not found:
        print(f"no difference in the resolved spec between {a.label} and {b.label}")
        return EXIT_OK
    for change in found:
        print(change.describe())
    if ns.unified:
        sys.stdout.write(unified(a, b))
    return EXIT_OK


RUN_COMMANDS: dict[str, tuple[Callable[[], argparse.ArgumentParser], Callable[..., int]]] = {
    "launch": (_build_launch, _run_launch),
    "run": (_build_run, _run_run),
    "ls": (_build_ls, _run_ls),
    "status": (_build_status, _run_status),
    "logs": (_build_logs, _run_logs),
    "cancel": (_build_cancel, _run_cancel),
    "rerun": (_build_rerun, _run_rerun),
    "diff": (_build_diff, _run_diff),
}
