"""Time ``nemorun ls`` and ``nemorun status NAME`` with 10 and with 10,000 recorded runs, for
this tree and a base commit side by side, in one run.

    python benches/ls.py [--runs 5] [--base REV] [--check]

The bench writes synthetic records (completed local runs: ``run.json``, ``state.json``,
``tasks.json`` and an exit status, as a launch leaves them) into a temporary ``NEMORUN_HOME``,
then times whole processes (``python -m nemorun.cli``), each tree on ``PYTHONPATH`` (the base
commit extracted with ``git archive``; default: where this branch left ``main``).

- ``ls``: what a terminal shows, the newest 24 runs (``--last 24``; the base, which has no
  ``--last``, lists them all), and ``ls --json`` piped (every run, both trees);
- ``status NAME``: the newest run of a name, an old one so that a scan would be the cost;
- ``nemorun --version``: the interpreter floor, for scale.

Goals: ``ls`` (a screenful) and ``status NAME`` at 10,000 runs ≤ 0.3 s and ≤ 1.5 times the
10-run figure. ``--check`` exits 1 when this tree misses them. Timings on a shared 2-core
machine are noisy: compare medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from timing import report, timed

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10, 10_000)
BUDGET = 0.3
RATIO = 1.5
T0 = datetime(2026, 11, 21, 10, 15, tzinfo=timezone.utc)


def write_runs(root: Path, count: int) -> None:
    """``count`` completed local runs, one a second; the oldest is named ``target``."""
    for i in range(count):
        moment = T0 + timedelta(seconds=i)
        name = "target" if i == 0 else f"exp{i % 50}"
        run_id = f"{moment:%Y%m%d-%H%M%S}-{name}-{i:06x}"
        run = root / run_id
        (run / "artifacts").mkdir(parents=True)
        (run / "logs").mkdir()
        logs = {
            "output": f"{run}/logs/task.{{point}}.log",
            "status": f"{run}/logs/task.{{point}}.exit",
        }
        task = {"name": "task", "target": "local", "mains": ["task.sh"], "points": 1, "logs": logs}
        (run / "artifacts" / "tasks.json").write_text(
            json.dumps({"nemorun_tasks": 1, "tasks": [task]})
        )
        (run / "logs" / "task.0.exit").write_text("0\n")
        (run / "logs" / "task.0.log").write_text("done\n")
        job = {"id": "4242", "task": "task", "points": [0], "log": f"{run}/logs/task.0.log"}
        job["extra"] = {"pid": 4242, "host": "another-machine"}
        record = {"nemorun_run": 1, "id": run_id, "name": name, "target": "local"}
        record.update(created=moment.isoformat().replace("+00:00", "Z"), jobs=[job])
        (run / "run.json").write_text(json.dumps(record))
        state = {"status": "completed", "jobs": [{"id": "4242", "state": "completed"}]}
        (run / "state.json").write_text(json.dumps(state))


def base_tree(rev: str, into: Path) -> Path:
    """The ``nemorun`` package of ``rev``, extracted under ``into``."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "nemorun"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def command(tree: Path, home: Path, cwd: Path, *args: str) -> Callable[[], None]:
    env = {**os.environ, "PYTHONPATH": str(tree), "NEMORUN_HOME": str(home)}

    def run() -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "nemorun.cli", *args], cwd=cwd, env=env, capture_output=True
        )
        if proc.returncode != 0:
            raise SystemExit(f"{tree}: nemorun {' '.join(args)} failed:\n{proc.stderr.decode()}")

    return run


GOALS = ("ls (a screenful)", "status NAME (the oldest run)")


def cases(new: bool) -> dict[str, list[str]]:
    """The commands timed, for this tree (``new``) or the base."""
    return {
        "nemorun --version (the floor)": ["--version"],
        "ls (a screenful)": ["ls", "--last", "24"] if new else ["ls"],
        "ls --json (every run)": ["ls", "--json"],
        "status NAME (the oldest run)": ["status", "target"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--base", help="the commit to compare with (default: merge-base with main)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args()
    rev = (
        args.base
        or subprocess.run(
            ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    scratch = Path(tempfile.mkdtemp(prefix="nemorun-bench-ls-"))
    ok = True
    try:
        trees = {"this tree": ROOT, f"base {rev[:9]}": base_tree(rev, scratch / "base")}
        medians: dict[tuple[str, str, int], float] = {}
        for size in SIZES:
            home = scratch / f"home-{size}"
            write_runs(home / "nemorun-runs", size)
            actions = {
                (label, case, size): command(tree, home, scratch, *argv)
                for label, tree in trees.items()
                for case, argv in cases(tree == ROOT).items()
            }
            samples: dict[tuple[str, str, int], list[float]] = {key: [] for key in actions}
            for action in actions.values():
                action()  # warm the disk cache
            for _ in range(args.runs):  # interleaved: a busy moment slows every case alike
                for key, action in actions.items():
                    samples[key] += timed(action, 1)
            for (label, case, _), times in samples.items():
                medians[(label, case, size)] = statistics.median(times)
                goal = BUDGET if label == "this tree" and case in GOALS else None
                ok &= report(f"{label}: {case}, {size:,} runs", times, goal, width=58)
        for case in GOALS:
            small, large = (medians[("this tree", case, n)] for n in SIZES)
            within = large <= RATIO * small
            ok &= within
            print(
                f"this tree: {case}: {SIZES[-1]:,} runs / {SIZES[0]} runs = {large / small:.2f}x  "
                f"{'ok' if within else 'OVER'} (goal {RATIO}x)"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.check and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
