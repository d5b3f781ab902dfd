"""The local target for real: detached supervisor, per-point logs and exit statuses, bounded
parallelism, task order, cancel, and a pid that is not ours any more.

Every test records its runs under its own ``NEMORUN_HOME`` (``tmp_path``).
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nemorun.api import load_for_target
from nemorun.api_runs import launch
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.job import RunContext
from nemorun.launchers.base import JobRef, JobState, RunHandle
from nemorun.launchers.launch import LogLine, Progress
from nemorun.launchers.local import LocalTarget, _same_process, process_start_time

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"

# A task that records when each point ran, for the parallelism test.
TIMING_MODULE = """
import pathlib
import time


def work(out: str, seconds: float = 0.3, point: int = 0) -> None:
    d = pathlib.Path(out)
    (d / f"{point}.start").write_text(repr(time.time()))
    time.sleep(seconds)
    (d / f"{point}.end").write_text(repr(time.time()))
    print(f"point {point} done")
"""


pytestmark = pytest.mark.usefixtures("home")  # runs recorded in the test's own directory


def spec(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_quickstart_trains_and_its_output_is_in_the_logs() -> None:
    run = launch(QUICKSTART, ["steps=5", "log_every=1"], wait=True)
    assert run.state() is JobState.COMPLETED
    lines = [line for _, line in run.logs()]
    assert lines[0].startswith("[train] point=0 model=32x2")
    assert lines[-1].startswith("[train] step 5 loss")
    job = run.record.jobs[0]
    assert job.log is not None and Path(job.log).read_text().count("\n") == len(lines)
    assert Path(job.log).parent == run.record.dir / "logs"


def test_a_failing_task_is_failed_with_its_exit_code(tmp_path: Path) -> None:
    path = spec(tmp_path, "fail.yaml", "nemorun: 1\ntask: {command: 'echo oops; exit 3'}\n")
    run = launch(path, wait=True)
    [status] = run.status()
    assert (status.state, status.reason, status.exit_code) == (JobState.FAILED, "exit code 3", 3)
    assert [line for _, line in run.logs()] == ["oops"]
    assert run.record.status is JobState.FAILED  # persisted in state.json


def test_a_long_job_cancelled_is_cancelled_and_its_processes_are_gone(tmp_path: Path) -> None:
    marker = tmp_path / "never"
    path = spec(
        tmp_path,
        "long.yaml",
        f"nemorun: 1\ntask: {{command: 'echo started; sleep 30; touch {marker}'}}\n",
    )
    run = launch(path)
    deadline = time.monotonic() + 10
    while [line for _, line in run.logs()] != ["started"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run.status()[0].state is JobState.RUNNING
    pid = int(run.record.jobs[0].extra["pid"])
    [status] = run.cancel()
    assert status.state is JobState.CANCELLED
    assert not _session_has_live_process(pid)
    assert [line for _, line in run.logs()] == ["started"]
    assert not marker.exists()


def _session_has_live_process(sid: int) -> bool:
    """True while a process of the supervisor's session (it and every point) is alive."""
    from nemorun.launchers.local import SESSION, _members

    return bool(_members(SESSION, sid))


def test_a_sweep_runs_at_most_max_parallel_points_at_once(tmp_path: Path) -> None:
    (tmp_path / "timing.py").write_text(TIMING_MODULE)
    out = tmp_path / "out"
    out.mkdir()
    path = spec(
        tmp_path,
        "sweep.yaml",
        f"""
        nemorun: 1
        name: sweep3
        pythonpath: ["."]
        task: {{_target_: timing:work, out: "{out}", seconds: 0.6}}
        sweep:
          point: [0, 1, 2]
        """,
    )
    run = launch(path, max_parallel=2, wait=True)
    statuses = run.status()
    assert [s.state for s in statuses] == [JobState.COMPLETED] * 3
    assert [s.point for s in statuses] == [0, 1, 2]
    spans = [
        (float((out / f"{p}.start").read_text()), float((out / f"{p}.end").read_text()))
        for p in range(3)
    ]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 2  # two at once, never three
    assert "++executor.max_parallel=2" in run.record.data["overrides"]
    logs = [line for _, line in run.logs()]
    assert [line for line in logs if line.startswith("==>")] == [
        f"==> point {p}: {run.record.dir}/logs/sweep3.{p}.log <==" for p in range(3)
    ]


# A point that leaves its pid, then waits for a file ("go") or, for point 1, for ever.
WAITING_MODULE = """
import os
import pathlib
import time


def work(flags: str, point: int = 0) -> None:
    d = pathlib.Path(flags)
    (d / f"{point}.pid").write_text(str(os.getpid()))
    while point == 1 or not (d / "go").exists():
        time.sleep(0.05)
    print(f"point {point} done")
"""


def _wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_cancelling_one_running_point_leaves_the_others_running(tmp_path: Path) -> None:
    (tmp_path / "waiting.py").write_text(WAITING_MODULE)
    flags = tmp_path / "flags"
    flags.mkdir()
    path = spec(
        tmp_path,
        "waiting.yaml",
        f"""
        nemorun: 1
        name: waiting
        pythonpath: ["."]
        task: {{_target_: waiting:work, flags: "{flags}"}}
        sweep:
          point: [0, 1, 2]
        """,
    )
    run = launch(path, max_parallel=3)
    _wait_for(lambda: all((flags / f"{p}.pid").exists() for p in range(3)))
    task_pid = int((flags / "1.pid").read_text())  # the Python process, a child of bash
    statuses = run.cancel_points([1])
    assert [(s.point, s.state) for s in statuses] == [
        (0, JobState.RUNNING),
        (1, JobState.CANCELLED),
        (2, JobState.RUNNING),
    ]
    assert not _same_process(task_pid, None)
    (flags / "go").touch()
    assert run.wait() is JobState.CANCELLED  # the run as a whole: one point cancelled
    assert [(s.point, s.state) for s in run.status()] == [
        (0, JobState.COMPLETED),
        (1, JobState.CANCELLED),
        (2, JobState.COMPLETED),
    ]
    logs = [line for _, line in run.logs()]
    assert "point 0 done" in logs and "point 2 done" in logs and "point 1 done" not in logs
    supervisor = int(run.record.jobs[0].extra["pid"])
    _wait_for(lambda: not _session_has_live_process(supervisor))  # it ends just after


def test_a_cancelled_point_that_has_not_started_never_starts(tmp_path: Path) -> None:
    (tmp_path / "waiting.py").write_text(WAITING_MODULE)
    flags = tmp_path / "flags"
    flags.mkdir()
    path = spec(
        tmp_path,
        "queued.yaml",
        f"""
        nemorun: 1
        name: queued
        pythonpath: ["."]
        task: {{_target_: waiting:work, flags: "{flags}"}}
        sweep:
          point: [0, 2, 3]
        """,
    )
    run = launch(path, max_parallel=1)  # one at a time: 2 and 3 wait for 0
    _wait_for(lambda: (flags / "0.pid").exists())
    statuses = run.cancel_points([1])  # sweep point 1: the value 2, not started yet
    assert [(s.point, s.state) for s in statuses] == [
        (0, JobState.RUNNING),
        (1, JobState.CANCELLED),
        (2, JobState.PENDING),
    ]
    (flags / "go").touch()
    run.wait()
    assert [(s.point, s.state) for s in run.status()] == [
        (0, JobState.COMPLETED),
        (1, JobState.CANCELLED),
        (2, JobState.COMPLETED),
    ]
    assert not (flags / "2.pid").exists() and (flags / "3.pid").exists()


def test_tasks_run_in_order_and_a_failed_dependency_stops_its_dependants(tmp_path: Path) -> None:
    order = tmp_path / "order.txt"
    path = spec(
        tmp_path,
        "pipe.yaml",
        f"""
        nemorun: 1
        name: pipe
        tasks:
          report:
            task: {{command: "echo report >> {order}"}}
            after: [train]
          train:
            task: {{command: "echo train >> {order}; exit 5"}}
            after: [prep]
          prep:
            task: {{command: "echo prep >> {order}"}}
          side:
            task: {{command: "echo side >> {order}"}}
        """,
    )
    run = launch(path, wait=True)
    assert order.read_text().split() == ["prep", "train", "side"]
    states = {s.id.split("/")[1]: (s.state, s.reason) for s in run.status()}
    assert states == {
        "prep": (JobState.COMPLETED, None),
        "train": (JobState.FAILED, "exit code 5"),
        "report": (JobState.FAILED, "dependency failed: train"),
        "side": (JobState.COMPLETED, None),
    }


def test_watch_streams_each_points_output_and_every_state_change(tmp_path: Path) -> None:
    path = spec(tmp_path, "two.yaml", "nemorun: 1\ntask: {command: 'echo one; echo two'}\n")
    run = launch(path)
    events = list(run.watch())
    lines = [e.text for e in events if isinstance(e, LogLine)]
    states = [s.state for e in events if isinstance(e, Progress) for s in e.changed]
    assert lines == ["one", "two"]
    assert states[-1] is JobState.COMPLETED


def test_a_pid_with_another_start_time_is_not_the_supervisor() -> None:
    me = os.getpid()
    started = process_start_time(me)
    assert started is not None
    assert _same_process(me, started)
    assert not _same_process(me, started + 1)  # the pid was reused by someone else


def test_status_does_not_trust_a_reused_pid(tmp_path: Path) -> None:
    """A run whose supervisor pid now belongs to another process (this one) is not running:
    with no exit status it ended badly, and cancel signals nobody."""
    path = spec(tmp_path, "fail.yaml", "nemorun: 1\ntask: {command: 'true'}\n")
    run = launch(path, wait=True)
    handle = run.handle()
    (handle.dir / "logs" / "fail.0.exit").unlink()  # as if it had been killed mid-way
    stranger = {"pid": os.getpid(), "start_time": (process_start_time(os.getpid()) or 0) + 1}
    handle.jobs = [JobRef(j.id, j.task, j.points, j.log, stranger) for j in handle.jobs]
    target = LocalTarget()
    [status] = target.status(handle)
    assert status.state is JobState.FAILED
    assert status.reason == "ended without an exit status (killed?)"
    target.cancel(handle)  # must not signal this process's group
    [status] = target.status(handle)
    assert status.state is JobState.CANCELLED


def test_the_supervisor_runs_nothing_without_a_record(tmp_path: Path) -> None:
    """A launch that gives up before writing run.json (its directory removed) leaves no job."""
    import shutil

    marker = tmp_path / "ran"
    path = spec(tmp_path, "job.yaml", f"nemorun: 1\ntask: {{command: 'touch {marker}'}}\n")
    loaded, _ = load_for_target(path)
    run_dir = tmp_path / "run"
    artifacts = compile_spec(loaded, run=RunContext("r1", run_dir))
    from nemorun.compiler.tasks import compile_tasks

    compile_tasks(loaded, run=RunContext("r1", run_dir)).write(run_dir / "artifacts")
    assert artifacts.logs["status"] == f"{run_dir}/logs/job.{{point}}.exit"
    target = LocalTarget()
    handle = RunHandle("r1", "job", run_dir, "local")
    handle.jobs = target.submit(handle)
    time.sleep(0.1)
    shutil.rmtree(run_dir)
    child = target._children["r1"]
    assert child.wait(timeout=10) == 0
    assert not marker.exists()


def test_the_local_artifact_of_a_run_writes_each_points_log_and_exit_status(
    tmp_path: Path,
) -> None:
    """Run by hand (no supervisor), the artifact still leaves what the launcher reads."""
    import subprocess

    loaded, _ = load_for_target(QUICKSTART, ["steps=2", "log_every=1", "seed=1,2"])
    run_dir = tmp_path / "run"
    artifacts = compile_spec(loaded, run=RunContext("r2", run_dir))
    main = artifacts.main.text
    assert "export NEMORUN_RUN_ID=r2\n" in main
    assert f"export NEMORUN_RUN_DIR={run_dir}\n" in main
    script = tmp_path / "job.sh"
    script.write_text(main)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # everything went to the logs
    for point in (0, 1):
        log = (run_dir / "logs" / f"quickstart.{point}.log").read_text()
        assert f"point={point}" in log and "step 2 loss" in log
        assert (run_dir / "logs" / f"quickstart.{point}.exit").read_text() == "0\n"


def test_a_supervisor_whose_launcher_is_already_gone_runs_nothing(tmp_path: Path) -> None:
    """The launcher died before the supervisor even looked at its parent: it must still see it."""
    import subprocess
    import sys

    from nemorun.launchers.local import SUPERVISOR

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    script = tmp_path / "job.sh"
    script.write_text(f"touch {run_dir}/ran\n")
    point = {name: str(run_dir / name) for name in ("log", "exit", "started", "cancel")}
    task = {"name": "task", "after": [], "script": str(script), "blocked": []}
    plan = {
        "cwd": str(tmp_path),
        "record": str(run_dir / "run.json"),
        "cancelled": str(run_dir / "cancelled"),
        "tasks": [{**task, "points": [{"point": 0, **point}]}],
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(SUPERVISOR), str(tmp_path / "plan.json"), str(gone.pid)],
        timeout=10,
    )
    assert done.returncode == 0
    assert sorted(p.name for p in run_dir.iterdir()) == []
