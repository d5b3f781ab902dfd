"""Every goal for large sweeps, side by side in one run, as one table: goal, measured, verdict.

    python benches/sweeps.py [--repeat 1] [--limit 180] [--targets slurm,local] [--no-launch]

Rows (whole ``nemorun`` processes from this checkout, ``range()`` overrides on the quickstart
spec, written with ``-o DIR``; see ``benches/compile.py`` for how each is measured):

- ``compile --target slurm`` of 10 and of 1,000 points: 1,000 <= 0.35 s and <= 2x 10 points;
- every target, one axis of 10,000 and of 100,000 values, and a 1,000 x 100 grid:
  <= 1 s / <= 5 s / <= 5 s, peak RSS <= 150 MiB;
- the printed size of a 1,000-point SkyPilot sweep: <= 1 MB;
- ``launch --target slurm`` of 10,000 points on the marked test cluster (then cancelled):
  <= 3 s, with its scheduler calls counted (skipped without the cluster, or ``--no-launch``).

Wall time suffers from other work on a shared machine: CPU time is printed beside it (with a
verdict of its own: the goal read as CPU seconds), and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from compile import QUICKSTART, ROOT, Measured, best_of, launch, test_cluster_problem

TARGETS = ("local", "slurm", "docker", "skypilot", "ray", "kubernetes")
SIZES = {
    "10,000 points": (["optim.lr=range(1,10001)"], 1.0),
    "100,000 points": (["optim.lr=range(1,100001)"], 5.0),
    "1,000 x 100 grid": (["optim.lr=range(1,1001)", "steps=range(1,101)"], 5.0),
}
RSS_GOAL = 150.0


def row(work: str, goal: str, measured: str, ok: bool, cpu_ok: bool | None = None) -> None:
    verdict = "ok" if ok else "MISSED"
    if cpu_ok is not None:
        verdict += f", cpu {'ok' if cpu_ok else 'MISSED'}"
    print(f"| {work:<38} | {goal:<22} | {measured:<52} | {verdict} |", flush=True)


def compile_args(target: str, overrides: list[str], out: str) -> list[str]:
    return ["compile", QUICKSTART, "--target", target, "-o", out, *overrides]


def measured(m: Measured) -> str:
    return m.failed or f"{m.wall:.2f} s (cpu {m.cpu:.2f} s), {m.rss:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=1, help="the best of N runs a case")
    parser.add_argument("--limit", type=float, default=180.0, help="seconds per case")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--no-launch", action="store_true")
    args = parser.parse_args()
    out = tempfile.mkdtemp(prefix="nemorun-bench-")
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"| {'work':<38} | {'goal':<22} | {'measured (wall, cpu, peak RSS)':<52} | verdict |")
    print(f"|{'-' * 40}|{'-' * 24}|{'-' * 54}|---------|")

    def run(target: str, overrides: list[str], where: str = out) -> Measured:
        return best_of(ROOT, compile_args(target, overrides, where), args.limit, args.repeat)

    ten = run("slurm", ["optim.lr=range(1,11)"])
    thousand = run("slurm", ["optim.lr=range(1,1001)"])
    row("slurm, 10 points", "-", measured(ten), ten.failed is None)
    ok = thousand.wall <= 0.35 and thousand.wall <= 2 * ten.wall
    cpu_ok = thousand.cpu <= 0.35 and thousand.cpu <= 2 * ten.cpu
    ratio = f"{thousand.wall / ten.wall:.2f}x 10 points" if ten.wall else ""
    row("slurm, 1,000 points", "<= 0.35 s, <= 2x 10", f"{measured(thousand)}, {ratio}", ok, cpu_ok)
    for target in args.targets.split(","):
        for name, (overrides, goal) in SIZES.items():
            m = run(target, overrides, str(Path(out) / target))
            ok, cpu_ok = m.wall <= goal and m.rss <= RSS_GOAL, m.cpu <= goal and m.rss <= RSS_GOAL
            row(f"{target}, {name}", f"<= {goal:g} s, <= {RSS_GOAL:g} MiB", measured(m), ok, cpu_ok)
    sky = best_of(
        ROOT,
        ["compile", QUICKSTART, "--target", "skypilot", "optim.lr=range(1,1001)"],
        args.limit,
        args.repeat,
    )
    row("skypilot 1,000 points, output", "<= 1 MB", f"{sky.size / 1e6:.2f} MB", sky.size <= 1e6)
    problem = test_cluster_problem()
    if args.no_launch or problem is not None:
        row("launch --target slurm, 10,000", "<= 3 s", f"not run: {problem or '--no-launch'}", True)
    else:
        ok, samples, calls = launch(10_000, 1)
        row("launch --target slurm, 10,000", "<= 3 s", f"{samples[0]:.2f} s; {calls}", ok)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
