"""Time whole ``nemorun`` processes, cold, as a user feels them (median of several runs).

    python benches/cli_startup.py [--runs 15]

Prints one line per command: median, min and max wall time in seconds. Budgets from the
issues: validate < 0.3 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEMORUN = [sys.executable, "-m", "nemorun.cli"]

COMMANDS = {
    "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
    "import nemorun": [sys.executable, "-c", "import nemorun"],
    "validate configs/quickstart.yaml": [*NEMORUN, "validate", "configs/quickstart.yaml"],
    "validate configs/quickstart.yaml steps=10": [
        *NEMORUN,
        "validate",
        "configs/quickstart.yaml",
        "steps=10",
    ],
    "export configs/quickstart.yaml --format python": [
        *NEMORUN,
        "export",
        "configs/quickstart.yaml",
        "--format",
        "python",
    ],
    "export configs/finetune.toml --format yaml": [
        *NEMORUN,
        "export",
        "configs/finetune.toml",
        "--format",
        "yaml",
    ],
}


def time_command(argv: list[str], runs: int) -> list[float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)  # warm the disk
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    width = max(len(name) for name in COMMANDS)
    for name, argv in COMMANDS.items():
        samples = time_command(argv, args.runs)
        print(
            f"{name:<{width}}  median {statistics.median(samples):.3f} s"
            f"  (min {min(samples):.3f}, max {max(samples):.3f}, n={len(samples)})"
        )


if __name__ == "__main__":
    main()
