"""Time ``nemorun fmt``: the in-process rewrite of a small and of a large spec, and a whole
``nemorun fmt --check`` process over the example specs (what a pre-commit hook pays).

    python benches/fmt.py [--runs 7] [--check]

(a) ``format_spec`` on configs/quickstart.yaml, and on specs of ~550 and ~2,200 lines (nested
    arguments, comments, a merged anchor), warm: the rewrite plus the two loads that check it.
    ruamel.yaml's round-trip scanner is pure Python (its C scanner drops comments), ~2 ms a
    line. Budgets: 0.05 s, 1.5 s, none.
(b) One cold ``nemorun fmt --check`` process over the example specs, beside a cold
    ``nemorun --version`` (the interpreter and nemorun's own start). Budget: 1 s more than
    that start (ruamel.yaml, imported only by ``fmt``, and five files).

Prints median, min and max wall time per case; ``--check`` exits 1 when a median is over its
budget. The machine is shared: compare medians, and rerun when another job was busy.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from timing import report, timed

ROOT = Path(__file__).resolve().parent.parent


def large_spec(blocks: int = 200) -> str:
    lines = ["# A large spec.", "nemorun: 1", "task:", "  _target_: m:f", "  base: &base"]
    lines += ["    lr: 1.0e-3", "    name: 'adam'"]
    for i in range(blocks):
        lines += [f"  # block {i}", f"  block{i}:", "    <<: *base"]
        lines += [f"    key{j}: {j}  # note {j}" for j in range(8)]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from nemorun.schemas.canonical import format_spec

    quick = ROOT / "configs" / "quickstart.yaml"
    text = quick.read_text()
    format_spec(text, quick, "quickstart.yaml")  # imports
    ok = report(
        "format_spec quickstart.yaml (warm)",
        timed(lambda: format_spec(text, quick, "quickstart.yaml"), args.runs),
        0.05,
    )
    for blocks, budget in ((50, 1.5), (200, None)):
        big = large_spec(blocks)
        ok &= report(
            f"format_spec {big.count(chr(10))}-line spec (warm)",
            timed(lambda big=big: format_spec(big, Path("big.yaml"), "big.yaml"), args.runs),
            budget,
        )
    nemorun = [sys.executable, "-m", "nemorun.cli"]
    start = statistics.median(
        timed(
            lambda: subprocess.run(
                [*nemorun, "--version"], cwd=ROOT, check=True, capture_output=True, timeout=60
            ),
            args.runs,
        )
    )
    report("nemorun --version (cold)", [start])
    specs = sorted(str(p) for p in (ROOT / "configs").iterdir() if p.is_file())
    command = [*nemorun, "fmt", "--check", *specs]
    ok &= report(
        f"nemorun fmt --check ({len(specs)} specs, cold)",
        timed(lambda: subprocess.run(command, cwd=ROOT, check=True, timeout=60), args.runs),
        start + 1.0,
    )
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
