"""Packed sweeps (``executor.per_job``) on the real test cluster, whose ``MaxArraySize`` is 200
(tests/infra/slurm.sh; the expectations follow the live value): the launch reads it and
splits; every point has its own log, exit status, state; ``fail_fast`` cancels the sweep from
inside the job; ``rerun --failed`` re-packs only what did not complete. Every scenario is
launched at once (one module fixture) so that the waits overlap."""

from __future__ import annotations

import functools
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nemorun import api_runs
from nemorun.compiler.machine import Machine
from nemorun.launchers.base import JobState, JobStatus, LaunchError
from nemorun.launchers.launch import Run
from nemorun.launchers.slurm_commands import run_command
from nemorun.launchers.slurm_limits import SweepLimits, read_limits
from tests.conftest import CliResult

TASK = """\
import os, pathlib, time

def show(lr: int, fail_at: int = -1) -> None:
    print(f"lr={lr} point={os.environ['NEMORUN_POINT']}")
    if lr == fail_at:
        raise SystemExit(3)

def together(lr: int, meet: str) -> None:
    # Succeeds only if the 4 points of its job run at the same time: each waits for the others.
    here = pathlib.Path(meet)
    (here / str(lr)).touch()
    group = [str(lr // 4 * 4 + i) for i in range(4)]
    for _ in range(600):
        if all((here / name).exists() for name in group):
            print(f"lr={lr} met {','.join(group)}")
            return
        time.sleep(0.05)
    raise SystemExit(f"lr={lr}: the other points of its job never started")
"""
SPEC = """\
nemorun: 1
name: {name}
pythonpath: ["."]
executor: {{target: slurm, {options}}}
task: {task}
"""


@functools.cache
def max_array_size() -> int:
    """The live cluster's (read once: the launch reads it at about the same moment)."""
    config = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, timeout=30
    )
    found = re.search(r"^MaxArraySize\s*=\s*(\d+)$", config.stdout, re.M)
    assert found, config.stdout
    return int(found.group(1))


def arrays_of(elements: int, size: int) -> list[tuple[int, int]]:
    """(first element, count) of each array: ``elements`` split at ``size``."""
    return [(start, min(size, elements - start)) for start in range(0, elements, size)]


def kept() -> set[int]:
    """The elements of the 5,000-point sweep left to run: the first and last of each array."""
    return {e for start, n in arrays_of(500, max_array_size()) for e in (start, start + n - 1)}


def spec(directory: Path, name: str, options: str, task: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(SPEC.format(name=name, options=options, task=task), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(
    slurm_cluster: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Run]]:
    directory = tmp_path_factory.mktemp("packing")
    (directory / "packtask.py").write_text(TASK, encoding="utf-8")
    (directory / "meet").mkdir()
    show = "{_target_: packtask:show, lr: 0}"
    launched: dict[str, Run] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEMORUN_HOME", str(directory / "home"))
        patch.chdir(directory)
        try:
            big = spec(directory, "big", "per_job: 10", show)
            launched["big"] = api_runs.launch(big, ["lr=range(0,5000)"], preflight=False)
            # One element at a time: the first fails at its third point, the others wait.
            options = "per_job: 5, fail_fast: true, array_parallelism: 1"
            ff = spec(directory, "ff", options, show[:-1] + ", fail_at: 2}")
            launched["ff"] = api_runs.launch(ff, ["lr=range(0,20)"], preflight=False)
            meet = f"{{_target_: packtask:together, lr: 0, meet: '{directory / 'meet'}'}}"
            par = spec(directory, "par", "per_job: 4, per_job_parallel: true, ntasks: 4", meet)
            launched["par"] = api_runs.launch(par, ["lr=range(0,8)"], preflight=False)
            # Only the first and last element of each array run: the others are cancelled.
            keep = kept()
            launched["big"].cancel_points([p for p in range(5000) if p // 10 not in keep])
            yield launched
        finally:
            for run in launched.values():
                run.cancel()


def final(run: Run, timeout: float = 150) -> list[JobStatus]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = run.status()
        if all(s.state.is_final() for s in statuses) or time.monotonic() > deadline:
            return statuses
        time.sleep(1)


def output(run: Run, point: int) -> str:
    return (run.record.dir / "logs" / f"{run.record.name}-point-{point}.out").read_text()


@pytest.mark.slow
def test_5000_points_in_packs_of_10_split_into_arrays_the_cluster_takes(
    runs: dict[str, Run],
) -> None:
    run = runs["big"]
    jobs = run.record.jobs
    arrays = arrays_of(500, max_array_size())  # at 200: 0-199, 200-399, 400-499
    assert [(j.extra["array"], len(j.points), j.points[0]) for j in jobs] == [
        (f"0-{n - 1}", n * 10, start * 10) for start, n in arrays
    ]
    statuses = final(run)
    assert len(statuses) == 5000
    keep = kept()
    ran = [s for s in statuses if s.point is not None and s.point // 10 in keep]
    assert {s.state for s in ran} == {JobState.COMPLETED}
    assert [s.id for s in ran][-1] == f"{jobs[-1].id}_{arrays[-1][1] - 1}:4999"
    completed = [s.point for s in statuses if s.state is JobState.COMPLETED]
    for point in completed:  # every point ran with its own values, into its own log
        assert output(run, point) == f"lr={point} point={point}\n"
    # A point still running when it was cancelled finished; every other one never started.
    others = [s for s in statuses if s.state is not JobState.COMPLETED]
    assert {(s.state, s.reason) for s in others} == {(JobState.CANCELLED, "by cancel --point")}


@pytest.mark.slow
def test_fail_fast_cancels_the_rest_of_the_sweep_from_inside_the_job(runs: dict[str, Run]) -> None:
    run = runs["ff"]
    statuses = final(run)  # nobody follows the run: the job itself cancels the rest
    assert [(s.point, s.state, s.reason) for s in statuses] == [
        (0, JobState.COMPLETED, None),
        (1, JobState.COMPLETED, None),
        (2, JobState.FAILED, "exit code 3"),
        *[(p, JobState.CANCELLED, "fail_fast: point 2 failed") for p in range(3, 20)],
    ]
    for point in (0, 1, 2):
        assert output(run, point) == f"lr={point} point={point}\n"
    ids = ",".join(j.id for j in run.record.jobs)
    queue = subprocess.run(["squeue", "-h", "-j", ids], capture_output=True, text=True, timeout=30)
    assert queue.stdout.strip() == ""


@pytest.mark.slow
def test_rerun_failed_repacks_only_the_points_that_did_not_complete(
    runs: dict[str, Run],
) -> None:
    old = runs["ff"]
    again = [s.point for s in final(old) if s.state is not JobState.COMPLETED]
    new = api_runs.rerun(old, ["fail_at=-1"], failed=True)
    runs["ff-rerun"] = new
    (job,) = new.record.jobs
    assert list(job.points) == again == list(range(2, 20))
    assert job.extra["array"] == "0-3%1"  # 18 points, 5 to a job; the limit kept
    statuses = final(new)
    assert [(s.point, s.state) for s in statuses] == [(p, JobState.COMPLETED) for p in again]
    for point in again:
        assert output(new, point) == f"lr={point} point={point}\n"


@pytest.mark.slow
def test_parallel_points_of_one_job_run_at_once(runs: dict[str, Run]) -> None:
    run = runs["par"]
    assert [j.extra["array"] for j in run.record.jobs] == ["0-1"]
    statuses = final(run)
    assert [(s.id.split("_")[1], s.state) for s in statuses] == [
        (f"{p // 4}:{p}", JobState.COMPLETED) for p in range(8)
    ]
    for point in range(8):
        group = ",".join(str(point // 4 * 4 + i) for i in range(4))
        assert output(run, point) == f"lr={point} met {group}\n"


@pytest.mark.slow
def test_logs_of_one_point_of_a_packed_job(
    runs: dict[str, Run], cli: Callable[..., CliResult]
) -> None:
    run = runs["ff"]
    final(run)
    result = cli("logs", run.id, "--job", "1")
    assert result.code == 0
    job = run.record.jobs[0].id
    assert result.out.splitlines() == [
        f"==> {job}_0 (point 1): {run.record.dir}/logs/ff-point-1.out <==",
        "lr=1 point=1",
    ]


def test_the_limits_come_from_the_cluster(slurm_cluster: dict[str, str]) -> None:
    limits = read_limits(lambda argv: run_command(argv, None, 30))
    size = max_array_size()  # 200 (tests/infra/slurm.sh); no MaxSubmitJobs: MaxJobCount
    assert limits == SweepLimits(max_array_size=size, max_submit_jobs=20000)
    assert limits.told(Machine()) == Machine(max_array_size=size, max_submit_jobs=20000)


def test_limits_the_cluster_does_not_say_stay_unknown() -> None:
    def silent(argv: list[str]) -> subprocess.CompletedProcess[str]:
        raise LaunchError(f"{argv[0]} did not answer within 15 s")

    assert read_limits(silent) == SweepLimits(None, None)
