"""Every sweep point gets its own directory under the run, on every target that runs here.

A 3-point sweep is launched (``nemorun launch --wait``) on the local target, the test Slurm
cluster and the test Docker engine (each skipped, saying why, when it is not there). Each point
writes what it saw into ``$NEMORUN_POINT_DIR``, the idiom the README shows: the directory must
be ``RUN_DIR/points/POINT``, exist before the task starts, and belong to that point alone; and
the working directory is the one the run was launched from (not the run's directory).
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DOCKER_ENV, CliResult, needs_docker, needs_slurm, run_dirs

IMAGE = "nemorun-test-python:1"

TASK = """
import json
import os
import pathlib


def work(lr: float) -> None:
    where = pathlib.Path(os.environ["NEMORUN_POINT_DIR"])
    existed = where.is_dir()  # before the task wrote anything
    seen = {
        "lr": lr,
        "point": os.environ["NEMORUN_POINT"],
        "dir": str(where),
        "existed": existed,
        "others": sorted(p.name for p in where.iterdir()) if existed else None,
        "cwd": os.getcwd(),
    }
    (where / "seen.json").write_text(json.dumps(seen))
"""

EXECUTORS = {
    "local": "{target: local, max_parallel: 3}",
    "slurm": "{target: slurm}",
    "docker": f"{{target: docker, container: {{image: '{IMAGE}'}}, network: none}}",
}


@pytest.mark.parametrize(
    "target",
    [
        "local",
        pytest.param("slurm", marks=needs_slurm),
        pytest.param("docker", marks=needs_docker),
    ],
)
def test_each_sweep_point_writes_into_its_own_directory(
    target: str,
    cli: Callable[..., CliResult],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEMORUN_HOME", str(workdir / "home"))
    if target == "docker":  # the test engine, never a user's
        for key in [k for k in os.environ if k.startswith("DOCKER_")]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("DOCKER_HOST", DOCKER_ENV["DOCKER_HOST"])
    (workdir / "code").mkdir()
    (workdir / "code" / "pointtask.py").write_text(TASK, encoding="utf-8")
    spec = workdir / "points.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            nemorun: 1
            name: points
            pythonpath: [code]
            task: {{_target_: pointtask:work, lr: 0.1}}
            sweep: {{task.lr: [0.1, 0.2, 0.3]}}
            executor: {EXECUTORS[target]}
            """
        ),
        encoding="utf-8",
    )

    result = cli("launch", str(spec), "--wait")

    assert result.code == 0, result.err
    (run_dir,) = run_dirs(workdir / "home")
    seen = [json.loads((run_dir / "points" / str(i) / "seen.json").read_text()) for i in range(3)]
    # On this machine's files the job starts where the run was launched, on every target
    # (Slurm used to start in the run's directory, local jobs here).
    cwd = "/" if target == "docker" else str(workdir)  # docker: the image's own
    assert seen == [
        {
            "lr": lr,
            "point": str(i),
            "dir": str(run_dir / "points" / str(i)),
            "existed": True,
            "others": [],
            "cwd": cwd,
        }
        for i, lr in enumerate([0.1, 0.2, 0.3])
    ]


def test_tasks_of_one_run_keep_their_points_apart(
    cli: Callable[..., CliResult], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``tasks:``, point 0 of one task and point 0 of another are different directories."""
    monkeypatch.setenv("NEMORUN_HOME", str(workdir / "home"))
    (workdir / "code").mkdir()
    (workdir / "code" / "pointtask.py").write_text(TASK, encoding="utf-8")
    spec = workdir / "two.yaml"
    spec.write_text(
        textwrap.dedent(
            """\
            nemorun: 1
            name: two
            pythonpath: [code]
            tasks:
              first: {task: {_target_: pointtask:work, lr: 0.1}}
              second: {task: {_target_: pointtask:work, lr: 0.2}, after: [first]}
            """
        ),
        encoding="utf-8",
    )

    result = cli("launch", str(spec), "--wait")

    assert result.code == 0, result.err
    (run_dir,) = run_dirs(workdir / "home")
    for task, lr in (("first", 0.1), ("second", 0.2)):
        seen = json.loads((run_dir / "points" / task / "0" / "seen.json").read_text())
        assert (seen["lr"], seen["dir"], seen["others"]) == (
            lr,
            str(run_dir / "points" / task / "0"),
            [],
        )
