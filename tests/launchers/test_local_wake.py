"""The local target wakes on its supervisor's exit rather than on a polling beat: waiting for a
change returns when the run ends (long before the timeout asked for), and returns after the
timeout while it runs; following the logs ends with the run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nemorun.api_runs import launch
from nemorun.launchers.base import JobState

pytestmark = pytest.mark.usefixtures("home")
LONG = 60.0  # a wait that would fail the test if it were waited out


def spec(tmp_path: Path, command: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(f"nemorun: 1\ntask: {{command: '{command}'}}\n")
    return path


def test_waiting_for_a_change_ends_when_the_supervisor_exits(tmp_path: Path) -> None:
    run = launch(spec(tmp_path, "sleep 0.5; echo done"))
    start = time.monotonic()
    while run.status()[0].state is not JobState.COMPLETED:
        run.target.wait_for_change(run.handle(), LONG)
        assert time.monotonic() - start < LONG / 2, "woke by the timeout, not by the exit"
    assert run.status()[0].state is JobState.COMPLETED


def test_waiting_on_a_running_job_waits_out_the_timeout(tmp_path: Path) -> None:
    run = launch(spec(tmp_path, "sleep 30"))
    try:
        start = time.monotonic()
        run.target.wait_for_change(run.handle(), 0.3)
        assert time.monotonic() - start >= 0.3
        assert run.status()[0].state in (JobState.PENDING, JobState.RUNNING)
    finally:
        run.cancel()


def test_watch_and_followed_logs_end_with_the_run(tmp_path: Path) -> None:
    run = launch(spec(tmp_path, "echo one; sleep 0.3; echo two"))
    events = list(run.watch(interval=LONG))
    lines = [e.text for e in events if hasattr(e, "text")]
    assert lines == ["one", "two"]
    assert run.status()[0].state is JobState.COMPLETED
    assert [line for _, line in run.logs(follow=True)] == ["one", "two"]
