"""A scheduler that does not answer costs ``ls`` and ``status`` one bounded wait, shows the
runs it holds as unknown, and leaves their records as they were.

The hung controller is a stand-in: ``squeue``, ``sacct`` and ``scontrol`` scripts that never
answer, first on PATH (stopping the real test controller would stop it for every other test).
The run itself was submitted to the real test Slurm."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, nemorun

QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


@pytest.mark.slow
def test_a_hung_scheduler_makes_runs_unknown_not_a_hang(tmp_path: Path) -> None:
    if (
        shutil.which("sbatch") is None
        or subprocess.run(["sinfo", "-h"], capture_output=True, timeout=30).returncode
    ):
        pytest.skip("no Slurm here: start one with bash tests/infra/slurm.sh start")
    env = {**os.environ, "NEMORUN_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    launched = [
        nemorun("launch", QUICKSTART, "--target", "slurm", "steps=2", env=env) for _ in range(3)
    ]
    assert all(r.returncode == 0 for r in launched), launched[0].stderr
    records = sorted((tmp_path / "home").rglob("run.json"))
    before = {p: p.read_bytes() for p in records}
    hung = tmp_path / "hung"
    hung.mkdir()
    for tool in ("squeue", "sacct", "scontrol"):
        (hung / tool).write_text("#!/bin/sh\nexec sleep 600\n")
        (hung / tool).chmod(0o755)
    stuck = {**env, "PATH": f"{hung}:{env['PATH']}", "NEMORUN_SCHEDULER_TIMEOUT": "2"}
    # Runs that finished before the tools hung keep their state; make them all unfinished.
    for path in records:
        state = path.with_name("state.json")
        if state.exists():
            data = json.loads(state.read_text())
            data["status"] = "pending"
            state.write_text(json.dumps(data))
    listed = nemorun("ls", "--json", env=stuck)
    assert listed.returncode == 0, listed.stderr
    assert [r["status"] for r in json.loads(listed.stdout)] == ["unknown"] * 3
    assert listed.stderr.count("the slurm scheduler did not answer") == 1
    assert "3 run(s) shown as unknown" in listed.stderr
    assert {p: p.read_bytes() for p in records} == before
    status = nemorun("status", json.loads(listed.stdout)[0]["id"], env=stuck)
    assert status.returncode == 0 and "showing the states last seen" in status.stderr
