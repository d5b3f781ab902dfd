"""``nemorun launch --target ray`` on a real local Ray head, through its Jobs API.

The module starts one private head with ``tests/infra/ray.sh start`` (2 CPUs, the Jobs API on a
free loopback port, its own temp dir) and stops it after, by its process group; without ray
installed (the ``ray`` extra; tests/run.sh installs it) these tests skip. To keep the wall time
small, the runs that take a while are launched together (`runs`), then each test reads its own:
the quickstart, a 4-point sweep (one Ray job per point), the same sweep packed into one job
(``packing: one_job``, 2 at once), and a job that is cancelled while it runs. A failing job is
run with ``--wait`` (exit 1). The addresses that cannot work (none, or nothing listening) need
no head, nor does the check that ``ray.sh stop`` refuses a Ray it did not start.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, nemorun

INFRA = ROOT / "tests" / "infra" / "ray.sh"
LRS = (0.125, 0.25, 0.5, 0.75)

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed: pip install -e '.[ray]' (tests/run.sh does)",
)


def sweep_spec(directory: Path, name: str, executor: str = "") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        f"nemorun: 1\nname: {name}\npythonpath: [{EXAMPLES}]\n"
        f"executor: {{target: ray{executor}}}\n"
        "task:\n  _target_: trainlib:train\n  model: {hidden_size: 8}\n  steps: 3\n"
        f"sweep:\n  optim.lr: [{', '.join(map(str, LRS))}]\n",
        encoding="utf-8",
    )
    return path


def command_spec(directory: Path, name: str, command: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        f"nemorun: 1\nname: {name}\nexecutor: {{target: ray}}\n"
        f"task:\n  command: {json.dumps(command)}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def ray_head() -> Iterator[dict[str, str]]:
    """A private Ray head for this module; the environment that reaches it."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed: pip install -e '.[ray]' (tests/run.sh does)")
    env = {**os.environ, "NEMORUN_RAY": str(Path(sys.executable).parent / "ray")}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(
        ["bash", str(INFRA), "start"], env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        pytest.fail(f"tests/infra/ray.sh start failed:\n{proc.stderr}")
    started = dict(line.split("=", 1) for line in proc.stdout.split())
    try:
        yield started
    finally:
        subprocess.run(
            ["bash", str(INFRA), "stop", started["RAY_STATE"]],
            capture_output=True,
            timeout=120,
        )


@pytest.fixture(scope="module")
def runs(ray_head: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The runs launched together (without waiting): name → run id; ``env`` → the
    environment to reach them (``RAY_ADDRESS``, ``NEMORUN_HOME``)."""
    directory = tmp_path_factory.mktemp("ray")
    env = {
        "RAY_ADDRESS": ray_head["RAY_ADDRESS"],
        "NEMORUN_HOME": str(directory / "home"),
        "PYTHONPATH": str(ROOT),
    }
    specs = {
        "quickstart": (str(ROOT / "configs" / "quickstart.yaml"), "--target", "ray"),
        "sweep": (str(sweep_spec(directory, "sweep")),),
        "packed": (str(sweep_spec(directory, "packed", ", packing: one_job, max_concurrency: 2")),),
        "sleeper": (str(command_spec(directory, "sleeper", "echo started; sleep 300")),),
    }
    ids = {}
    for name, args in specs.items():
        proc = nemorun("launch", *args, cwd=directory, **env)
        assert proc.returncode == 0, proc.stderr
        ids[name] = proc.stdout.split()[-1]
    return {**ids, "env": json.dumps(env), "dir": str(directory)}


def wait_for(runs: dict[str, str], name: str, timeout: float = 240) -> dict[str, object]:
    """The run's ``status --json`` once it has ended."""
    env = json.loads(runs["env"])
    deadline = time.monotonic() + timeout
    while True:
        proc = nemorun("status", "--json", runs[name], cwd=Path(runs["dir"]), **env)
        assert proc.returncode in (0, 1), proc.stderr
        status: dict[str, object] = json.loads(proc.stdout)
        if status["status"] in ("completed", "failed", "cancelled"):
            return status
        assert time.monotonic() < deadline, f"{name} still {status['status']}"
        time.sleep(2)


def logs(runs: dict[str, str], name: str, *args: str) -> str:
    proc = nemorun("logs", runs[name], *args, cwd=Path(runs["dir"]), **json.loads(runs["env"]))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@needs_ray
def test_the_quickstart_runs_on_ray(runs: dict[str, str]) -> None:
    status = wait_for(runs, "quickstart")
    assert status["status"] == "completed", status
    output = logs(runs, "quickstart")
    assert "[train] point=0 model=32x2" in output
    assert "[train] step 60 loss" in output
    # What was sent is in the run: the description, the entry and the working directory.
    run_dir = Path(str(status["dir"]))
    assert (run_dir / "artifacts" / "quickstart.ray.yaml").is_file()
    workdir = run_dir / "ray" / "workdir" / "quickstart"
    assert (workdir / "entry.py").read_text() == (run_dir / "artifacts" / "entry.py").read_text()
    assert (workdir / "pythonpath" / "0" / "trainlib").is_dir()


@needs_ray
def test_each_point_of_a_sweep_is_a_ray_job_with_its_own_values(runs: dict[str, str]) -> None:
    status = wait_for(runs, "sweep")
    assert status["status"] == "completed", status
    jobs = status["jobs"]
    assert isinstance(jobs, list) and len({job["id"] for job in jobs}) == 4
    ids = {job["point"]: job["id"] for job in jobs}
    for point, lr in enumerate(LRS):
        output = logs(runs, "sweep", "--job", ids[point])
        assert f"[train] point={point} " in output
        assert f"lr={lr} " in output
        assert all(f"lr={other} " not in output for other in LRS if other != lr)


@needs_ray
def test_one_job_runs_every_point_as_a_task(runs: dict[str, str]) -> None:
    status = wait_for(runs, "packed")
    assert status["status"] == "completed", status
    jobs = status["jobs"]
    assert isinstance(jobs, list) and len({job["id"] for job in jobs}) == 1
    assert sorted(job["point"] for job in jobs) == [0, 1, 2, 3]
    for point, lr in enumerate(LRS):
        output = logs(runs, "packed", "--job", str(point))
        assert output.splitlines()[0].startswith(f"[train] point={point} ")
        assert f"lr={lr} " in output
        assert all(f"lr={other} " not in output for other in LRS if other != lr)


@needs_ray
def test_a_running_job_is_cancelled(runs: dict[str, str]) -> None:
    env = json.loads(runs["env"])
    deadline = time.monotonic() + 180
    while "started" not in logs(runs, "sleeper"):
        assert time.monotonic() < deadline, "the sleeper never started"
        time.sleep(2)
    proc = nemorun("cancel", runs["sleeper"], cwd=Path(runs["dir"]), **env)
    assert proc.returncode == 0, proc.stderr
    status = wait_for(runs, "sleeper", timeout=60)
    assert status["status"] == "cancelled", status


@needs_ray
def test_a_failing_job_fails_and_wait_exits_1(ray_head: dict[str, str], tmp_path: Path) -> None:
    spec = command_spec(tmp_path, "failing", "echo about to fail; exit 3")
    env = {"RAY_ADDRESS": ray_head["RAY_ADDRESS"], "NEMORUN_HOME": str(tmp_path / "home")}
    proc = nemorun("launch", str(spec), "--wait", cwd=tmp_path, PYTHONPATH=str(ROOT), **env)
    assert proc.returncode == 1, proc.stderr
    assert "about to fail" in proc.stdout
    status = nemorun("status", "--json", "failing", cwd=tmp_path, PYTHONPATH=str(ROOT), **env)
    data = json.loads(status.stdout)
    assert data["status"] == "failed"
    assert data["jobs"][0]["exit_code"] == 3


def test_without_an_address_launch_says_how_to_give_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    spec = command_spec(tmp_path, "nowhere", "true")
    proc = nemorun(
        "launch", str(spec), cwd=tmp_path, env=env, NEMORUN_HOME=str(tmp_path / "home"),
        PYTHONPATH=str(ROOT),
    )  # fmt: skip
    assert proc.returncode == 1
    if importlib.util.find_spec("ray") is None:
        assert "pip install 'nemorun[ray]'" in proc.stderr
    else:
        assert "no Ray cluster to submit to: set executor.address in the spec, or RAY_ADDRESS" in (
            proc.stderr
        )
    assert "Traceback" not in proc.stderr


@needs_ray
def test_an_unreachable_address_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as held:  # a port nothing listens on while the test runs
        held.bind(("127.0.0.1", 0))
        address = f"http://127.0.0.1:{held.getsockname()[1]}"
        spec = command_spec(tmp_path, "unreachable", "true")
        proc = nemorun(
            "launch", str(spec), cwd=tmp_path, RAY_ADDRESS=address,
            NEMORUN_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT),
        )  # fmt: skip
    assert proc.returncode == 1
    assert f"cannot reach the Ray Jobs API at {address}: " in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ray_sh_stops_only_a_head_it_started(tmp_path: Path) -> None:
    """``ray.sh stop`` refuses a directory without its mark, and a mark whose process group is
    not its ``ray start`` (here a ``sleep`` of ours), leaving that process alone (exit 3)."""
    unmarked = subprocess.run(
        ["bash", str(INFRA), "stop", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert unmarked.returncode == 3
    assert "there is no mark" in unmarked.stderr
    with subprocess.Popen(["sleep", "60"], start_new_session=True) as other:
        try:
            (tmp_path / "mark").write_text(f"token=x\npgid={other.pid}\n", encoding="utf-8")
            proc = subprocess.run(
                ["bash", str(INFRA), "stop", str(tmp_path)],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 3
            assert f"refusing to stop process group {other.pid}" in proc.stderr
            assert other.poll() is None
            assert (tmp_path / "mark").exists()
        finally:
            other.kill()
