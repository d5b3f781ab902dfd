"""Time whole ``nemorun`` processes, cold, as a user feels them (median of several runs).

    python benches/cli_startup.py [--runs 15]

Prints one line per command: median, min and max wall time in seconds. Budgets from the
issues: validate < 0.3 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from timing import report, timed

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


def command(argv: list[str]) -> Callable[[], object]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}
    return lambda: subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    width = max(len(name) for name in COMMANDS)
    for name, argv in COMMANDS.items():
        run = command(argv)
        run()  # warm the disk cache
        report(name, timed(run, args.runs), width=width)


if __name__ == "__main__":
    main()
