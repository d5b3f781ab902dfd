"""Launching to a remote cluster over ssh, for real: the test sshd (tests/infra/sshd.sh) on
127.0.0.1 is the login node of the test Slurm, and a ``clusters.yaml`` profile names it.

Every scenario is submitted at once by the module's fixture so the waits overlap: a snapshot
job (its code changed locally right after launch), a 4-point sweep, a job to cancel, a job whose
log is named by node and user (``%N``, ``%u``). The jobs must have run as the remote user, from
the shipped code, with the values the spec gave.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nemorun.launchers.records import journal_intent
from nemorun.launchers.slurm_commands import run_command
from nemorun.launchers.slurm_query import FRAME, Replay, ask_remote, query, unframe
from nemorun.launchers.slurm_states import run_tag
from tests.conftest import nemorun

REMOTE_DIR = f"nemorun-tests-{uuid.uuid4().hex[:8]}"
"""The remote directory of this test run's records and logs (removed at the end)."""
HOSTILE = "a'b\"c $(touch /tmp/pwned) `id` \\ ; | & * ~ {x} \t é"
SNAPLIB = """\
import getpass, os, sys
VERSION = "v1"

def report(tag: str, steps: int = 1) -> None:
    print(f"user={getpass.getuser()} version={VERSION} steps={steps}")
    print("tag=" + repr(tag))
    print("env=" + repr(os.environ.get("HOSTILE")))
    sys.stdout.flush()
    if steps > 1000:
        import time
        time.sleep(steps)
"""
SPEC = """\
nemorun: 1
name: snap
pythonpath: [.]
packager: git
executor: {{target: slurm, cluster: loop, env: {{HOSTILE: {hostile}}}}}
task:
  _target_: snaplib:report
  tag: {hostile}
"""

NODELOG = """\
nemorun: 1
name: nodelog
task: {command: 'echo nodelog-ran'}
executor: {target: slurm, cluster: loop, output: 'logs/%x-%N-%u.out'}
"""


def profile(sshd: dict[str, str], name: str, **extra: object) -> str:
    lines = [
        f"  {name}:",
        "    host: nemorun-test",
        f"    ssh_config: {sshd['dir']}/ssh_config",
        f"    remote_dir: /home/{sshd['user']}/{REMOTE_DIR}",
        "    defaults: {time: '00:05:00'}",
    ]
    lines += [f"    {key}: {value}" for key, value in extra.items()]
    return "\n".join(lines)


def env_for(tmp: Path) -> dict[str, str]:
    """The environment of a user whose config and records are under ``tmp``, with a socket
    directory of their own (short: a socket's path must fit 107 bytes)."""
    return {
        "XDG_CONFIG_HOME": str(tmp / "config"),
        "NEMORUN_HOME": str(tmp / "home"),
        "NEMORUN_SSH_DIR": tempfile.mkdtemp(prefix="nrssh-"),
    }


def run_ok(*args: str, cwd: Path, env: dict[str, str]) -> str:
    result = nemorun(*args, cwd=cwd, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_done(run: str, cwd: Path, env: dict[str, str], timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        data = json.loads(run_ok("status", run, "--json", cwd=cwd, env=env))
        if data["status"] in ("completed", "failed", "cancelled") or time.monotonic() > deadline:
            return data
        time.sleep(1)


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def remote(sshd_server: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    started = time.time()
    tmp = tmp_path_factory.mktemp("remote")
    (tmp / "config" / "nemorun").mkdir(parents=True)
    (tmp / "config" / "nemorun" / "clusters.yaml").write_text(
        "clusters:\n" + profile(sshd_server, "loop") + "\n"
    )
    project = tmp / "project"
    (project / "snaplib").mkdir(parents=True)
    (project / "snaplib" / "__init__.py").write_text(SNAPLIB)
    (project / "spec.yaml").write_text(SPEC.format(hostile=json.dumps(HOSTILE)))
    (project / "nodelog.yaml").write_text(NODELOG)
    git(project, "init", "-q")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    env = env_for(tmp)
    runs = {
        "snap": run_ok("launch", "spec.yaml", cwd=project, env=env).strip(),
        "sweep": run_ok("launch", "spec.yaml", "steps=1,2,3,4", cwd=project, env=env).strip(),
        "long": run_ok("launch", "spec.yaml", "steps=3000", cwd=project, env=env).strip(),
        "nodelog": run_ok("launch", "nodelog.yaml", cwd=project, env=env).strip(),
    }
    # The local tree changes after the launch: the jobs must run the snapshot.
    (project / "snaplib" / "__init__.py").write_text(SNAPLIB.replace('"v1"', '"v2"'))
    yield {"tmp": tmp, "project": project, "env": env, "runs": runs, "sshd": sshd_server}
    for sockets in Path(tempfile.gettempdir()).glob("nrssh-*"):  # the connections opened
        if sockets.stat().st_mtime >= started:
            nemorun(
                "cluster", "logout", "loop", cwd=project, **{**env, "NEMORUN_SSH_DIR": str(sockets)}
            )
            shutil.rmtree(sockets, ignore_errors=True)
    shutil.rmtree(f"/home/{sshd_server['user']}/{REMOTE_DIR}", ignore_errors=True)


def test_the_job_ran_as_the_remote_user_from_the_shipped_snapshot(remote: dict) -> None:
    project, env = remote["project"], remote["env"]
    run = remote["runs"]["snap"]
    assert wait_done(run, project, env)["status"] == "completed"
    logs = run_ok("logs", run, cwd=project, env=env)
    assert f"user={remote['sshd']['user']} version=v1 steps=1" in logs
    assert "tag=" + repr(HOSTILE) in logs  # an argument, byte-exact through ssh and sbatch
    assert "env=" + repr(HOSTILE) in logs  # an environment value too
    record = json.loads(next((Path(env["NEMORUN_HOME"]) / "nemorun-runs").glob(run))
                        .joinpath("run.json").read_text())  # fmt: skip
    assert record["cluster"]["name"] == "loop"
    assert record["jobs"][0]["id"].isdigit()
    assert not Path("/tmp/pwned").exists()


def test_a_sweep_reads_every_point_and_follows_its_logs(remote: dict) -> None:
    project, env = remote["project"], remote["env"]
    run = remote["runs"]["sweep"]
    followed = run_ok("logs", run, "-f", cwd=project, env=env)
    status = wait_done(run, project, env)
    assert [j["state"] for j in status["jobs"]] == ["completed"] * 4
    for steps in (1, 2, 3, 4):
        assert f"version=v1 steps={steps}" in followed
    assert followed.count("==> ") == 4  # one header per point, none for empty stderr
    # the follow's tail on the login node ended with it (sshd does not signal it)
    deadline = time.monotonic() + 10
    while _tails(remote["sshd"]["user"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _tails(remote["sshd"]["user"]) == []


def _tails(user: str) -> list[str]:
    found = subprocess.run(["pgrep", "-u", user, "-x", "tail"], capture_output=True, text=True)
    return found.stdout.split()


def test_cancel_then_rerun(remote: dict) -> None:
    project, env = remote["project"], remote["env"]
    run = remote["runs"]["long"]
    deadline = time.monotonic() + 60
    while "running" not in run_ok("status", run, cwd=project, env=env):
        assert time.monotonic() < deadline, "the long job never started"
        time.sleep(1)
    run_ok("cancel", run, cwd=project, env=env)
    assert wait_done(run, project, env)["status"] == "cancelled"
    again = run_ok("rerun", remote["runs"]["snap"], cwd=project, env=env).strip()
    assert wait_done(again, project, env)["status"] == "completed"
    assert "user=" + remote["sshd"]["user"] in run_ok("logs", again, cwd=project, env=env)


def test_a_launch_and_ten_status_calls_open_one_ssh_connection(remote: dict) -> None:
    project, tmp = remote["project"], remote["tmp"]
    env = env_for(tmp)  # a fresh socket directory: no connection open yet
    log = Path(remote["sshd"]["dir"]) / "sshd.log"
    before = log.read_text().count("Connection from")
    run = run_ok("launch", "spec.yaml", "--no-preflight", cwd=project, env=env).strip()
    for _ in range(10):
        run_ok("status", run, cwd=project, env=env)
    assert log.read_text().count("Connection from") - before == 1


def test_unreachable_host_and_wrong_host_key_fail_clearly(remote: dict, tmp_path: Path) -> None:
    project, sshd = remote["project"], remote["sshd"]
    closed = subprocess.run(
        ["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); "
         "print(s.getsockname()[1])"], capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (tmp_path / "known_hosts").write_text(
        f"[127.0.0.1]:{sshd['port']} ssh-ed25519 "
        "AAAAC3NzaC1lZDI1NTE5AAAAIDBKbKJVT+T1UB4/hxcmTmhJl1QmyMT5S7oX3kFbA5J6\n"
    )
    (tmp_path / "ssh_config").write_text(
        f"Host *\n  User {sshd['user']}\n  IdentityFile {sshd['dir']}/id\n"
        f"  UserKnownHostsFile {tmp_path}/known_hosts\n"
    )
    (tmp_path / "config" / "nemorun").mkdir(parents=True)
    (tmp_path / "config" / "nemorun" / "clusters.yaml").write_text(
        "clusters:\n"
        f"  down: {{host: 127.0.0.1, port: {closed}, remote_dir: /tmp/x}}\n"
        f"  badkey: {{host: 127.0.0.1, port: {sshd['port']}, remote_dir: /tmp/x,"
        f" ssh_config: {tmp_path}/ssh_config}}\n"
    )
    env = env_for(tmp_path)
    for name, said in (("down", "Connection refused"), ("badkey", "Host key verification failed")):
        started = time.monotonic()
        result = nemorun("launch", "spec.yaml", "--cluster", name, cwd=project, timeout=60, **env)
        assert result.returncode == 1
        assert result.stderr.startswith(f"error: cannot reach cluster {name} (127.0.0.1): ")
        assert said in result.stderr and "Traceback" not in result.stderr
        assert time.monotonic() - started < 30
    assert not (tmp_path / "home" / "nemorun-runs").exists() or not list(
        p for p in (tmp_path / "home" / "nemorun-runs").iterdir() if not p.name.startswith(".")
    )


def test_a_bad_profile_is_a_located_error(remote: dict, tmp_path: Path) -> None:
    (tmp_path / "config" / "nemorun").mkdir(parents=True)
    (tmp_path / "config" / "nemorun" / "clusters.yaml").write_text(
        "clusters:\n  loop:\n    host: nemorun-test\n    remote_dir: relative/dir\n    prot: 22\n"
    )
    env = env_for(tmp_path)
    result = nemorun("compile", "spec.yaml", cwd=remote["project"], **env)
    assert result.returncode == 2
    file = tmp_path / "config" / "nemorun" / "clusters.yaml"
    assert result.stderr.splitlines()[:2] == [
        f"error: {file}:4:17: clusters.loop.remote_dir: bad path: expected an absolute path on "
        "the cluster, like /lustre/alice/nemorun, found 'relative/dir'",
        f"error: {file}:5:5: clusters.loop.prot: unknown key: expected host, user, port, "
        "remote_dir, ssh_config, defaults; did you mean 'port'?",
    ]


def forgotten_job() -> tuple[str, str]:
    """A job sacct knows and slurmctld forgot (finished over MinJobAge ago) and its state as
    sacct says it, else a job id nobody knows (sacct still answers: nothing) and ``""``."""
    done = subprocess.run(
        ["sacct", "-a", "-n", "-X", "-P", "-S", "now-7days", "-E", "now-6minutes",
         "-s", "CD,F", "-o", "JobID,State"], capture_output=True, text=True, timeout=30,
    ).stdout.split()  # fmt: skip
    for line in reversed(done):
        job, state = line.split("|")
        known = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, timeout=30)
        if job.isdigit() and (known.returncode != 0 or not known.stdout.strip()):
            return job, state.split()[0].lower()
    return "99999999", ""


def test_ls_refresh_is_one_ssh_command_even_when_sacct_is_needed(
    remote: dict, tmp_path: Path
) -> None:
    """``ls`` of three remote runs (one whose job only sacct still knows) asks the cluster in
    one ssh command per refresh: squeue and sacct run in one remote program."""
    for run in ("snap", "sweep"):  # both over, so ls reads the states the refresh brought
        wait_done(remote["runs"][run], remote["project"], remote["env"])
    runs = Path(remote["env"]["NEMORUN_HOME"]) / "nemorun-runs"
    home = tmp_path / "home"
    job, state = forgotten_job()
    for name, new in (("snap", None), ("sweep", None), ("snap", "old")):
        source = runs / remote["runs"][name]
        target = home / "nemorun-runs" / (source.name if new is None else f"{source.name}-{new}")
        shutil.copytree(source, target)
        record = json.loads((target / "run.json").read_text())
        (target / "state.json").unlink()  # never seen: every job is asked about again
        if new is not None:
            record["id"] = target.name
            record["jobs"][0]["id"] = job
        (target / "run.json").write_text(json.dumps(record))
    calls = tmp_path / "ssh-calls"
    (tmp_path / "bin").mkdir()
    wrapper = tmp_path / "bin" / "ssh"
    wrapper.write_text(f'#!/bin/sh\necho ssh >> "{calls}"\nexec {shutil.which("ssh")} "$@"\n')
    wrapper.chmod(0o755)
    env = {**remote["env"], "NEMORUN_HOME": str(home)}
    path = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    listed = json.loads(run_ok("ls", "--json", cwd=remote["project"], env={**env, "PATH": path}))
    assert len(calls.read_text().splitlines()) == 1, calls.read_text()
    by_id = {r["id"]: r["status"] for r in listed}
    assert by_id[remote["runs"]["snap"]] == by_id[remote["runs"]["sweep"]] == "completed"
    old = f"{remote['runs']['snap']}-old"
    seen = json.loads((home / "nemorun-runs" / old / "state.json").read_text())
    if state:  # sacct's answer came back through the same command
        assert seen["target_state"]["slurm"]["last"][job]["source"] == "sacct"
        assert by_id[old] == state
    else:
        assert by_id[old] == "unknown"
    for done in (home / "nemorun-runs").glob("*/state.json"):
        done.unlink()  # all over now; forgotten, they are asked about again
    run_ok("ls", cwd=remote["project"], env={**env, "PATH": path})  # the next refresh: one more
    assert len(calls.read_text().splitlines()) == 2, calls.read_text()


def test_frames_are_read_by_length_not_by_looking_for_the_marker() -> None:
    fake = f"{FRAME} sacct 0 1 1\nx\ny"  # output that looks like a header is only output
    text = f"{FRAME} squeue 1 {len(fake.encode())} 3\n{fake}é\n"
    frames = unframe(text)
    assert frames is not None
    assert [(t, a.returncode, a.stdout, a.stderr) for t, a in frames] == [
        ("squeue", 1, fake, "é\n")
    ]
    assert unframe("bash: sh: command not found\n") is None
    assert unframe(f"{FRAME} squeue 0 9 0\nshort") is None  # cut short: not trusted


def test_ls_finds_the_jobs_of_a_launch_killed_before_recording_them(
    remote: dict, tmp_path: Path
) -> None:
    """A launch to the cluster that died after sbatch and before journaling the job id: only
    its tag names the job, and only the cluster's squeue knows it."""
    runs = Path(remote["env"]["NEMORUN_HOME"]) / "nemorun-runs"
    cluster = json.loads((runs / remote["runs"]["snap"] / "run.json").read_text())["cluster"]
    killed = tmp_path / "home" / "nemorun-runs" / "20261203-000000-killed-000001"
    killed.mkdir(parents=True)
    journal_intent(killed, "slurm", run_tag(killed.name), cluster)
    ssh = ["ssh", "-F", cluster["ssh_config"], "-o", "BatchMode=yes", cluster["host"]]
    job = subprocess.run(
        [*ssh, f"sbatch --parsable -t 2 --comment={run_tag(killed.name)} --wrap 'sleep 120'"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    try:
        env = {**remote["env"], "NEMORUN_HOME": str(tmp_path / "home")}
        result = nemorun("ls", cwd=remote["project"], **env)
        assert result.returncode == 0, result.stderr
        assert f"a launch was killed after submitting slurm job(s) {job} and before" in (
            result.stderr
        )
    finally:
        subprocess.run([*ssh, f"scancel {job}"], capture_output=True, timeout=60)


def test_logs_named_by_node_and_user_are_found_on_the_cluster(remote: dict, tmp_path: Path) -> None:
    """``%u`` is the user ssh logs in as (not known here) and ``%N`` the node (not known
    before a status saw it): both are matched on the cluster. (The test Slurm's nodes share
    one host, whose name is what slurmd gives ``%N``: a record without a node is read.)"""
    project, env = remote["project"], remote["env"]
    run = remote["runs"]["nodelog"]
    assert wait_done(run, project, env)["status"] == "completed"
    source = Path(env["NEMORUN_HOME"]) / "nemorun-runs" / run
    shutil.copytree(source, tmp_path / "home" / "nemorun-runs" / run)
    (tmp_path / "home" / "nemorun-runs" / run / "state.json").unlink()  # no node seen
    fresh = {**env, "NEMORUN_HOME": str(tmp_path / "home")}
    assert run_ok("logs", run, cwd=project, env=fresh).splitlines() == ["nodelog-ran"]


def test_the_remote_program_answers_as_the_tools_asked_one_by_one(remote: dict) -> None:
    """``REMOTE_PROGRAM`` (run by sh here) answers squeue and sacct without another call, and
    `query` reads the same from it as from the tools asked one by one: jobs slurmctld knows,
    one only sacct knows (when the test Slurm has one), one nobody knows, and each alone."""
    runs = Path(remote["env"]["NEMORUN_HOME"]) / "nemorun-runs"
    known = [
        json.loads((runs / remote["runs"][name] / "run.json").read_text())["jobs"][0]["id"]
        for name in ("snap", "sweep")
    ]
    old = forgotten_job()[0]

    def one_by_one(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return run_command(argv, None, 60)

    def refused(argv: list[str]) -> subprocess.CompletedProcess[str]:
        raise AssertionError(f"asked again: {argv}")

    for ids in ([*known, old, "99999999"], known[:1], [old], ["99999999"]):
        answers = ask_remote(one_by_one, ids)
        assert query(Replay(refused, answers), ids) == query(one_by_one, ids), ids
