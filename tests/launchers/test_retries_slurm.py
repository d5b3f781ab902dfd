"""Retries on the real test Slurm: requeue after the checkpoint signal (per array element),
preemption (``scancel --signal=USR1 --batch``, then ``scontrol requeue``), and mode chain.

Every scenario is launched at once by one module fixture so that their waits overlap. The
jobs have a 1-minute limit with the signal 30 s before it; Slurm sends it up to a minute early,
so the signal comes within the first 30 s. Slurm holds a requeued job ~2 minutes before it may
start again (its BeginTime); the fixture releases the jobs it submitted as soon as they are
requeued (``scontrol update StartTime=now``) so the test is not spent waiting.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from conftest import needs_slurm, nemorun

pytestmark = [needs_slurm, pytest.mark.slow]

TASK = '''\
"""Saves a checkpoint on SIGUSR1 and exits; the next attempt resumes from it."""
import os, signal, sys, time
from pathlib import Path


def work(finish_at: int = 3, seconds: int = 600, fail: bool = False) -> None:
    attempt = int(os.environ["NEMORUN_ATTEMPT"])
    checkpoint = Path(os.environ["NEMORUN_POINT_DIR"]) / "checkpoint"
    resumed = checkpoint.read_text() if checkpoint.exists() else "nothing"
    print(f"attempt {attempt} resumes from {resumed}", flush=True)

    def save(signum, frame):
        checkpoint.write_text(f"checkpoint {attempt}")
        print(f"attempt {attempt} saved a checkpoint", flush=True)
        sys.exit(3)

    signal.signal(signal.SIGUSR1, save)
    if fail:
        sys.exit(5)
    if attempt >= finish_at:
        print(f"attempt {attempt} finished", flush=True)
        return
    time.sleep(seconds)
'''
SIGNAL_30 = "checkpoint_signal: {signal: USR1, before: 30}, time: 1"
SPECS = {  # name: (executor options, other top-level keys)
    "timeout": (
        f"retries: {{max: 2, on: [timeout]}}, {SIGNAL_30}",
        "sweep: {task.seconds: [600, 601]}",
    ),
    "preempt": (
        "retries: {max: 2, on: [preempt]}, checkpoint_signal: {before: 60}, time: '10:00'",
        "",
    ),
    "chain": (f"retries: {{max: 2, on: [timeout], mode: chain}}, {SIGNAL_30}", ""),
    "failing": (f"retries: {{max: 2, on: [timeout], mode: chain}}, {SIGNAL_30}", "fail: true"),
}


def _spec(directory: Path, name: str) -> Path:
    options, more = SPECS[name]
    task = (
        "{_target_: retrytask:work, fail: true}"
        if more == "fail: true"
        else ("{_target_: retrytask:work}")
    )
    sweep = more if more.startswith("sweep") else ""
    path = directory / f"{name}.yaml"
    path.write_text(
        f"nemorun: 1\nname: {name}\npythonpath: [{directory}]\ntask: {task}\n"
        f"executor: {{target: slurm, {options}}}\n{sweep}\n"
    )
    return path


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return nemorun(*args, NEMORUN_HOME=str(home), timeout=60)


def _status(home: Path, run: str) -> dict[str, Any]:
    result = _cli(home, "status", run, "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _queue(ids: list[str]) -> dict[str, str]:
    """Our jobs still in the queue: id → ``STATE REASON``."""
    result = subprocess.run(
        ["squeue", "-h", "-r", "-j", ",".join(ids), "-o", "%i %T %r"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    return {w[0]: " ".join(w[1:]) for w in (line.split() for line in result.stdout.splitlines())}


def _job_ids(run_dir: Path) -> list[str]:
    """The run's Slurm jobs, a chain's later attempts too."""
    jobs = json.loads((run_dir / "run.json").read_text())["jobs"]
    return [i for j in jobs for i in (j["id"], *j["extra"].get("chain", []))]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Launch every scenario, then drive them to their end: release requeued jobs, preempt
    the ``preempt`` run's first two attempts (by signal, then by ``scontrol requeue``), and
    note what ``ls`` said while a job waited for its second attempt."""
    directory = tmp_path_factory.mktemp("retries")
    home = directory / "home"
    (directory / "retrytask.py").write_text(TASK)
    runs: dict[str, str] = {}
    for name in SPECS:
        launched = _cli(home, "launch", str(_spec(directory, name)))
        assert launched.returncode == 0, launched.stderr
        runs[name] = launched.stdout.split()[0]
    ids = {n: _job_ids(home / "nemorun-runs" / r) for n, r in runs.items()}
    preempt_id = ids["preempt"][0]
    preempt_log = next((home / "nemorun-runs" / runs["preempt"] / "logs").glob("*.out"), None)
    mine = sorted({i for v in ids.values() for i in v})
    seen_ls: list[str] = []
    preempted = 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        queue = _queue(mine)
        if not queue:
            break
        held = [i for i, s in queue.items() if s == "PENDING BeginTime"]
        if held and not seen_ls:
            seen_ls.append(_cli(home, "ls").stdout)
        for job in held:
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], timeout=30)
        preempt_log = preempt_log or next(
            (home / "nemorun-runs" / runs["preempt"] / "logs").glob("*.out"), None
        )
        text = preempt_log.read_text() if preempt_log else ""
        running = queue.get(preempt_id, "").startswith("RUNNING")
        if running and preempted == 0 and "attempt 1 resumes" in text:
            subprocess.run(["scancel", "--signal=USR1", "--batch", preempt_id], timeout=30)
            preempted = 1
        elif running and preempted == 1 and "attempt 2 resumes" in text:
            subprocess.run(["scontrol", "requeue", preempt_id], timeout=30)
            preempted = 2
        time.sleep(1)
    else:
        subprocess.run(["scancel", *mine], timeout=30)
        pytest.fail(f"the scenarios did not end in 300 s: {_queue(mine)}")
    return {"home": home, "runs": runs, "ls": seen_ls}


def _logs(scenarios: dict[str, Any], name: str) -> dict[str, str]:
    logs = scenarios["home"] / "nemorun-runs" / scenarios["runs"][name] / "logs"
    return {p.name: p.read_text() for p in sorted(logs.glob("*.out"))}


def test_timeout_requeues_each_array_element_until_the_third_attempt_finishes(
    scenarios: dict[str, Any],
) -> None:
    status = _status(scenarios["home"], scenarios["runs"]["timeout"])
    assert status["status"] == "completed"
    assert [(j["state"], j["attempt"], j["attempts"]) for j in status["jobs"]] == [
        ("completed", 3, 3),
        ("completed", 3, 3),
    ]
    assert status["jobs"][0]["reason"] == (
        "attempt 1: timeout, requeued; attempt 2: timeout, requeued; attempt 3: completed"
    )
    logs = _logs(scenarios, "timeout")
    assert len(logs) == 2  # one log per element, every attempt appended to it
    for text in logs.values():
        assert "attempt 1 resumes from nothing" in text
        assert "attempt 2 resumes from checkpoint 1" in text
        assert "attempt 3 resumes from checkpoint 2" in text
        assert "attempt 3 finished" in text
        for marker in (
            "attempt 1/3 started", "attempt 1/3 ended: timeout, requeued",
            "attempt 2/3 started", "attempt 2/3 ended: timeout, requeued",
            "attempt 3/3 started", "attempt 3/3 ended: completed",
        ):  # fmt: skip
            assert f"=== nemorun: {marker} (job " in text


def test_ls_shows_the_attempt_of_a_requeued_run(scenarios: dict[str, Any]) -> None:
    (listing,) = scenarios["ls"]
    assert "(attempt 2/3)" in listing


def test_preemption_by_signal_and_by_requeue(scenarios: dict[str, Any]) -> None:
    status = _status(scenarios["home"], scenarios["runs"]["preempt"])
    (job,) = status["jobs"]
    assert (status["status"], job["attempt"], job["attempts"]) == ("completed", 3, 3)
    assert job["reason"] == (
        "attempt 1: preempt, requeued; attempt 2: no word from the job: ended from outside "
        "(node failure, preemption, kill); attempt 3: completed"
    )
    (text,) = _logs(scenarios, "preempt").values()
    assert "attempt 1 saved a checkpoint" in text
    assert "attempt 2 resumes from checkpoint 1" in text
    assert "attempt 3 resumes from checkpoint 1" in text  # the requeue gave no warning
    assert "attempt 3 finished" in text


def test_chain_runs_each_attempt_as_its_own_job(scenarios: dict[str, Any]) -> None:
    status = _status(scenarios["home"], scenarios["runs"]["chain"])
    (job,) = status["jobs"]
    assert (status["status"], job["attempt"], job["attempts"]) == ("completed", 3, 3)
    assert job["reason"] == (
        "attempt 1: timeout, the next attempt follows; attempt 2: timeout, the next attempt "
        "follows; attempt 3: completed"
    )
    (text,) = _logs(scenarios, "chain").values()  # every attempt writes to the first's log
    assert "attempt 2 resumes from checkpoint 1" in text
    assert "attempt 3 resumes from checkpoint 2" in text
    ids = {line.split("(job ")[1].split()[0] for line in text.splitlines() if "(job " in line}
    assert len(ids) == 3


def test_chain_attempt_that_fails_for_a_reason_not_retried_cancels_the_rest(
    scenarios: dict[str, Any],
) -> None:
    status = _status(scenarios["home"], scenarios["runs"]["failing"])
    (job,) = status["jobs"]
    assert (status["status"], job["attempt"]) == ("failed", 1)
    assert job["reason"].startswith("attempt 1: failed, not retried")
    (text,) = _logs(scenarios, "failing").values()
    assert "attempt 2" not in text


def test_a_task_after_a_chained_task_is_refused_and_nothing_is_left_queued(
    tmp_path: Path,
) -> None:
    name = f"pipe{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "pipe.yaml"
    spec.write_text(
        f"nemorun: 1\nname: {name}\ntasks:\n"
        "  train:\n    task: {command: 'sleep 30'}\n"
        "    executor: {target: slurm, time: 1, retries: {max: 1, on: [failed], mode: chain}}\n"
        "  report:\n    task: {command: 'echo done'}\n    after: [train]\n"
        "    executor: {target: slurm}\n"
    )
    result = _cli(tmp_path / "home", "launch", str(spec), "--no-preflight")
    assert result.returncode == 1
    assert "task report comes after train, whose attempts are chained" in result.stderr
    queued = subprocess.run(
        ["squeue", "-h", "-t", "all", "-n", f"{name}-train", "-o", "%T"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()  # fmt: skip
    assert queued in ([], ["CANCELLED"])  # the first attempt, submitted, then cancelled
