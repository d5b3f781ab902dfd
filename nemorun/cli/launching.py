"""The commands that start runs: launch, run, rerun. Each parses its arguments, calls
`nemorun.api_runs` and prints the run's id; ``run``, ``--wait`` and ``rerun --wait`` then
follow it to its end.

Log lines go to stdout, the run's progress to stderr: on a terminal, waiting on a sweep shows
one progress line that redraws itself; otherwise (a pipe, CI) a plain line per state change.
Exit codes: 0 ok; 1 a job failed (``run``, ``--wait``) or the scheduler refused; 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from nemorun.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    RUN_HELP,
    Command,
    cluster_option,
    parser,
    spec_and_overrides,
    use_cluster,
    warn,
)

if TYPE_CHECKING:
    from nemorun.launchers.base import JobStatus
    from nemorun.launchers.launch import Progress, Run

TARGETS_HELP = "where it runs (default: the spec's executor.target, else local)"
PROGRESS_ORDER = ("completed", "skipped", "failed", "cancelled", "running", "pending", "unknown")


def _launch_options(p: argparse.ArgumentParser, target: bool = True) -> None:
    if target:
        p.add_argument("--target", "-t", metavar="T", help=TARGETS_HELP)
        cluster_option(p)
    p.add_argument(
        "--max-parallel",
        type=int,
        metavar="N",
        help="run at most N sweep points at once (local: executor.max_parallel; "
        "slurm: executor.array_parallelism)",
    )


# --- launch / run -----------------------------------------------------------------------------


def _build_launch() -> argparse.ArgumentParser:
    p = parser(
        "launch",
        "Compile a spec for a new run, submit exactly that artifact, record the run and print "
        "its id. Returns at once unless --wait.\n\nexamples:\n"
        "  nemorun launch configs/pretrain.yaml --target slurm\n"
        "  nemorun launch configs/quickstart.yaml 'optim.lr=0.01,0.02,0.03' --max-parallel 2",
    )
    spec_and_overrides(p)
    _launch_options(p)
    p.add_argument(
        "--wait",
        action="store_true",
        help="stream the logs until the run ends (exit 1 if a job failed)",
    )
    p.add_argument(
        "--no-preflight",
        dest="preflight",
        action="store_false",
        help="submit without asking the scheduler first (see: nemorun check)",
    )
    return p


def _run_launch(ns: argparse.Namespace) -> int:
    from nemorun import api_runs

    use_cluster(ns)
    run = api_runs.launch(
        ns.spec,
        ns.overrides,
        ns.target,
        max_parallel=ns.max_parallel,
        preflight=ns.preflight,
        notes=_note,
    )
    _launched(run)
    print(run.id, flush=True)
    if not ns.wait:
        print(f"follow it with: nemorun logs {run.id} -f", file=sys.stderr)
        return EXIT_OK
    return _follow(run, cancel_on_interrupt=False)


def _build_run() -> argparse.ArgumentParser:
    p = parser(
        "run",
        "Run a spec on this machine and wait for it, its output streamed: 'launch --target "
        "local --wait'. Exits 1 if the task fails; Ctrl-C cancels the run.\n\n"
        "example: nemorun run configs/quickstart.yaml steps=20",
    )
    spec_and_overrides(p)
    _launch_options(p, target=False)
    return p


def _run_run(ns: argparse.Namespace) -> int:
    from nemorun import api_runs

    run = api_runs.run(ns.spec, ns.overrides, max_parallel=ns.max_parallel, wait=False)
    _launched(run)
    return _follow(run, cancel_on_interrupt=True)


def _note(text: str) -> None:
    print(f"nemorun: {text}", file=sys.stderr, flush=True)


def _launched(run: Run) -> None:
    warn(run.warnings)
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
    display = Display(sys.stderr, sum(len(j.points) for j in run.record.jobs))
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
    bad = [s for s in final if s.state not in (JobState.COMPLETED, JobState.SKIPPED)]
    summary = f"nemorun: run {run.id} {state.value}"
    if bad:
        shown = "; ".join(_describe(s) for s in bad[:5])
        summary += f": {len(bad)} of {len(final)} not completed ({shown})"
    skipped = [s for s in final if s.state is JobState.SKIPPED]
    if skipped:
        shown = "; ".join(_describe(s) for s in skipped[:5])
        summary += f"{';' if bad else ':'} {len(skipped)} skipped ({shown})"
    print(summary, file=sys.stderr)
    return EXIT_OK if state is JobState.COMPLETED else EXIT_FAILURE


def _describe(status: JobStatus) -> str:
    text = f"{status.id} {status.state.value}"
    return f"{text}, {status.reason}" if status.reason else text


class Display:
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


# --- check ---------------------------------------------------------------------------------


def _build_check() -> argparse.ArgumentParser:
    p = parser(
        "check",
        "Everything launch does before submitting, and nothing after: compile the spec and ask "
        "the live scheduler whether it would take it (Slurm: partition, account, QOS and GPUs "
        "against the cluster, with did-you-mean; then sbatch --test-only for the start "
        "estimate). Nothing is recorded or submitted. Exit 2 for what the scheduler would "
        "refuse (located in the spec), 1 when it cannot be asked.\n\nexample: nemorun check "
        "configs/pretrain.yaml --target slurm",
    )
    spec_and_overrides(p)
    p.add_argument("--target", "-t", metavar="T", help=TARGETS_HELP)
    cluster_option(p)
    return p


def _run_check(ns: argparse.Namespace) -> int:
    from nemorun import api_runs

    use_cluster(ns)
    target, notes = api_runs.check(ns.spec, ns.overrides, ns.target)
    for note in notes:
        print(note)
    said = "would take it" if notes else "has nothing to check before submitting"
    print(f"nemorun: ok: {ns.spec}: {target} {said}", file=sys.stderr)
    return EXIT_OK


# --- rerun -----------------------------------------------------------------------------


def _build_rerun() -> argparse.ArgumentParser:
    p = parser(
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
    from nemorun import api_runs

    run = api_runs.rerun(ns.run, ns.overrides, failed=ns.failed)
    _launched(run)
    print(run.id, flush=True)
    return _follow(run, cancel_on_interrupt=False) if ns.wait else EXIT_OK


COMMANDS: dict[str, Command] = {
    "launch": (_build_launch, _run_launch),
    "check": (_build_check, _run_check),
    "run": (_build_run, _run_run),
    "rerun": (_build_rerun, _run_rerun),
}
