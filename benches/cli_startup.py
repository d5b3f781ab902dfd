"""Time whole ``nemorun`` processes, cold, as a user feels them (median of several runs).

    python benches/cli_startup.py [--runs 15] [--base DIR]

Prints one line per command: median, min and max wall time in seconds. With ``--base DIR``
(another checkout, e.g. ``git archive COMMIT | tar -x -C DIR``) every command also runs from
that tree, in turns with this one, and each line is followed by the base's and the ratio.
Goals from the issues: validate < 0.3 s on a 2-core machine (≤ 0.15 s on a quiet one);
validate with one plain override ≤ 1.2x validate without it.

Templates are cached in a temporary ``XDG_CACHE_HOME`` (warmed by the first run), as a
user's second command finds them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from timing import alternated, report, tree_env, trees

ROOT = Path(__file__).resolve().parent.parent
NEMORUN = [sys.executable, "-m", "nemorun.cli"]
VALIDATE = [*NEMORUN, "validate", "configs/quickstart.yaml"]

COMMANDS = {
    "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
    "import nemorun": [sys.executable, "-c", "import nemorun"],
    "validate configs/quickstart.yaml": VALIDATE,
    "validate configs/quickstart.yaml steps=10": [*VALIDATE, "steps=10"],
    "validate configs/quickstart.yaml model={hidden_size:16}": [
        *VALIDATE,
        "model={hidden_size:16}",
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
    "compile configs/quickstart.yaml --target slurm": [
        *NEMORUN,
        "compile",
        "configs/quickstart.yaml",
        "--target",
        "slurm",
    ],
}


def command(argv: list[str], tree: Path, env: dict[str, str]) -> Callable[[], object]:
    env = tree_env(env, tree)
    return lambda: subprocess.run(argv, cwd=tree, env=env, capture_output=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--base", help="another checkout to run side by side with this one")
    args = parser.parse_args()
    width = max(len(name) for name in COMMANDS) + 7
    cache = tempfile.mkdtemp(prefix="nemorun-bench-cache-")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0", "XDG_CACHE_HOME": cache}
    medians: dict[tuple[str, str], float] = {}
    try:
        for name, argv in COMMANDS.items():
            sides = trees(args.base, ROOT)
            actions = {side: command(argv, tree, env) for side, tree in sides.items()}
            samples = alternated(actions, args.runs)
            for side, taken in samples.items():
                medians[(name, side)] = statistics.median(taken)
                note = ""
                if side == "base":
                    note = f"  this/base {medians[(name, 'this')] / medians[(name, side)]:.2f}"
                report(f"{name} [{side}]", taken, width=width, note=note)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    plain, without = "validate configs/quickstart.yaml steps=10", "validate configs/quickstart.yaml"
    for side in trees(args.base, ROOT):
        ratio = medians[(plain, side)] / medians[(without, side)]
        verdict = "ok" if ratio <= 1.2 else "OVER"
        print(
            f"[{side}] validate with one plain override / without: {ratio:.2f}  {verdict} (≤ 1.2)"
        )


if __name__ == "__main__":
    main()
