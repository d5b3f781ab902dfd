"""Which points ``rerun --failed`` runs again, from a run's plan and its jobs' states."""

from __future__ import annotations

import json
from pathlib import Path

from nemorun.launchers.base import JobRef, JobState, JobStatus, RunHandle
from nemorun.launchers.launch import points_to_rerun


def handle(tmp_path: Path, jobs: list[JobRef], points: dict[str, tuple[int, ...]]) -> RunHandle:
    """A run of two tasks, ``prep`` (1 point) then ``train`` (4 points)."""
    run = RunHandle("r", "r", tmp_path, "slurm", jobs=jobs, points=points)
    run.artifacts_dir.mkdir(exist_ok=True)
    tasks = [
        {"name": "prep", "points": 1, "mains": ["prep/prep.sbatch"]},
        {"name": "train", "points": 4, "after": ["prep"], "mains": ["train/train.sbatch"]},
    ]
    (run.artifacts_dir / "tasks.json").write_text(json.dumps({"tasks": tasks}))
    return run


def test_failed_cancelled_and_never_started_points_are_run_again(tmp_path: Path) -> None:
    jobs = [JobRef("10", "prep"), JobRef("11", "train", (0, 1, 2, 3))]
    statuses = [
        JobStatus("10", JobState.COMPLETED),
        JobStatus("11_0", JobState.FAILED, point=0),
        JobStatus("11_1", JobState.CANCELLED, point=1),
        JobStatus("11_2", JobState.RUNNING, point=2),  # may yet complete
        # point 3: no state at all (never started)
    ]
    assert points_to_rerun(handle(tmp_path, jobs, {}), statuses) == {"train": (0, 1, 3)}


def test_a_task_never_submitted_runs_again_whole(tmp_path: Path) -> None:
    jobs = [JobRef("10", "prep")]
    statuses = [JobStatus("10", JobState.FAILED)]
    assert points_to_rerun(handle(tmp_path, jobs, {}), statuses) == {
        "prep": (0,),
        "train": (0, 1, 2, 3),
    }


def test_a_rerun_of_some_points_answers_for_those_only(tmp_path: Path) -> None:
    jobs = [JobRef("12", "train", (1, 3))]
    statuses = [
        JobStatus("12_1", JobState.COMPLETED, point=1),
        JobStatus("12_3", JobState.PENDING, point=3),
    ]
    assert points_to_rerun(handle(tmp_path, jobs, {"train": (1, 3)}), statuses) == {}
    statuses[1] = JobStatus("12_3", JobState.CANCELLED, point=3)
    assert points_to_rerun(handle(tmp_path, jobs, {"train": (1, 3)}), statuses) == {"train": (3,)}
