"""Records that move: ``mv`` of ``NEMORUN_HOME`` keeps every run's status and logs, for records
written now (paths relative to the run directory) and before (absolute paths)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, CliResult

from nemorun.api_runs import launch
from nemorun.launchers.base import JobState, path_in_run
from nemorun.launchers.records import RECORD, Record

QUICKSTART = ROOT / "configs" / "quickstart.yaml"


def _moved_home(home: Path, monkeypatch: pytest.MonkeyPatch, absolute_log: bool) -> str:
    """A completed local run, its home then moved (``mv``); returns the run's id."""
    run = launch(QUICKSTART, ["steps=2", "log_every=1"], wait=True)
    assert run.state() is JobState.COMPLETED
    record = run.record.dir / RECORD
    data = json.loads(record.read_text())
    assert data["jobs"][0]["log"] == "logs/quickstart.0.log"  # stored relative to the run
    if absolute_log:  # as records were written before
        data["jobs"][0]["log"] = str(run.record.dir / "logs" / "quickstart.0.log")
        record.write_text(json.dumps(data))
    moved = home.parent / "moved-home"
    shutil.move(home, moved)
    monkeypatch.setenv("NEMORUN_HOME", str(moved))
    return run.id


@pytest.mark.parametrize("absolute_log", [False, True], ids=["relative", "absolute-old-record"])
def test_a_moved_home_keeps_a_completed_run_completed_and_its_logs(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Callable[..., CliResult],
    absolute_log: bool,
) -> None:
    run_id = _moved_home(home, monkeypatch, absolute_log)
    for _ in range(2):  # the second read sees what the first persisted
        status = cli("status", run_id, "--json")
        assert status.code == 0, status.err
        found = json.loads(status.out)
        assert found["status"] == "completed"
        assert [(j["state"], j["exit_code"]) for j in found["jobs"]] == [("completed", 0)]
    logs = cli("logs", run_id)
    assert logs.code == 0, logs.err
    lines = logs.out.splitlines()
    assert lines[0].startswith("[train] point=0 model=32x2")
    assert lines[-1].startswith("[train] step 2 loss")
    listed = json.loads(cli("ls", "--json").out)
    assert [(r["id"], r["status"]) for r in listed] == [(run_id, "completed")]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("logs/a.log", "/new/runs/R1/logs/a.log"),
        ("/old/runs/R1/logs/a.{point}.log", "/new/runs/R1/logs/a.{point}.log"),
        ("/old/runs/R1", "/new/runs/R1"),
        ("/scratch/out/a.log", "/scratch/out/a.log"),  # outside the run: where it was
        ("/old/runs/R10/logs/a.log", "/old/runs/R10/logs/a.log"),  # another run's id
    ],
)
def test_recorded_paths_follow_the_run_directory(path: str, expected: str) -> None:
    assert path_in_run(path, "R1", Path("/new/runs/R1")) == expected


def test_a_moved_record_reads_its_jobs_paths_where_the_run_is_now(tmp_path: Path) -> None:
    old, new = tmp_path / "old" / "R1", tmp_path / "new" / "R1"
    job = {"id": "7", "log": f"{old}/logs/x.log", "extra": {"workdir": str(old / "sub")}}
    job["extra"].update(output="%x-%j.out", error=str(tmp_path / "elsewhere.err"), offset=0)
    data = {"nemorun_run": 1, "id": "R1", "name": "x", "target": "slurm", "jobs": [job]}
    [moved] = Record(new, data).jobs
    assert moved.log == f"{new}/logs/x.log"
    assert moved.extra == {
        "workdir": str(new / "sub"),
        "output": "%x-%j.out",  # relative to the workdir: the target's business
        "error": str(tmp_path / "elsewhere.err"),  # outside the run
        "offset": 0,
    }
