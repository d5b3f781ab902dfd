"""Time ``nemorun compile --target slurm``: a 1,000-point sweep, and one cold small compile.

    python benches/compile.py [--runs 7] [--check]

(a) A 1,000-point sweep compiled for Slurm (one sbatch script, ``--array=0-999``), two shapes:
    a 10x10x10 product of three override axes, and a single 1,000-value axis. Timed in-process
    (``load_for_target`` + ``compile_spec``; the first run pays the imports, then the median of
    warm runs) and as a whole ``nemorun compile`` process. Budget: under 1 s (NeMo-Run needs
    49 s for 1,000 dry-run tasks on this machine kind).
(b) One cold ``nemorun compile configs/quickstart.yaml --target slurm`` process. Budget: 0.35 s
    (importing fiddle, libcst, jinja2 and yaml alone takes 0.27 s; NeMo-Run's dry run 1.87 s).

(c) ``--scale``: whole ``nemorun compile -o DIR`` processes of 10 / 1,000 / 10,000 / 20,000 /
    100,000 points (one axis, and a 1,000 x 100 grid) for each of ``--targets`` (default
    slurm; ``--case NAME`` picks cases), wall time, peak RSS and bytes written of one run each,
    and the size of a 1,000- and a 2,000-point SkyPilot output. ``--base DIR`` runs the same
    cases with another checkout's nemorun (``git worktree add DIR BASE``) side by side; a case
    over ``--limit`` seconds is stopped and reported as such. Goals: 1,000 points <= 0.35 s and
    <= 2x 10 points, 10,000 <= 1 s, 100,000 <= 5 s, peak RSS <= 150 MiB, SkyPilot <= 1 MB.

Prints median, min and max wall time in seconds per case, and whether it is within budget;
``--check`` exits 1 when a median is over its budget. Timings on a shared 2-core machine are
noisy: compare medians, and rerun when another job was busy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from timing import report, timed

ROOT = Path(__file__).resolve().parent.parent
NEMORUN = [sys.executable, "-m", "nemorun.cli"]
QUICKSTART = "configs/quickstart.yaml"
SWEEPS = {
    "10x10x10 sweep": [
        "optim.lr=range(1,11)",
        "steps=range(1,11)",
        "model.hidden_size=range(1,11)",
    ],
    "1x1000 sweep": ["optim.lr=range(1,1001)"],
}
SWEEP_BUDGET = 1.0
COLD_BUDGET = 0.35


def process(args: Sequence[str]) -> Callable[[], object]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}

    def run() -> object:
        proc = subprocess.run([*NEMORUN, *args], cwd=ROOT, env=env, capture_output=True)
        if proc.returncode != 0:
            raise SystemExit(f"nemorun {' '.join(args)} failed:\n{proc.stderr.decode()}")
        return proc

    return run


def in_process(overrides: Sequence[str]) -> Callable[[], object]:
    def run() -> object:
        from nemorun.api import load_for_target
        from nemorun.compiler.driver import compile_spec

        spec, warnings = load_for_target(ROOT / QUICKSTART, overrides, "slurm")
        artifacts = compile_spec(spec, warnings=warnings)
        assert "#SBATCH --array=0-999\n" in artifacts.main.text
        return artifacts

    return run


SCALE = {
    "10 points": ["optim.lr=range(1,11)"],
    "1,000 points": ["optim.lr=range(1,1001)"],
    "10,000 points": ["optim.lr=range(1,10001)"],
    "20,000 points": ["optim.lr=range(1,20001)"],
    "100,000 points": ["optim.lr=range(1,100001)"],
    "1,000 x 100 grid": ["optim.lr=range(1,1001)", "steps=range(1,101)"],
}


def measure(checkout: Path, args: Sequence[str], limit: float) -> tuple[str, int]:
    """One whole ``nemorun`` process run from ``checkout``: a ``wall s, RSS MiB`` line (or why
    it ended) and the bytes it printed."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "0"}
    start = time.perf_counter()
    timer = ["/usr/bin/time", "-f", "peak-rss-kib %M"]  # this process's own peak, unlike getrusage
    proc = subprocess.Popen(
        [*timer, *NEMORUN, *args],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return f"stopped after {limit:g} s", 0
    wall = time.perf_counter() - start
    lines = [
        line
        for line in err.decode(errors="replace").strip().splitlines()
        if not line.startswith("Command exited")  # /usr/bin/time's own note
    ]
    rss = int(lines.pop().split()[-1]) / 1024 if lines and lines[-1].startswith("peak-rss") else 0
    if proc.returncode != 0:
        last = lines[-1:] or ["?"]
        return f"exit {proc.returncode} after {wall:.2f} s: {last[0][:70]}", 0
    return f"{wall:6.2f} s  peak RSS {rss:5.0f} MiB", len(out)


def scale(
    checkouts: dict[str, Path], limit: float, targets: Sequence[str], cases: Sequence[str]
) -> None:
    """Each case of `SCALE` (those named in ``cases``, else all) for each target and checkout
    in turn, with the bytes it wrote (into a fresh directory: Slurm sweeps over 1,001 points
    are split into several scripts), then the SkyPilot output of 1,000 and 2,000 points as
    printed on stdout."""
    for name, overrides in SCALE.items():
        if cases and name not in cases:
            continue
        for target in targets:
            for label, checkout in checkouts.items():
                out = Path(tempfile.mkdtemp(prefix="nemorun-bench-"))
                args = ["compile", QUICKSTART, "--target", target, "-o", str(out), *overrides]
                line, _ = measure(checkout, args, limit)
                size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
                shutil.rmtree(out)
                print(f"{name:<18} {target:<8} {label:<6} {line}  wrote {size / 1e6:6.2f} MB")
    for points in (1_000, 2_000):
        for label, checkout in checkouts.items():
            args = [
                "compile",
                QUICKSTART,
                "--target",
                "skypilot",
                f"optim.lr=range(1,{points + 1})",
            ]
            line, size = measure(checkout, args, limit)
            print(f"skypilot {points:,}     {label:<6} {line}  output {size / 1e6:.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--check", action="store_true", help="exit 1 when over a budget")
    parser.add_argument("--scale", action="store_true", help="the sweep sizes (c) only")
    parser.add_argument("--base", type=Path, help="a checkout of the base commit, for (c)")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds per case in (c)")
    parser.add_argument(
        "--targets", default="slurm", help="comma-separated targets for (c) (default: slurm)"
    )
    parser.add_argument("--case", action="append", default=[], help="only this case of (c)")
    args = parser.parse_args()
    if args.scale:
        checkouts = {"this": ROOT, **({"base": args.base.resolve()} if args.base else {})}
        scale(checkouts, args.limit, args.targets.split(","), args.case)
        return
    ok = True
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)  # the spec's pythonpath and the overrides' paths are read from here

    for n, (name, overrides) in enumerate(SWEEPS.items()):
        first = timed(in_process(overrides), 1)[0]
        samples = timed(in_process(overrides), args.runs)
        note = f"; first call {first:.3f} s" + (" (imports included)" if n == 0 else "")
        ok &= report(f"{name}, in-process (warm)", samples, SWEEP_BUDGET, note)
    for name, overrides in SWEEPS.items():
        run = process(["compile", QUICKSTART, "--target", "slurm", *overrides])
        run()  # warm the disk cache
        ok &= report(f"{name}, whole process", timed(run, args.runs), SWEEP_BUDGET)
    cold = process(["compile", QUICKSTART, "--target", "slurm"])
    cold()
    ok &= report("compile quickstart --target slurm (cold)", timed(cold, args.runs), COLD_BUDGET)
    floor = process(["--version"])
    report("nemorun --version (interpreter + nemorun floor)", timed(floor, args.runs), None)
    if args.check and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
