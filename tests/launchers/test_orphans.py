"""A launch stopped between submitting jobs and recording them leaves no untracked job:
TERM (and INT, HUP) cancels what was submitted; after KILL, the journal names the jobs and
``nemorun ls`` says how to stop them.

The jobs go to the real test Slurm. To stop the launch inside that window every time, the
``sbatch`` first on PATH is a wrapper: the first submission runs the real sbatch, the second
(the second task) waits, as a slow controller would."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT


def real_sbatch() -> str:
    sbatch = shutil.which("sbatch")
    assert sbatch is not None  # the slurm_cluster fixture found the test cluster
    return sbatch


def setup(tmp_path: Path) -> tuple[Path, dict[str, str], str]:
    real = real_sbatch()
    name = f"orphan-{uuid.uuid4().hex[:8]}"
    spec = tmp_path / "two.yaml"
    spec.write_text(
        f"nemorun: 1\nname: {name}\nexecutor: {{target: slurm}}\n"
        "tasks:\n  a: {task: {command: 'sleep 120'}}\n"
        "  b: {task: {command: 'true'}, after: [a]}\n",
        encoding="utf-8",
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(
        "#!/bin/sh\n"
        # The launch's preflight (sbatch --test-only) submits nothing: always the real one.
        f'case " $* " in *" --test-only "*) exec "{real}" "$@";; esac\n'
        f'if [ -e "{tmp_path}/first" ]; then touch "{tmp_path}/second"; exec sleep 600; fi\n'
        f'touch "{tmp_path}/first"\nexec "{real}" "$@"\n'
    )
    (bin_dir / "sbatch").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "NEMORUN_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
    }
    return spec, env, name


def launch_until_second_submit(
    spec: Path, env: dict[str, str], tmp_path: Path
) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "nemorun.cli", "launch", str(spec)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "second").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the second sbatch never started"
        time.sleep(0.1)
    return proc


def runs_in(root: Path) -> list[Path]:
    """The run directories (not the hidden marks of launches in progress)."""
    return [p for p in root.iterdir() if not p.name.startswith(".")]


def job_states(name: str) -> list[str]:
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "--name", f"{name}-a", "-o", "State"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_launch_cancels_what_it_submitted(
    tmp_path: Path, sig: signal.Signals, slurm_cluster: dict[str, str]
) -> None:
    spec, env, name = setup(tmp_path)
    proc = launch_until_second_submit(spec, env, tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert runs_in(tmp_path / "home" / "nemorun-runs") == []
    deadline = time.monotonic() + 30
    while job_states(name) != ["CANCELLED"]:
        assert time.monotonic() < deadline, job_states(name)
        time.sleep(0.5)


@pytest.mark.slow
def test_a_killed_launch_leaves_a_journal_that_ls_reports(
    tmp_path: Path, slurm_cluster: dict[str, str]
) -> None:
    spec, env, _ = setup(tmp_path)
    proc = launch_until_second_submit(spec, env, tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    [run_dir] = runs_in(tmp_path / "home" / "nemorun-runs")
    journal = (run_dir / "submitted.jsonl").read_text()
    job_id = journal.split('"id": "')[1].split('"')[0]
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "nemorun.cli", "ls"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0
        assert f"submitting slurm job(s) {job_id} and before recording them" in listed.stderr
        assert f"scancel {job_id}" in listed.stderr
    finally:
        subprocess.run(["scancel", job_id], capture_output=True, timeout=30)
