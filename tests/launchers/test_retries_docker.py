"""Retries on the docker target, on the real test engine: a container that exits non-zero
runs again (a new container), told its attempt, until one succeeds or none are left."""

from __future__ import annotations

from pathlib import Path

from test_docker_launch import (  # noqa: F401 (fixtures)
    IMAGE,
    all_final,
    engine,
    make_run,
    name,
    on_engine,
    wait_until,
)

from nemorun.launchers.base import JobState
from nemorun.launchers.docker import DockerTarget

FLAKY = """\
import os
from pathlib import Path


def work(succeed_at: int) -> None:
    attempt = int(os.environ["NEMORUN_ATTEMPT"])
    with (Path(os.environ["NEMORUN_POINT_DIR"]) / "seen").open("a") as out:
        out.write(f"{attempt}\\n")
    print(f"attempt {attempt}", flush=True)
    raise SystemExit(0 if attempt >= succeed_at else 7)
"""


def test_a_failed_container_runs_again_until_it_succeeds(
    on_engine: dict[str, str],  # noqa: F811
    name: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    (tmp_path / "flakydocker.py").write_text(FLAKY)
    spec = {
        "nemorun": 1,
        "name": name,
        "pythonpath": [str(tmp_path)],
        "task": {"_target_": "flakydocker:work", "succeed_at": 2},
        "executor": {
            "target": "docker",
            "container": {"image": IMAGE},
            "network": "none",
            "retries": {"max": 2},
        },
        "sweep": {"task.succeed_at": [2, 9]},
    }
    run = make_run(tmp_path, spec)
    target = DockerTarget()
    run.jobs = target.submit(run)
    statuses = wait_until(target, run, all_final, timeout=120)
    assert [(s.state, s.exit_code) for s in statuses] == [
        (JobState.COMPLETED, 0),
        (JobState.FAILED, 7),
    ]
    seen = [(run.dir / "points" / str(p) / "seen").read_text().split() for p in (0, 1)]
    assert seen == [["1", "2"], ["1", "2", "3"]]
    log = list(target.logs(run, run.jobs[0]))
    assert "attempt 2" in log
    assert sum(line.startswith("=== nemorun: attempt ") for line in log) == 4
    assert [(s.attempt, s.attempts, s.reason) for s in statuses] == [
        (2, 3, "attempt 1: failed, exit 7, retried; attempt 2: completed"),
        (
            3,
            3,
            "attempt 1: failed, exit 7, retried; attempt 2: failed, exit 7, retried; "
            "attempt 3: failed, exit 7, no retries left; exit code 7",
        ),
    ]
