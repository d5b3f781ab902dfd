"""The test infrastructure touches only the Slurm, Docker engine and sshd it started itself.

``tests/infra/slurm.sh`` and ``docker.sh`` refuse (exit 3) to start, restart or stop anything
their mark does not describe, and the tests' own check (``slurm_problem``/``docker_problem`` in
tests/conftest.py) skips every test that would use a cluster or engine without that mark.

The scripts are run in a sandbox (``unshare``: their own pid, network and mount namespaces,
with a private ``/etc/slurm`` or ``/run/nemorun-docker``) next to a decoy: a process named
``slurmctld`` or ``dockerd`` that stands for a user's daemon. A script that wrongly acts kills
the decoy or rewrites the private config, never this machine's test cluster or engine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import docker_problem, read_mark, slurm_problem

INFRA = Path(__file__).resolve().parent
DECOY = "@DECOY@"  # replaced by the decoy's pid inside the sandbox
UNSHARE = ["unshare", "-f", "-p", "--mount-proc", "-m", "-n"]

# In the sandbox: bind a private directory over the daemon's fixed one, start the decoy, put
# its pid into the prepared files, run the script and say whether the decoy survived.
SANDBOX = r"""
set -u
private=$1 fixed=$2 decoy_bin=$3 script=$4 action=$5
shift 5
mount --bind "$private" "$fixed"
"$decoy_bin" 300 &
decoy=$!
for f in "$@"; do sed -i "s/@DECOY@/$decoy/" "$f"; done
# shellcheck disable=SC2086  # the action is a command and its options
bash "$script" $action
rc=$?
state=$(cat "/proc/$decoy/stat" 2>/dev/null) || state=
[[ -n $state && $state != *") Z "* ]] && alive=1 || alive=0
echo "rc=$rc decoy_alive=$alive"
"""


def sandbox_problem(fixed: Path) -> str | None:
    if os.geteuid() != 0:
        return "the infra scripts run as root only"
    if shutil.which("unshare") is None:
        return "unshare is not installed"
    if not fixed.is_dir():
        return f"{fixed} does not exist (the script never ran here)"
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True)
    if probe.returncode != 0:
        return f"unshare cannot make namespaces here: {probe.stderr.decode().strip()}"
    return None


@dataclass(frozen=True)
class Outcome:
    code: int
    decoy_alive: bool
    err: str


def run_in_sandbox(
    script: str, action: str, *, private: Path, fixed: Path, decoy: str, state: Path, env: str
) -> Outcome:
    """Run ``script action`` with ``private`` bound over ``fixed``, beside a decoy process
    named ``decoy``; ``state`` is the script's state directory (``env`` names its knob)."""
    problem = sandbox_problem(fixed)
    if problem is not None:
        pytest.skip(problem)
    decoy_bin = state.parent / decoy
    shutil.copy("/bin/sleep", decoy_bin)
    marked = [str(p) for p in (*state.rglob("*"), *private.rglob("*")) if p.is_file()]
    args = [str(private), str(fixed), str(decoy_bin), str(INFRA / script), action, *marked]
    proc = subprocess.run(
        [*UNSHARE, "bash", "-c", SANDBOX, "sandbox", *args],
        env={**os.environ, env: str(state)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    last = proc.stdout.strip().splitlines()[-1]
    fields = dict(word.split("=") for word in last.split())
    return Outcome(int(fields["rc"]), fields["decoy_alive"] == "1", proc.stderr)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- slurm.sh -------------------------------------------------------------------------------------

FOREIGN_CONF = "# a real cluster's config\nClusterName=production\n"


def slurm_mark(conf: str, pid: str = DECOY) -> str:
    digest = hashlib.sha256(conf.encode()).hexdigest()
    return (
        f"token=t\nslurmctld_pid={pid}\nconfig=/etc/slurm/slurm.conf\n"
        f"config_sha256={digest}\nmode=none\n"
    )


# name: (files in the private /etc/slurm, files in the state dir, action, refusal or None);
# the decoy is a slurmctld, except where its name would be the reason for the refusal.
SLURM_CASES = {
    "a config it did not write": (
        {"slurm.conf": FOREIGN_CONF},
        {},
        "start --no-accounting",
        "/etc/slurm/slurm.conf was not written by this script",
    ),
    "a slurmctld it did not start": (
        {},
        {},
        "start --no-accounting",
        "a slurmctld this script did not start runs",
    ),
    "its pid file without a mark": (
        {"slurm.conf": FOREIGN_CONF},
        {"run/slurmctld.pid": DECOY},
        "stop",
        "/etc/slurm/slurm.conf was not written by this script",
    ),
    "a mark of another config": (
        {"slurm.conf": FOREIGN_CONF},
        {"run/slurmctld.pid": DECOY, "mark": slurm_mark("ClusterName=nemorun\n")},
        "stop",
        "/etc/slurm/slurm.conf changed since this script installed it",
    ),
    "its own, marked": (
        {"slurm.conf": FOREIGN_CONF},
        {"run/slurmctld.pid": DECOY, "mark": slurm_mark(FOREIGN_CONF)},
        "stop",
        None,
    ),
}


@pytest.mark.parametrize("case", SLURM_CASES)
def test_slurm_sh_acts_only_on_the_slurm_its_mark_describes(case: str, tmp_path: Path) -> None:
    etc, state_files, action, refusal = SLURM_CASES[case]
    private, state = tmp_path / "etc-slurm", tmp_path / "state"
    private.mkdir()
    state.mkdir()
    for name, text in etc.items():
        write(private / name, text)
    for name, text in state_files.items():
        write(state / name, text)

    outcome = run_in_sandbox(
        "slurm.sh",
        action,
        private=private,
        fixed=Path("/etc/slurm"),
        decoy="sleeper" if case == "a config it did not write" else "slurmctld",
        state=state,
        env="NEMORUN_SLURM_DIR",
    )

    if refusal is None:
        assert outcome.code == 0, outcome.err
        assert not outcome.decoy_alive  # what the mark describes is ours to stop
        return
    assert outcome.code == 3, outcome.err
    assert f"refusing to {action.split()[0]}: {refusal}" in outcome.err
    assert outcome.decoy_alive
    assert {p.name: p.read_text() for p in private.iterdir()} == etc  # no config installed
    assert not (state / "etc").exists()  # refused before generating anything


# --- docker.sh ------------------------------------------------------------------------------------

DOCKER_CASES = {
    "its pid file without a mark": ({}, "the engine on /run/nemorun-docker/docker.sock"),
    "a mark of another dockerd": (
        {"mark": "token=t\ndockerd_pid=1\n"},
        "the engine on /run/nemorun-docker/docker.sock",
    ),
    "its own, marked": ({"mark": f"token=t\ndockerd_pid={DECOY}\n"}, None),
}


# Every refusal for both commands; "its own" only stopped (starting a sandboxed engine is not
# this test's subject).
DOCKER_RUNS = [
    (c, a) for c in DOCKER_CASES for a in ("stop", "start") if DOCKER_CASES[c][1] or a == "stop"
]


@pytest.mark.parametrize(("case", "action"), DOCKER_RUNS)
def test_docker_sh_acts_only_on_the_engine_its_mark_describes(
    case: str, action: str, tmp_path: Path
) -> None:
    state_files, refusal = DOCKER_CASES[case]
    private, state = tmp_path / "run-docker", tmp_path / "state"
    private.mkdir()
    state.mkdir()
    write(private / "dockerd.pid", DECOY)
    for name, text in state_files.items():
        write(state / name, text)

    outcome = run_in_sandbox(
        "docker.sh",
        action,
        private=private,
        fixed=Path("/run/nemorun-docker"),
        decoy="dockerd",
        state=state,
        env="NEMORUN_DOCKER_DIR",
    )

    if refusal is None:
        assert outcome.code == 0, outcome.err
        assert not outcome.decoy_alive
        return
    assert outcome.code == 3, outcome.err
    assert f"refusing to {action}: {refusal}" in outcome.err
    assert outcome.decoy_alive
    assert (private / "dockerd.pid").exists()


# --- the tests' own check -------------------------------------------------------------------------


def test_without_a_mark_no_slurm_is_used(tmp_path: Path) -> None:
    """Whatever Slurm answers here (this machine's test cluster, a user's cluster), it is not
    used without the mark of tests/infra/slurm.sh."""
    problem = slurm_problem(tmp_path / "mark")
    assert problem is not None
    assert problem.startswith(f"no Slurm started by tests/infra/slurm.sh here (no mark {tmp_path}")


def test_a_mark_of_another_config_is_not_enough(tmp_path: Path) -> None:
    write(tmp_path / "slurm.conf", FOREIGN_CONF)
    mark = slurm_mark("ClusterName=nemorun\n", pid=str(os.getpid()))
    mark = mark.replace("/etc/slurm/slurm.conf", str(tmp_path / "slurm.conf"))
    problem = slurm_problem(write(tmp_path / "mark", mark))
    assert problem is not None and "is not the config tests/infra/slurm.sh installed" in problem


def test_skip_variables_skip_even_a_marked_cluster_and_engine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEMORUN_SKIP_SLURM", "1")
    monkeypatch.setenv("NEMORUN_SKIP_DOCKER", "1")
    assert slurm_problem() == "NEMORUN_SKIP_SLURM is set"
    assert docker_problem()[0] == "NEMORUN_SKIP_DOCKER is set"


def test_the_engine_is_reached_by_the_marked_socket_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's ``DOCKER_HOST``/``DOCKER_CONTEXT`` never reaches the tests' docker calls; an
    engine answering on the marked socket with another data root is not ours."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    monkeypatch.setenv("DOCKER_CONTEXT", "default")
    mark = write(
        tmp_path / "mark",
        f"token=t\ndockerd_pid=0\nhost=unix://{tmp_path}/d.sock\ndata_root=/x\nimage=i:1\n",
    )
    problem, env = docker_problem(mark)
    assert env["DOCKER_HOST"] == f"unix://{tmp_path}/d.sock" and "DOCKER_CONTEXT" not in env
    assert problem is not None and problem.startswith("the test engine's dockerd is not running")
    real = read_mark(Path(os.environ.get("NEMORUN_DOCKER_DIR", "/var/tmp/nemorun-docker")) / "mark")
    if real is None or docker_problem()[0] is not None:
        return
    other_root = write(tmp_path / "other", "".join(f"{k}={v}\n" for k, v in real.items()))
    other_root.write_text(other_root.read_text().replace("data_root=", "data_root=/elsewhere"))
    problem, _ = docker_problem(other_root)
    assert problem is not None and "is not the one tests/infra/docker.sh started" in problem


# --- sshd.sh --------------------------------------------------------------------------------------


def test_sshd_sh_stops_only_the_sshd_its_mark_describes(tmp_path: Path) -> None:
    """No mark: exit 3. A mark whose pid is not an sshd running our config (a pid reused by
    another process): that process lives on."""
    script = Path(__file__).resolve().parent / "sshd.sh"
    env = {**os.environ, "NEMORUN_SSHD_DIR": str(tmp_path)}
    run = ["bash", str(script), "stop"]
    assert subprocess.run(run, env=env, capture_output=True, timeout=30).returncode == 3
    other = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "mark").write_text(f"token=1\npid={other.pid}\nport=1\nuser=x\n")
        assert subprocess.run(run, env=env, capture_output=True, timeout=30).returncode == 0
        assert other.poll() is None  # not ours: untouched
    finally:
        other.kill()
        other.wait()
