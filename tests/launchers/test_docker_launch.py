"""The ``docker`` launch target (`nemorun.launchers.docker.DockerTarget`) on a real engine.

Artifacts are compiled by nemorun's compiler into a temporary run directory, then submitted,
watched, read and cancelled through the target. The engine is the test engine
(``tests/infra/docker.sh start``, root: a private dockerd on
``unix:///run/nemorun-docker/docker.sock`` with the local image ``nemorun-test-python:1``,
found by its mark: see tests/conftest.py); without it these tests skip, saying how to start
it, except the one that checks the error where no engine answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from nemorun.api import load_for_target
from nemorun.compiler.job import RunContext
from nemorun.compiler.tasks import compile_tasks
from nemorun.launchers.base import JobState, LaunchError, RunHandle, summarize
from nemorun.launchers.docker import DockerTarget, read_script

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "nemorun-test-python:1"

TASKS = '''
"""Tasks for the docker launch tests (standard library only: they run in the test image)."""
import os
import shutil
import sys
import time


def nap(seconds: float, tag: str = "") -> None:
    print(f"tag={tag} point={os.environ.get('NEMORUN_POINT')} start", flush=True)
    time.sleep(seconds)
    print(f"tag={tag} end", flush=True)


def fail(code: int, tag: str = "") -> None:
    print(f"tag={tag} failing with {code}", flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    sys.exit(code)
'''


@pytest.fixture(scope="session")
def engine(docker_engine: dict[str, str]) -> dict[str, str]:
    """The environment that reaches the test engine (``docker_engine`` skips without it)."""
    return docker_engine


@pytest.fixture
def on_engine(engine: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test engine, named by ``DOCKER_HOST`` in this process (as a user would set it)."""
    monkeypatch.setenv("DOCKER_HOST", engine["DOCKER_HOST"])
    return engine


@pytest.fixture(scope="session")
def tasks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tasks")
    (directory / "launchtasks.py").write_text(TASKS, encoding="utf-8")
    return directory


@pytest.fixture
def name(engine: dict[str, str]) -> Iterator[str]:
    """A run name of its own; its containers are removed after the test, whatever happened."""
    run_name = f"nrl-{uuid.uuid4().hex[:10]}"
    yield run_name
    listed = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=nemorun.run-name={run_name}"],
        env=engine,
        capture_output=True,
        text=True,
    ).stdout.split()
    if listed:
        subprocess.run(["docker", "rm", "-f", *listed], env=engine, capture_output=True)


def make_run(
    tmp_path: Path,
    spec: dict[str, object] | Path,
    *overrides: str,
    points: dict[str, tuple[int, ...]] | None = None,
) -> RunHandle:
    """Compile ``spec`` for docker into a fresh run directory, as the launch layer does
    (every task, for the run, with ``tasks.json``)."""
    run_dir = tmp_path / "run"
    if isinstance(spec, dict):
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    else:
        path = spec
    loaded, warnings = load_for_target(path, overrides, "docker")
    run_id = uuid.uuid4().hex[:12]
    build = compile_tasks(loaded, "docker", None, warnings, RunContext(run_id, run_dir))
    build.write(run_dir / "artifacts")
    name = loaded.name or "x"
    return RunHandle(run_id, name, run_dir, "docker", points=dict(points or {}))


def python_spec(name: str, tasks: Path, task: dict[str, object], **sweep: list[object]):
    spec: dict[str, object] = {
        "nemorun": 1,
        "name": name,
        "pythonpath": [str(tasks)],
        "task": task,
        "executor": {"target": "docker", "container": {"image": IMAGE}, "network": "none"},
    }
    if sweep:
        spec["sweep"] = sweep
    return spec


def wait_until(target: DockerTarget, run: RunHandle, done, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        statuses = target.status(run)
        if done(statuses):
            return statuses
        assert time.monotonic() < deadline, f"timed out; last statuses: {statuses}"
        time.sleep(0.05)


def all_final(statuses) -> bool:
    return all(s.state.is_final() for s in statuses)


def containers(engine: dict[str, str], run_name: str) -> list[str]:
    return subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.Names}}", "--filter",
         f"label=nemorun.run-name={run_name}"],
        env=engine, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip


def test_a_two_point_sweep_completes_with_each_point_in_its_own_log(
    on_engine: dict[str, str], name: str, tmp_path: Path
) -> None:
    run = make_run(
        tmp_path,
        ROOT / "configs/quickstart.yaml",
        f"name={name}",
        "optim.lr=0.01,0.02",
        "steps=3",
        "log_every=1",
        f"++executor.container.image={IMAGE}",
        "++executor.network=none",
    )
    target = DockerTarget()
    [script] = run.artifacts_dir.glob("*.sh")
    script_before = script.read_bytes()

    run.jobs = target.submit(run)
    followed = list(target.logs(run, run.jobs[1], follow=True))  # blocks until point 1 ends
    statuses = wait_until(target, run, all_final)

    assert [job.id for job in run.jobs] == [
        f"nemorun-{name}-{run.id}-0",
        f"nemorun-{name}-{run.id}-1",
    ]
    assert [job.points for job in run.jobs] == [(0,), (1,)]
    assert [(s.id, s.state, s.exit_code, s.point) for s in statuses] == [
        (f"nemorun-{name}-{run.id}-0", JobState.COMPLETED, 0, 0),
        (f"nemorun-{name}-{run.id}-1", JobState.COMPLETED, 0, 1),
    ]
    assert summarize([s.state for s in statuses]) is JobState.COMPLETED
    for point, lr in enumerate(["0.01", "0.02"]):
        lines = list(target.logs(run, run.jobs[point]))
        assert f"[train] point={point} model=32x2 RELU optim=sgd lr={lr} data=/tmp/data" in lines
        assert any(line.startswith("[train] step 3 loss") for line in lines), lines
        assert not any(f"lr={other}" in "\n".join(lines) for other in {"0.01", "0.02"} - {lr})
        assert Path(run.jobs[point].log or "").parent == run.logs_dir
    assert followed == list(target.logs(run, run.jobs[1]))
    assert script.read_bytes() == script_before  # unchanged
    assert containers(on_engine, name) == []  # --rm


def test_points_run_together_up_to_max_parallel(
    on_engine: dict[str, str], name: str, tasks_dir: Path, tmp_path: Path
) -> None:
    spec = python_spec(
        name, tasks_dir, {"_target_": "launchtasks:nap", "seconds": 2}, tag=["a", "b", "c"]
    )
    run = make_run(tmp_path, spec)
    run.state["max_parallel"] = 2
    target = DockerTarget()
    run.jobs = target.submit(run)

    both = wait_until(
        target, run, lambda s: [x.state for x in s[:2]] == [JobState.RUNNING] * 2, timeout=30
    )
    assert both[2].state is JobState.PENDING and "max_parallel" in (both[2].reason or "")
    statuses = wait_until(target, run, all_final)
    assert [s.state for s in statuses] == [JobState.COMPLETED] * 3
    assert [next(iter(target.logs(run, job))) for job in run.jobs] == [
        f"tag={tag} point={point} start" for point, tag in enumerate("abc")
    ]


def test_a_failing_task_fails_its_job_with_its_exit_code(
    on_engine: dict[str, str], name: str, tasks_dir: Path, tmp_path: Path
) -> None:
    spec = python_spec(name, tasks_dir, {"_target_": "launchtasks:fail", "code": 0}, code=[0, 3])
    run = make_run(tmp_path, spec)
    target = DockerTarget()
    run.jobs = target.submit(run)

    statuses = wait_until(target, run, all_final)

    assert [(s.state, s.exit_code) for s in statuses] == [
        (JobState.COMPLETED, 0),
        (JobState.FAILED, 3),
    ]
    assert statuses[1].reason == "exit code 3"
    assert summarize([s.state for s in statuses]) is JobState.FAILED
    # stdout and stderr, in one file (their order is docker's: two streams, not one)
    assert sorted(target.logs(run, run.jobs[1])) == ["tag= failing with 3", "to stderr"]


def test_a_command_that_docker_cannot_run_is_a_failed_job(
    on_engine: dict[str, str], name: str, tmp_path: Path
) -> None:
    spec = {
        "nemorun": 1,
        "name": name,
        "task": {"command": ["no-such-program", "x"]},
        "executor": {"target": "docker", "container": {"image": IMAGE}, "network": "none"},
    }
    run = make_run(tmp_path, spec)
    target = DockerTarget()
    run.jobs = target.submit(run)

    [status] = wait_until(target, run, all_final)

    assert (status.id, status.state, status.exit_code) == (
        f"nemorun-{name}-{run.id}",
        JobState.FAILED,
        127,
    )
    assert "not found" in (status.reason or "")


def test_a_long_task_cancelled_is_cancelled_and_its_container_gone(
    on_engine: dict[str, str],
    name: str,
    tasks_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = python_spec(
        name, tasks_dir, {"_target_": "launchtasks:nap", "seconds": 300}, tag=["x", "y"]
    )
    run = make_run(tmp_path, spec)
    target = DockerTarget()
    run.jobs = target.submit(run)
    wait_until(target, run, lambda s: s[0].state is JobState.RUNNING, timeout=30)
    # Running is the container's state: its first line may come a moment later (under load).
    wait_until(target, run, lambda s: list(target.logs(run, run.jobs[0])) != [], timeout=30)
    assert containers(on_engine, name) == [f"nemorun-{name}-{run.id}-0"]
    deadline = time.monotonic() + 30  # running is the container; wait for the task itself
    while not list(target.logs(run, run.jobs[0])) and time.monotonic() < deadline:
        time.sleep(0.1)
    # status and cancel talk to the engine the run was submitted to, whatever DOCKER_HOST is now
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")

    target.cancel(run)
    statuses = target.status(run)

    assert [(s.state, s.reason) for s in statuses] == [(JobState.CANCELLED, "cancelled")] * 2
    assert summarize([s.state for s in statuses]) is JobState.CANCELLED
    assert containers(on_engine, name) == []
    assert list(target.logs(run, run.jobs[0], follow=True)) == ["tag=x point=0 start"]
    assert list(target.logs(run, run.jobs[1], follow=True)) == []  # never started
    time.sleep(0.5)  # nothing starts after a cancel
    assert containers(on_engine, name) == []
    assert not (run.dir / "docker" / "1.started").exists()


def test_cancelling_some_points_leaves_the_others_running(
    on_engine: dict[str, str], name: str, tasks_dir: Path, tmp_path: Path
) -> None:
    spec = python_spec(
        name, tasks_dir, {"_target_": "launchtasks:nap", "seconds": 2}, seconds=[2, 300, 2, 300]
    )
    run = make_run(tmp_path, spec)
    run.state["max_parallel"] = 2  # 0 and 1 run, then 2 and 3 in turn
    target = DockerTarget()
    run.jobs = target.submit(run)
    wait_until(target, run, lambda s: s[1].state is JobState.RUNNING, timeout=30)

    target.cancel_points(run, {"task": (1, 3)})  # one running, one not started yet
    statuses = wait_until(target, run, all_final)

    assert [(s.point, s.state) for s in statuses] == [
        (0, JobState.COMPLETED),
        (1, JobState.CANCELLED),
        (2, JobState.COMPLETED),
        (3, JobState.CANCELLED),
    ]
    assert not (run.dir / "docker" / f"{run.jobs[3].id}.started").exists()
    assert list(target.logs(run, run.jobs[3], follow=True)) == []  # never started
    assert containers(on_engine, name) == []


def test_cancelling_a_finished_run_changes_nothing(
    on_engine: dict[str, str], name: str, tasks_dir: Path, tmp_path: Path
) -> None:
    run = make_run(tmp_path, python_spec(name, tasks_dir, {"_target_": "launchtasks:nap",
                                                           "seconds": 0}))  # fmt: skip
    target = DockerTarget()
    run.jobs = target.submit(run)
    wait_until(target, run, all_final)

    target.cancel(run)

    assert [s.state for s in target.status(run)] == [JobState.COMPLETED]


def test_without_an_engine_the_error_says_so(
    tmp_path: Path, tasks_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket = f"unix://{tmp_path}/no-engine.sock"
    monkeypatch.setenv("DOCKER_HOST", socket)
    target = DockerTarget()

    problem = target.available()
    run = make_run(tmp_path, python_spec("noengine", tasks_dir, {"_target_": "launchtasks:nap",
                                                                 "seconds": 0}))  # fmt: skip
    with pytest.raises(LaunchError) as error:
        target.submit(run)

    if problem is not None and problem.startswith("no docker client"):
        pytest.skip(problem)
    assert problem is not None
    assert problem.startswith(
        f"no Docker engine answers at {socket}; start one or set DOCKER_HOST"
    ), problem
    assert str(error.value) == problem
    assert not (run.dir / "docker").exists()


def test_an_artifact_that_is_not_a_docker_script_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "x.sh"
    script.write_text("#!/bin/sh\necho hi\n")

    with pytest.raises(LaunchError, match="not a docker script compiled by nemorun"):
        read_script(script)


def test_tasks_run_in_order_and_a_failed_parent_fails_its_children(
    on_engine: dict[str, str], name: str, tasks_dir: Path, tmp_path: Path
) -> None:
    def nap(tag: str, seconds: float = 0) -> dict[str, object]:
        return {"_target_": "launchtasks:nap", "seconds": seconds, "tag": tag}

    spec = python_spec(name, tasks_dir, {})
    del spec["task"]
    spec["tasks"] = {
        "report": {"task": nap("report"), "after": ["broken", "train"]},
        "train": {"task": nap("train"), "after": ["prep"]},
        "prep": {"task": nap("prep", 0.5)},
        "broken": {"task": {"_target_": "launchtasks:fail", "code": 2, "tag": "broken"}},
        "rescue": {"task": nap("rescue"), "after": {"broken": "notok"}},
        "unneeded": {"task": nap("unneeded"), "after": {"train": "notok", "broken": "any"}},
    }
    run = make_run(tmp_path, spec)
    target = DockerTarget()
    run.jobs = target.submit(run)

    statuses = wait_until(target, run, all_final)

    order = [job.task for job in run.jobs]  # tasks.json's order: parents first
    assert sorted(order) == ["broken", "prep", "report", "rescue", "train", "unneeded"]
    assert order.index("prep") < order.index("train") < order.index("report")
    assert [job.id for job in run.jobs] == [f"nemorun-{name}-{task}-{run.id}" for task in order]
    jobs = {job.task: job for job in run.jobs}
    by_task = {job.task: status for job, status in zip(run.jobs, statuses)}
    assert by_task["prep"].state is JobState.COMPLETED
    assert by_task["train"].state is JobState.COMPLETED
    assert (by_task["broken"].state, by_task["broken"].exit_code) == (JobState.FAILED, 2)
    assert (by_task["report"].state, by_task["report"].reason) == (
        JobState.FAILED,
        "dependency failed: broken",
    )
    # Conditions: notok after a failure runs; notok after a success is skipped, never started.
    assert by_task["rescue"].state is JobState.COMPLETED
    assert list(target.logs(run, jobs["rescue"])) == ["tag=rescue point=0 start", "tag=rescue end"]
    assert (by_task["unneeded"].state, by_task["unneeded"].reason) == (
        JobState.SKIPPED,
        "condition not met: train succeeded (after train: notok)",
    )
    state = run.dir / "docker"
    assert not (state / f"{jobs['unneeded'].id}.started").exists()
    prep_end = (state / f"{jobs['prep'].id}.exit").stat().st_mtime
    train_start = (state / f"{jobs['train'].id}.started").stat().st_mtime
    assert train_start >= prep_end - 0.05
    assert not (state / f"{jobs['report'].id}.started").exists()
    assert list(target.logs(run, jobs["report"], follow=True)) == []
    assert list(target.logs(run, jobs["train"])) == ["tag=train point=0 start", "tag=train end"]
    assert [Path(job.log or "").name for job in run.jobs] == [f"{task}.0.log" for task in order]


def test_only_the_points_asked_for_are_submitted(
    on_engine: dict[str, str], name: str, tasks_dir: Path, tmp_path: Path
) -> None:
    spec = python_spec(
        name, tasks_dir, {"_target_": "launchtasks:nap", "seconds": 0}, tag=["a", "b", "c"]
    )
    run = make_run(tmp_path, spec, points={"task": (1,)})  # as rerun --failed does
    target = DockerTarget()
    run.jobs = target.submit(run)

    [status] = wait_until(target, run, all_final)

    assert [(job.id, job.points) for job in run.jobs] == [(f"nemorun-{name}-{run.id}-1", (1,))]
    assert (status.state, status.point) == (JobState.COMPLETED, 1)
    assert next(iter(target.logs(run, run.jobs[0]))) == "tag=b point=1 start"


def test_a_supervisor_that_dies_leaves_its_jobs_failed_not_running_forever(
    on_engine: dict[str, str], name: str, tasks_dir: Path, tmp_path: Path
) -> None:
    import signal

    spec = python_spec(name, tasks_dir, {"_target_": "launchtasks:nap", "seconds": 300})
    run = make_run(tmp_path, spec)
    target = DockerTarget()
    run.jobs = target.submit(run)
    wait_until(target, run, lambda s: s[0].state is JobState.RUNNING, timeout=30)

    os.killpg(run.state["supervisor"][0], signal.SIGKILL)  # not a cancel: a crash
    [orphan] = wait_until(target, run, lambda s: s[0].reason is not None, timeout=10)
    subprocess.run(["docker", "rm", "-f", f"nemorun-{name}-{run.id}"], env=on_engine, check=True,
                   capture_output=True)  # fmt: skip
    [lost] = target.status(run)

    assert (orphan.state, orphan.reason) == (
        JobState.RUNNING,
        "the supervisor is gone; the container still runs",
    )
    assert lost.state is JobState.FAILED
    assert "without recording the exit status" in (lost.reason or "")


def test_many_runs_are_asked_about_in_one_inspect(
    on_engine: dict[str, str],
    name: str,
    tasks_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``ls`` of several running docker runs: one ``docker inspect`` for all their containers."""
    target = DockerTarget()
    runs = []
    for index in range(3):
        spec = python_spec(name, tasks_dir, {"_target_": "launchtasks:nap", "seconds": 300})
        (tmp_path / str(index)).mkdir()
        run = make_run(tmp_path / str(index), spec)
        run.jobs = target.submit(run)
        runs.append(run)
    for run in runs:
        wait_until(target, run, lambda s: s[0].state is JobState.RUNNING, timeout=60)
    real, log = shutil.which("docker"), tmp_path / "calls.log"
    assert real is not None
    wrapper = tmp_path / "bin" / "docker"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$1" >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")

    answers = target.status_many(runs)

    assert [[s.state for s in statuses] for statuses in answers] == [[JobState.RUNNING]] * 3
    assert log.read_text().split() == ["inspect"]
    for run in runs:
        target.cancel(run)
