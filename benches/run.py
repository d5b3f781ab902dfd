"""Time ``nemorun run`` of a trivial task end to end, and (with ``--sweep``) the launch of a
1,000-point sweep on the test Slurm cluster.

    python benches/run.py [--runs 7] [--check] [--sweep] [--base DIR]

(a) ``nemorun run`` of a trivial Python task (``trainlib:train`` for one step), as a whole
    process: load and validate, compile for the run, write the record, start the detached
    supervisor, run the task, stream its output, see it completed. Budget: 0.3 s on a quiet
    machine (NeMo-Run's ``LocalExecutor`` takes 3.8 s for the same on this machine). Shown
    beside it, for scale: the same with a ``command: true`` task, ``nemorun --version`` (the
    interpreter floor) and the generated entry run directly (what the task itself costs).
(b) ``--sweep``: ``nemorun launch`` of a 1,000-point sweep with ``--target slurm`` (one job
    array, one ``sbatch``), timed to the printed run id; the bench then cancels the run. Needs
    the test cluster (``tests/infra/slurm.sh start``); not part of CI.

With ``--base DIR`` (another checkout, e.g. ``git archive COMMIT | tar -x -C DIR``) the cases
of (a) also run from that tree, in turns with this one, each line followed by the base's and
the ratio (goal: ``run`` of the trivial task ≤ 0.5x the base's, ≤ 0.3 s on a quiet machine).

Records go to a temporary ``NEMORUN_HOME``, templates to a temporary ``XDG_CACHE_HOME``.
Prints median, min and max wall time in seconds per case and whether it is within budget;
``--check`` exits 1 when a median is over budget.
Timings on a shared 2-core machine are noisy: compare medians.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from timing import alternated, report, timed, tree_env, trees

ROOT = Path(__file__).resolve().parent.parent
NEMORUN = [sys.executable, "-m", "nemorun.cli"]
RUN_BUDGET = 0.3
SWEEP_BUDGET = 5.0

TRIVIAL = f"""\
nemorun: 1
name: trivial
pythonpath: [{ROOT / "examples"}]
task: {{_target_: trainlib:train, model: {{}}, optim: {{}}, steps: 1}}
"""
COMMAND = "nemorun: 1\nname: true\ntask: {command: 'true'}\n"


def process(args: Sequence[str], env: dict[str, str], tree: Path = ROOT) -> Callable[[], str]:
    env = tree_env(env, tree)

    def run() -> str:
        proc = subprocess.run([*args], cwd=tree, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed:\n{proc.stderr}")
        return proc.stdout

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--check", action="store_true", help="exit 1 when over a budget")
    parser.add_argument("--sweep", action="store_true", help="also a 1,000-point Slurm launch")
    parser.add_argument("--base", help="another checkout to run side by side with this one")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="nemorun-bench-"))
    env = {
        **os.environ,
        "NEMORUN_HOME": str(scratch / "home"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
        "PYTHONDONTWRITEBYTECODE": "0",
    }
    ok = True
    try:
        trivial = scratch / "trivial.yaml"
        trivial.write_text(TRIVIAL)
        command = scratch / "true.yaml"
        command.write_text(COMMAND)
        cases = {
            "nemorun run (trivial Python task)": ([*NEMORUN, "run", str(trivial)], RUN_BUDGET),
            "nemorun run (command: true)": ([*NEMORUN, "run", str(command)], None),
            "nemorun --version (interpreter floor)": ([*NEMORUN, "--version"], None),
        }
        sides = trees(args.base, ROOT)
        for name, (argv, budget) in cases.items():
            actions = {side: process(argv, env, tree) for side, tree in sides.items()}
            samples = alternated(actions, args.runs)
            for side, taken in samples.items():
                note = ""
                if side == "base":
                    ratio = statistics.median(samples["this"]) / statistics.median(taken)
                    note = f"  this/base {ratio:.2f}"
                within = report(f"{name} [{side}]", taken, budget if side == "this" else None,
                                note=note, width=50)  # fmt: skip
                ok &= within
        entry = next((scratch / "home" / "nemorun-runs").glob("*-trivial-*/artifacts/entry.py"))
        task_env = {**env, "PYTHONPATH": str(ROOT / "examples")}
        task = process([sys.executable, str(entry)], task_env)
        report("the task alone (python entry.py)", timed(task, args.runs), None, width=50)

        if args.sweep:
            ok &= sweep(env, args.runs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.check and not ok:
        raise SystemExit(1)


def sweep(env: dict[str, str], runs: int) -> bool:
    """``nemorun launch`` of 1,000 points on Slurm, timed to the run id; each run cancelled."""
    if shutil.which("sbatch") is None:
        print("--sweep: no sbatch here; start the test cluster with tests/infra/slurm.sh start")
        return True
    launch = [*NEMORUN, "launch", "configs/quickstart.yaml", "seed=range(0,1000)"]
    launch += ["--target", "slurm"]
    samples = []
    for _ in range(max(1, runs // 2)):
        start = time.perf_counter()
        run_id = process(launch, env)().strip()
        samples.append(time.perf_counter() - start)
        process([*NEMORUN, "cancel", run_id], env)()
    return report("nemorun launch, 1,000-point sweep on slurm", samples, SWEEP_BUDGET)


if __name__ == "__main__":
    main()
