"""The resilience policy at compile time: the lines it adds to an sbatch script, the policies
refused at their key, and local retries (which need no cluster: the script is run here)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_cli_errors import assert_bad_input

from nemorun.compiler.retries import slurm_seconds

WriteSpec = Callable[[str, str], Path]
Cli = Callable[..., Any]

TASK = "{_target_: trainlib:train, model: {hidden_size: 8}, optim: {lr: 0.1}}"


def _spec(write_spec: WriteSpec, executor: str, more: str = "") -> Path:
    return write_spec(
        "exp.yaml",
        f"nemorun: 1\nname: exp\npythonpath: [{{examples}}]\ntask: {TASK}\n"
        f"executor: {{{executor}}}\n{more}",
    )


def test_slurm_times_in_seconds() -> None:
    cases = {1: 60, "1": 60, "10:00": 600, "04:00:00": 14400, "2-0": 172800, "1-02:03": 93780}
    for text, seconds in cases.items():
        assert slurm_seconds(text) == seconds, text
    assert slurm_seconds("UNLIMITED") is None and slurm_seconds(None) is None


def test_requeue_policy_sbatch_lines(write_spec: WriteSpec, cli: Cli) -> None:
    _spec(
        write_spec,
        "target: slurm, time: '04:00:00', retries: {max: 3}, "
        "checkpoint_signal: {signal: USR1, before: 300}",
    )
    result = cli("compile", "exp.yaml")
    assert result.code == 0, result.err
    directives = [line for line in result.out.splitlines() if line.startswith("#SBATCH")]
    assert directives[3:6] == [
        "#SBATCH --signal=B:USR1@300",
        "#SBATCH --requeue",
        "#SBATCH --open-mode=append",
    ]
    assert "nemorun_task() { exec srun " in result.out
    assert "trap nemorun_on_signal USR1" in result.out
    # on: the default is every reason Slurm can tell apart, failures aside
    assert 'case " timeout preempt node_fail " in' in result.out


@pytest.mark.parametrize(
    ("executor", "more", "error"),
    [
        (
            "target: slurm, time: 1, checkpoint_signal: {before: 60}",
            "",
            "exp.yaml:5:64: executor.checkpoint_signal.before: the signal would come at or "
            "before the job starts: executor.time is 60 s: expected fewer seconds than the "
            "time limit (60), found 60",
        ),
        (
            "target: kubernetes, retries: {max: 2}",
            "",
            "exp.yaml:5:41: executor.retries: target kubernetes cannot honour retries; drop it",
        ),
        (
            "target: local, retries: {on: [timeout]}",
            "",
            "exp.yaml:5:42: executor.retries.on[0]: target local cannot tell when an attempt "
            "ends by timeout: expected failed",
        ),
        (
            "target: slurm, retries: {on: [timeot]}",
            "",
            "exp.yaml:5:42: executor.retries.on[0]: not an allowed value: expected one of "
            "'timeout', 'preempt', 'node_fail', 'failed', found 'timeot' (a string); "
            "did you mean 'timeout'?",
        ),
        (
            "target: slurm, retries: {on: [timeout]}",
            "",
            "exp.yaml:5:42: executor.retries.on[0]: a job killed at its time limit cannot "
            "requeue itself: retrying a timeout needs a warning signal before the limit; "
            "add checkpoint_signal: {signal: USR1, before: 300}",
        ),
        (
            "target: slurm, checkpoint_signal: {before: 60}",
            "",
            "exp.yaml:5:46: executor.checkpoint_signal: a checkpoint signal comes a number of "
            "seconds before the time limit, and the job has none; set executor.time",
        ),
        (
            "target: local, checkpoint_signal: {before: 60}",
            "",
            "exp.yaml:5:46: executor.checkpoint_signal: target local has no time limit to "
            "signal the task before; drop checkpoint_signal",
        ),
        (
            "target: slurm, retries: {mode: chain}",
            "sweep: {task.steps: [1, 2]}\n",
            "exp.yaml:5:43: executor.retries.mode: mode chain queues whole jobs after whole "
            "jobs: it cannot retry the points of a sweep (a job array) one by one; use mode: "
            "requeue, which requeues each array element alone",
        ),
        (
            "target: slurm, time: 5, signal: USR2@30, checkpoint_signal: {before: 60}",
            "",
            "exp.yaml:5:44: executor.signal: the checkpoint_signal sets --signal; drop signal",
        ),
    ],
)
def test_impossible_policies_are_refused_at_their_key(
    write_spec: WriteSpec, cli: Cli, executor: str, more: str, error: str
) -> None:
    _spec(write_spec, executor, more)
    assert_bad_input(cli("validate", "exp.yaml"), error)


FLAKY = """\
import os
from pathlib import Path


def work(succeed_at: int) -> None:
    attempt = int(os.environ["NEMORUN_ATTEMPT"])
    seen = Path(os.environ.get("NEMORUN_POINT_DIR", ".")) / "attempts-seen"
    with seen.open("a") as out:
        out.write(f"{attempt}\\n")
    print(f"attempt {attempt}")
    raise SystemExit(0 if attempt >= succeed_at else 7)
"""


@pytest.mark.parametrize(("succeed_at", "state", "seen"), [(3, "completed", 3), (9, "failed", 4)])
def test_local_retries_rerun_a_failed_point(
    write_spec: WriteSpec, home: Path, cli: Cli, succeed_at: int, state: str, seen: int
) -> None:
    """The task fails until its attempt ``succeed_at``: it runs again, with NEMORUN_ATTEMPT,
    at most ``retries.max + 1`` times; status says how each attempt ended."""
    (home.parent / "retried.py").write_text(FLAKY)
    write_spec(
        "exp.yaml",
        f"nemorun: 1\nname: flaky\npythonpath: [{home.parent}]\n"
        f"task: {{_target_: retried:work, succeed_at: {succeed_at}}}\n"
        "executor: {target: local, retries: {max: 3}}\n",
    )
    launched = cli("launch", "exp.yaml", "--wait")
    assert launched.code == (0 if state == "completed" else 1), launched.err
    (run_dir,) = (p for p in (home / "nemorun-runs").iterdir() if not p.name.startswith("."))
    attempts = (run_dir / "points" / "0" / "attempts-seen").read_text().split()
    assert attempts == [str(n) for n in range(1, seen + 1)]
    status = cli("status", run_dir.name)
    row = status.out.splitlines()[2].split(None, 4)
    assert row[2:4] == [state, f"{seen}/4"]
    ends = [f"attempt {n}: failed, exit 7, retried" for n in range(1, seen)]
    last = "completed" if state == "completed" else "failed, exit 7, no retries left"
    assert row[4].startswith("; ".join([*ends, f"attempt {seen}: {last}"]))
    log = (run_dir / "logs" / "flaky.0.log").read_text()
    assert log.count("=== nemorun: attempt ") == 2 * seen  # each attempt starts and ends


def test_a_compiled_local_script_retries_without_a_run(
    write_spec: WriteSpec, workdir: Path, cli: Cli
) -> None:
    (workdir / "retried.py").write_text(FLAKY)
    write_spec(
        "exp.yaml",
        f"nemorun: 1\nname: flaky\npythonpath: [{workdir}]\n"
        "task: {_target_: retried:work, succeed_at: 2}\n"
        "executor: {target: local, retries: {max: 1}}\n",
    )
    script = cli("compile", "exp.yaml")
    assert script.code == 0, script.err
    (workdir / "job.sh").write_text(script.out)
    env = {k: v for k, v in os.environ.items() if k != "NEMORUN_POINT_DIR"}
    ran = subprocess.run(
        ["bash", "job.sh"], cwd=workdir, capture_output=True, text=True, timeout=60, env=env
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["attempt", "1", "attempt", "2"]
    assert "=== nemorun: attempt 1/2 failed, retried ===" in ran.stderr
