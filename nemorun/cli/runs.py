"""The commands about recorded runs: ls, status, logs, cancel, diff. Each parses its
arguments, asks `nemorun.api_runs` (or `nemorun.api` for diff) and prints the answer: tables
and logs to stdout, warnings to stderr.

Exit codes: 0 ok; 1 the scheduler refused; 2 bad input (an unknown or ambiguous RUN).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.cli.common import EXIT_OK, RUN_HELP, Command, parser, table, warn

if TYPE_CHECKING:
    from nemorun.api_runs import RunInfo
    from nemorun.launchers.base import JobRef, JobStatus


# --- ls / status ------------------------------------------------------------------------------


def _build_ls() -> argparse.ArgumentParser:
    p = parser(
        "ls",
        "List the recorded runs, newest first, with their current status. On a terminal, "
        "the newest that fit on one screen; piped or with --json, all of them.\n\n"
        "examples:\n  nemorun ls --status failed\n  nemorun ls --name pretrain --json\n"
        "  nemorun ls --last 100",
    )
    p.add_argument("--name", help="only runs of this name")
    p.add_argument(
        "--status",
        choices=("pending", "running", "completed", "failed", "cancelled", "unknown"),
        help="only runs in this state",
    )
    p.add_argument("--target", "-t", help="only runs on this target")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--last", type=_count, metavar="N", help="only the newest N runs")
    shown.add_argument("--all", action="store_true", help="every run, even on a terminal")
    p.add_argument(
        "--json", action="store_true", help="a JSON list (id, name, target, created, status)"
    )
    return p


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of runs, 1 or more")
    return int(text)


def _ls_limit(ns: argparse.Namespace) -> int | None:
    """How many runs ``ls`` shows: ``--last``; else a screenful on a terminal (header and
    prompt aside, 10 at least) unless ``--all`` or ``--json``; else all."""
    if ns.last is not None:
        return int(ns.last)
    if ns.all or ns.json or not sys.stdout.isatty():
        return None
    import shutil

    return max(shutil.get_terminal_size().lines - 3, 10)


def _run_ls(ns: argparse.Namespace) -> int:
    from nemorun import api_runs

    limit = _ls_limit(ns)
    found = api_runs.runs(
        name=ns.name,
        status=ns.status,
        target=ns.target,
        last=None if limit is None else limit + 1,  # one more says whether there are more
    )
    warn(found.warnings)
    shown = list(found)[:limit]
    if limit is not None and len(found) > limit:
        print(
            f"note: the newest {limit} runs; older ones: nemorun ls --last N, or --all",
            file=sys.stderr,
        )
    if ns.json:
        print(json.dumps([r.summary() for r in shown], indent=2))
        return EXIT_OK
    rows = [("ID", "NAME", "TARGET", "CREATED", "STATUS")]
    rows += [(r.id, r.name, r.target, r.created[:19] + "Z", _shown(r)) for r in shown]
    table(rows)
    return EXIT_OK


def _shown(run: RunInfo) -> str:
    """A run's status as ``ls`` shows it: ``running (attempt 2/4)`` past a first attempt."""
    return f"{run.status} ({run.attempt})" if run.attempt else run.status


def _build_status() -> argparse.ArgumentParser:
    p = parser(
        "status",
        "Show a run's state, per job and per sweep point (array element), with the "
        "scheduler's reason.\n\nexample: nemorun status pretrain",
    )
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("--json", action="store_true", help="the run and its jobs' states as JSON")
    return p


def _run_status(ns: argparse.Namespace) -> int:
    from nemorun import api_runs

    found = api_runs.status(ns.run)
    if found.stale is not None:
        print(f"warning: {found.stale}; showing the states last seen", file=sys.stderr)
    if ns.json:
        print(json.dumps(found.to_json(), indent=2))
        return EXIT_OK
    record, statuses, state = found.record, found.jobs, found.state
    print(
        f"run {record.id}  {record.name}  {record.target}  {state.value}  created {record.created}"
    )
    tasks = _task_of(record.jobs, statuses)
    several = len({j.task for j in record.jobs}) > 1
    tried = any(s.attempts for s in statuses)  # a resilience policy: say the attempts
    rows = [("JOB", *(("TASK",) if several else ()), "POINT", "STATE")]
    rows[0] += (*(("ATTEMPT",) if tried else ()), "REASON")
    for status in statuses:
        point = "" if status.point is None else str(status.point)
        task = (tasks.get(status.id, ""),) if several else ()
        attempt = (f"{status.attempt or ''}/{status.attempts or ''}",) if tried else ()
        row = (status.id, *task, point, status.state.value, *attempt, status.reason or "")
        rows.append(row)
    table(rows)
    return EXIT_OK


def _task_of(jobs: Sequence[JobRef], statuses: Sequence[JobStatus]) -> dict[str, str]:
    out = {}
    for status in statuses:
        for job in jobs:
            if status.id == job.id or status.id.startswith(f"{job.id}_"):
                out[status.id] = job.task
                break
    return out


# --- logs / cancel ----------------------------------------------------------------------------


def _build_logs() -> argparse.ArgumentParser:
    p = parser(
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
    from nemorun import api_runs

    run = api_runs.open_run(ns.run)
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
    p = parser(
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
    from nemorun import api_runs
    from nemorun.launchers.base import summarize

    run = api_runs.open_run(ns.run)
    if ns.point:
        statuses = run.cancel_points(ns.point)
        for status in statuses:
            if status.point in ns.point:
                print(f"{status.id}  point {status.point}: {status.state.value}")
        return EXIT_OK
    statuses = run.cancel()
    print(f"run {run.id}: {summarize([s.state for s in statuses]).value}")
    return EXIT_OK


# --- diff -------------------------------------------------------------------------------------


def _build_diff() -> argparse.ArgumentParser:
    p = parser(
        "diff",
        "Show what changed in the resolved spec between A and B, each a run or a spec file: "
        "the key paths that differ, then (with -u) a unified diff of the resolved YAML. "
        "Exits 0 either way. With --svg, also a picture of both Fiddle graphs side by side, "
        "the changed values coloured.\n\nexamples:\n"
        "  nemorun diff pretrain configs/pretrain.yaml\n"
        "  nemorun diff 20261121-101500 20261121-1030 -u\n"
        "  nemorun diff configs/quickstart.yaml configs/pretrain.yaml --svg changes.svg",
    )
    p.add_argument("a", metavar="A", help="a run or a spec file")
    p.add_argument("b", metavar="B", help="a run or a spec file")
    p.add_argument("-u", "--unified", action="store_true", help="also a unified diff of the YAML")
    p.add_argument(
        "--svg",
        type=Path,
        metavar="FILE",
        help="also draw both graphs in FILE (.svg, .png, or .dot: no Graphviz needed)",
    )
    return p


def _run_diff(ns: argparse.Namespace) -> int:
    from nemorun import api

    if ns.svg is not None:
        from nemorun.cli.pictures import picture_format

        picture_format(ns.svg)  # a wrong name is refused before anything is loaded
    found = api.diff(ns.a, ns.b)
    if not found.changes:
        print(f"no difference in the resolved spec between {found.a.label} and {found.b.label}")
    for change in found.changes:
        print(change.describe())
    if ns.unified and found.changes:
        sys.stdout.write(found.unified())
    if ns.svg is not None:
        from nemorun.cli.pictures import diff_picture, write_picture

        return write_picture(diff_picture(found, ns.a, ns.b), ns.svg)
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "ls": (_build_ls, _run_ls),
    "status": (_build_status, _run_status),
    "logs": (_build_logs, _run_logs),
    "cancel": (_build_cancel, _run_cancel),
    "diff": (_build_diff, _run_diff),
}
