"""Sweeps and interpolation: every point resolves its interpolations against its own values,
in the compiled entry, in exports that are loaded again, and in multi-task specs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nemorun.api import load
from nemorun.compiler.entry import EntryPoint, entry_point
from nemorun.compiler.export import export
from nemorun.errors import SpecError

HERE = Path(__file__).resolve().parent

SWEEP = f"""\
nemorun: 1
name: sw
pythonpath: [{HERE}]
task:
  _target_: tablelib:job
  cfg: {{out: "runs/lr_${{task.lr}}", plain: "${{name}}", both: "${{task.n}}/${{task.lr}}"}}
  tag: lr_${{task.lr}}
  lr: 0.5
  n: 1
sweep:
  lr: [0.1, 0.2]
  n: ["${{oc.decode:'7'}}", 8]
"""


def job_outputs(spec_path: Path, *overrides: str) -> list[dict[str, object]]:
    return run_points(entry_point(load(spec_path, overrides)))


def run_points(entry: EntryPoint) -> list[dict[str, object]]:
    """Run the generated entry once per point, as the job does; what the task printed."""
    outputs = []
    for point in range(len(entry.points)):
        done = subprocess.run(
            [sys.executable, "-c", entry.source],
            capture_output=True,
            text=True,
            env={**os.environ, "NEMORUN_POINT": str(point), "PYTHONPATH": str(HERE)},
            timeout=60,
            check=True,
        )
        outputs.append(json.loads(done.stdout))
    return outputs


@pytest.fixture
def sweep_spec(tmp_path: Path) -> Path:
    path = tmp_path / "sw.yaml"
    path.write_text(SWEEP, encoding="utf-8")
    return path


EXPECTED = [
    {
        "lr": lr,
        "n": n,
        "tag": f"lr_{lr}",
        "cfg": {"out": f"runs/lr_{lr}", "plain": "sw", "both": f"{n}/{lr}"},
    }
    for lr in (0.1, 0.2)
    for n in (7, 8)
]


def picked(outputs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: o[k] for k in ("lr", "n", "tag", "cfg")} for o in outputs]


def test_each_point_of_a_spec_sweep_sees_its_own_values(sweep_spec: Path) -> None:
    assert picked(job_outputs(sweep_spec)) == EXPECTED


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_an_export_of_the_sweep_runs_the_same_points(sweep_spec: Path, fmt: str) -> None:
    exported = sweep_spec.with_name(f"exported.{fmt}")
    exported.write_text(export(load(sweep_spec), fmt, exported.parent), encoding="utf-8")
    assert "${task.lr}" in exported.read_text()
    assert picked(job_outputs(exported)) == EXPECTED


def test_a_run_wide_setting_cannot_follow_the_sweep(tmp_path: Path) -> None:
    path = tmp_path / "sw.yaml"
    path.write_text(SWEEP.replace("name: sw", "name: sw_${task.lr}"), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        entry_point(load(path))
    error = info.value
    assert error.path == ("name",)
    assert "differs between sweep points" in error.message
    assert "'sw_0.1' at point 0" in error.message


def test_command_line_sweep_and_interpolation_in_any_order(sweep_spec: Path) -> None:
    outputs = job_outputs(sweep_spec, "~sweep", "tag=${task.n}-${task.lr}", "n=1,2")
    assert [o["tag"] for o in outputs] == ["1-0.5", "2-0.5"]


def test_multi_task_sweep_follows_in_its_own_task(tmp_path: Path) -> None:
    from nemorun.compiler.tasks import task_spec

    path = tmp_path / "two.yaml"
    path.write_text(
        f"""\
nemorun: 1
name: two
pythonpath: [{HERE}]
tasks:
  a:
    task: {{_target_: tablelib:job, lr: 0.5, tag: "a_${{tasks.a.task.lr}}"}}
  b:
    task: {{_target_: tablelib:job, n: 2}}
    after: [a]
sweep:
  tasks.a.lr: [0.1, 0.2]
""",
        encoding="utf-8",
    )
    own, _ = task_spec(load(path), "a")
    outputs = run_points(entry_point(own))
    assert [(o["lr"], o["tag"]) for o in outputs] == [(0.1, "a_0.1"), (0.2, "a_0.2")]
