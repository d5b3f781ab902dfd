"""Launching to a remote cluster over ssh, for real: the test sshd (tests/infra/sshd.sh) on
127.0.0.1 is the login node of the test Slurm, and a ``clusters.yaml`` profile names it.

Every scenario is submitted at once by the module's fixture so the waits overlap: a snapshot
job (its code changed locally right after launch), a 4-point sweep, a job to cancel. The jobs
must have run as the remote user, from the shipped code, with the values the spec gave.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    git(project, "init", "-q")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(project, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1")
    env = env_for(tmp)
    runs = {
        "snap": run_ok("launch", "spec.yaml", cwd=project, env=env).strip(),
        "sweep": run_ok("launch", "spec.yaml", "steps=1,2,3,4", cwd=project, env=env).strip(),
        "long": run_ok("launch", "spec.yaml", "steps=3000", cwd=project, env=env).strip(),
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
