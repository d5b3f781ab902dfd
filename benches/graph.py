"""Time ``nemorun graph`` (a whole process, printing DOT) and Graphviz's ``dot`` drawing that
DOT as SVG, on ``configs/pretrain.yaml`` and on a chain of 100 tasks, each run after the one
before, all sharing one model (201 boxes): the shape that once took ``dot`` minutes, when the
``after:`` arrows ranked the boxes.

    python benches/graph.py [--runs 3]

Without ``dot`` on the PATH only the DOT is timed. Goal: the 100-task SVG in under 2 s.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import report, timed

ROOT = Path(__file__).resolve().parent.parent
NEMORUN = [sys.executable, "-m", "nemorun.cli"]
TASKS = 100


def chain_spec(directory: Path) -> Path:
    """``TASKS`` train tasks in a chain of ``after:``, sharing one model (a YAML alias)."""
    lines = ["nemorun: 1", f"pythonpath: [{ROOT / 'examples'}]", "tasks:"]
    for i in range(TASKS):
        model = "&model {hidden_size: 8, layers: 1}" if i == 0 else "*model"
        task = f"{{_target_: trainlib:train, model: {model}, optim: {{lr: 0.{i + 1}}}}}"
        lines += [f"  t{i}:", f"    task: {task}"]
        if i:
            lines.append(f"    after: [t{i - 1}]")
    path = directory / "chain.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    dot = shutil.which("dot")
    within = True
    with tempfile.TemporaryDirectory() as tmp:
        specs = {"pretrain": ROOT / "configs" / "pretrain.yaml", "100 tasks": chain_spec(Path(tmp))}
        for name, spec in specs.items():
            command = [*NEMORUN, "graph", str(spec)]
            text = subprocess.run(command, capture_output=True, check=True, cwd=ROOT).stdout

            def graph(command: list[str] = command) -> object:
                return subprocess.run(command, capture_output=True, check=True, cwd=ROOT)

            report(f"nemorun graph {name} (DOT)", timed(graph, runs))
            if dot is None:
                print("dot is not installed: SVG not timed (apt-get install graphviz)")
                continue

            def draw(text: bytes = text) -> object:
                return subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, check=True)

            budget = 2.0 if name == "100 tasks" else None
            within = report(f"dot -Tsvg {name}", timed(draw, runs), budget) and within
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
