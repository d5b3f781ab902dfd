"""A launch stopped between submitting jobs and recording them leaves no untracked job:
TERM (and INT, HUP) cancels what was submitted; after KILL, the journal names the jobs and
``nemorun ls`` says how to stop them.

The jobs go to the real test Slurm. To stop the launch inside that window every time, the
``sbatch`` first on PATH is a wrapper: the first submission runs the real sbatch, the second
(the second task) waits, as a slow controller would."""

from __future__ import annotations

import contextlib
import json
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


def ls(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``nemorun ls`` as a user runs it, in ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "nemorun.cli", "ls"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


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
        listed = ls(env)
        assert listed.returncode == 0
        assert f"submitting slurm job(s) {job_id} and before recording them" in listed.stderr
        assert f"scancel {job_id}" in listed.stderr
    finally:
        subprocess.run(["scancel", job_id], capture_output=True, timeout=30)


def test_tags_found_in_squeue_output() -> None:
    from nemorun.launchers.slurm_states import run_tag, tagged

    text = (
        "12|nemorun-run=20261202-1-a-000001\n"
        "13_[0-3]|my note nemorun-run=20261202-1-a-000001\n"
        "14|(null)\n"
        "15|nemorun-run=20261202-1-b-000002\n"
    )
    assert tagged(text, [run_tag("20261202-1-a-000001")]) == {
        "nemorun-run=20261202-1-a-000001": ["12", "13_[0-3]"]
    }


def comments(run_ids: list[str]) -> dict[str, str]:
    """The live test-cluster jobs (id → comment) tagged with one of ``run_ids`` (squeue:
    accounting keeps comments only with ``AccountingStoreFlags=job_comment``)."""
    out = subprocess.run(
        ["squeue", "-h", "-a", "-o", "%i|%k"],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    found = {}
    for line in out.splitlines():
        job, _, comment = line.partition("|")
        if any(f"nemorun-run={run_id}" in comment.split() for run_id in run_ids):
            found[job.split("_")[0]] = comment
    return found


@pytest.mark.slow
def test_launches_killed_at_random_moments_leave_no_untracked_job(
    tmp_path: Path, slurm_cluster: dict[str, str]
) -> None:
    """SIGKILL at seeded random moments of a two-task launch (the real sbatch, no wrapper):
    every job the cluster took carries its run's id and is either in that run's record or
    named by ``nemorun ls``, with the command that stops it."""
    import random

    spec, env, _ = setup(tmp_path)
    env["PATH"] = env["PATH"].split(":", 1)[1]  # the real sbatch only
    spec.write_text(
        spec.read_text().replace(
            "executor: {target: slurm}", "executor: {target: slurm, comment: mine}"
        )
    )
    root = tmp_path / "home" / "nemorun-runs"
    try:
        # One launch to its end says how long one takes on this machine now; the kills land
        # from a third of that to just past it.
        started = time.monotonic()
        whole = subprocess.run(
            [sys.executable, "-m", "nemorun.cli", "launch", str(spec)],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert whole.returncode == 0, whole.stderr
        took = time.monotonic() - started
        moments = [took * random.Random(10 + i).uniform(0.3, 1.05) for i in range(8)]
        for moment in moments:
            proc = subprocess.Popen(
                [sys.executable, "-m", "nemorun.cli", "launch", str(spec)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            time.sleep(moment)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        run_ids = [p.name for p in runs_in(root)] if root.is_dir() else []
        listed = ls(env)
        assert listed.returncode == 0, listed.stderr
        recorded = {
            job["id"]
            for run_id in run_ids
            if (root / run_id / "run.json").is_file()
            for job in json.loads((root / run_id / "run.json").read_text())["jobs"]
        }
        jobs = comments(run_ids)
        assert jobs, "no launch got as far as submitting: the moments are too early"
        for job, comment in jobs.items():
            assert comment.startswith("mine nemorun-run="), comment  # the spec's own comment kept
            tracked = (
                job in recorded
                or f"scancel {job}" in listed.stderr
                or (f" {job} " in listed.stderr)
            )
            assert tracked, (job, comment, listed.stderr)
    finally:
        for job in comments([p.name for p in runs_in(root)] if root.is_dir() else []):
            subprocess.run(["scancel", job], capture_output=True, timeout=30)


@pytest.mark.slow
def test_a_job_taken_but_not_journaled_is_found_by_its_tag(
    tmp_path: Path, slurm_cluster: dict[str, str]
) -> None:
    """The narrowest window: the controller took the job, sbatch has not returned its id yet
    (this wrapper runs the real sbatch, then hangs), and the launch is killed. Only the run
    id in the job's comment can find it: ``ls`` does, and says how to stop it."""
    spec, env, _ = setup(tmp_path)
    real = real_sbatch()
    (tmp_path / "bin" / "sbatch").write_text(
        "#!/bin/sh\n"
        f'case " $* " in *" --test-only "*) exec "{real}" "$@";; esac\n'
        f'"{real}" "$@" > "{tmp_path}/taken"\ntouch "{tmp_path}/second"\nexec sleep 600\n'
    )
    proc = launch_until_second_submit(spec, env, tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    job_id = (tmp_path / "taken").read_text().strip().split(";")[0]
    [run_dir] = runs_in(tmp_path / "home" / "nemorun-runs")
    assert '"id"' not in (run_dir / "submitted.jsonl").read_text()  # never journaled
    try:
        listed = ls(env)
        assert listed.returncode == 0
        assert f"submitting slurm job(s) {job_id} and before recording them" in listed.stderr
        assert f"scancel {job_id}" in listed.stderr
    finally:
        subprocess.run(["scancel", job_id], capture_output=True, timeout=30)
