"""Followers back off (`nemorun.launchers.polling`): the delays between looks, and the number of
scheduler calls one ``nemorun logs -f`` of a held Slurm job makes (wrappers on PATH count the
real commands)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from launchers.test_run_listing import counting_path

from nemorun.launchers.base import JobState, JobStatus
from nemorun.launchers.polling import FIRST, PENDING_MAX, RUNNING_MAX, Backoff

P, R, C = JobState.PENDING, JobState.RUNNING, JobState.COMPLETED


def delays(answers: list[list[JobState]]) -> list[float]:
    backoff = Backoff()
    out = []
    for states in answers:
        backoff.answered([JobStatus(f"1_{i}", s) for i, s in enumerate(states)], now=0.0)
        out.append(round(backoff.delay, 3))
    return out


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([[P]] * 4, [1.0, 1.5, 2.25, 3.375]),
        ([[P, P]] * 12, [min(FIRST * 1.5**i, PENDING_MAX) for i in range(12)]),
        ([[R]] * 8, [min(FIRST * 1.5**i, RUNNING_MAX) for i in range(8)]),
        ([[P, R]] * 8, [min(FIRST * 1.5**i, RUNNING_MAX) for i in range(8)]),
        ([[P], [P], [P], [R], [R], [C]], [1.0, 1.5, 2.25, 1.0, 1.5, 1.0]),
    ],
)
def test_delays_grow_while_nothing_changes_and_start_again_at_a_change(
    answers: list[list[JobState]], expected: list[float]
) -> None:
    assert delays(answers) == [round(e, 3) for e in expected]


def test_a_fresh_answer_is_reused_until_it_is_due() -> None:
    backoff = Backoff()
    assert backoff.fresh(now=0.0) is None
    answer = [JobStatus("1", P)]
    backoff.answered(answer, now=10.0)
    assert backoff.fresh(now=10.5) is answer
    assert backoff.fresh(now=11.0) is None


@pytest.mark.slow
def test_following_a_held_job_asks_slurm_a_handful_of_times(
    slurm_cluster: dict[str, str], tmp_path: Path
) -> None:
    """12 s of ``logs -f`` on a held job: asked at once, then after 1, 1.5, 2.25, 3.4 s… (at
    most 5 queries: 7 calls leave room), where asking every second made 11 (``launch --wait``:
    more)."""
    spec = tmp_path / "held.yaml"
    spec.write_text(
        "nemorun: 1\nname: held\ntask: {command: 'echo never'}\n"
        "executor: {target: slurm, extra: {hold: true}}\n"
    )
    env = {**os.environ, "NEMORUN_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    run_id = subprocess.run(
        [sys.executable, "-m", "nemorun.cli", "launch", str(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    log = tmp_path / "calls.log"
    log.touch()
    follow = subprocess.Popen(
        [sys.executable, "-m", "nemorun.cli", "logs", run_id, "-f"],
        env={**env, "PATH": counting_path(tmp_path / "bin", log)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(12)
        assert follow.poll() is None  # still following the held job
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=30)
        subprocess.run([sys.executable, "-m", "nemorun.cli", "cancel", run_id], env=env, timeout=60)
    calls = log.read_text().split()
    assert 1 <= len(calls) <= 7, calls
