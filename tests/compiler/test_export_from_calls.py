"""Exports are written from the validated call tree, without Fiddle, node for node as from the
Fiddle graph that runs: the same text for every format, sharing (within and across tasks)
included, and `run` records a run without importing Fiddle or libcst."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT
from test_export_sharing import tasks_spec

from nemorun.api import load
from nemorun.compiler.graph import spec_graphs
from nemorun.compiler.graphwriter import GraphWriter
from nemorun.errors import SpecErrors

SPECS = ["quickstart.yaml", "pretrain.yaml", "finetune.toml", "ddp.yaml"]
SHARED = """\
nemorun: 1
pythonpath: [{examples}]
task:
  _target_: trainlib:train
  model: {{hidden_size: 8, layers: 1}}
  optim: {{name: adam, lr: 0.5}}
  data: {{path: "${{oc.env:DATA_DIR,/data}}", batch_size: 4}}
  steps: 2
  tag: x
"""


def written(spec_path: Path, fmt: str, from_graph: bool) -> object:
    spec = load(spec_path)
    writer = GraphWriter(fmt)
    graphs = spec_graphs(spec) if from_graph else None
    try:
        return {
            name: writer.root(graphs[name] if graphs else task.call, task.path)
            for name, task in spec.tasks.items()
            if task.is_python()
        }
    except SpecErrors as exc:
        return str(exc)


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
@pytest.mark.parametrize("name", [*SPECS, "shared", "tasks", "tasks-shared"])
def test_calls_write_as_the_graph_does(tmp_path: Path, name: str, fmt: str) -> None:
    if name == "shared":
        path = tmp_path / "shared.yaml"
        path.write_text(SHARED.format(examples=EXAMPLES))
    elif name.startswith("tasks"):
        path = tasks_spec(tmp_path, 3, shared_model=name == "tasks-shared")
    else:
        path = ROOT / "configs" / name
    assert written(path, fmt, from_graph=False) == written(path, fmt, from_graph=True)


def test_run_records_without_fiddle_or_libcst(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from nemorun.api_runs import run\n"
        f"r = run({str(ROOT / 'configs' / 'quickstart.yaml')!r}, ['steps=2'])\n"
        "assert r.state().value == 'completed', r.state()\n"
        "assert (r.record.dir / 'resolved.yaml').read_text().startswith('nemorun: 1')\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'fiddle', 'libcst', 'hydra'})\n"
        "assert not heavy, heavy\n"
    )
    env = {"NEMORUN_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path)
