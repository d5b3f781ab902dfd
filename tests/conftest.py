"""Shared test helpers: spec files written into a temporary working directory, the CLI (in
process: `cli`; in a fresh interpreter: `nemorun`), golden files (`assert_golden`), and the real
Slurm and Docker engine of ``tests/infra`` (`needs_slurm`, `needs_docker`, or the fixtures).

The tests use a Slurm or Docker engine only when the mark its ``tests/infra`` script wrote says
that script started it (a token, the daemon's pid, the config or socket): never a cluster or
engine a user runs on their machine, which are skipped with a reason. ``NEMORUN_SKIP_SLURM`` and
``NEMORUN_SKIP_DOCKER`` skip every test that would use them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nemorun.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ZOO = Path(__file__).resolve().parent / "schemas"
GOLDEN = Path(__file__).resolve().parent / "compiler" / "golden"
NEMORUN = [sys.executable, "-m", "nemorun.cli"]
"""The command line of nemorun, run by this interpreter."""

WriteSpec = Callable[[str, str], Path]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary current directory, so messages show short relative file names."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def home(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs are recorded under ``WORKDIR/home`` (``NEMORUN_HOME``), never in the user's."""
    monkeypatch.setenv("NEMORUN_HOME", str(workdir / "home"))
    return workdir / "home"


_module_ids = itertools.count()


def import_file(path: Path) -> Any:
    """Import a module from ``path`` without registering it in ``sys.modules``."""
    module_spec = importlib.util.spec_from_file_location(f"_exported_{next(_module_ids)}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture
def write_spec(workdir: Path) -> WriteSpec:
    """``write_spec("exp.yaml", text)``: dedents ``text``, replaces ``{examples}`` and ``{zoo}``
    by the example-code and test-type directories, writes it under the working directory."""

    def write(name: str, text: str) -> Path:
        body = textwrap.dedent(text).lstrip("\n")
        body = body.replace("{examples}", str(EXAMPLES)).replace("{zoo}", str(ZOO))
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        return path

    return write


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        """The ``error: …`` lines of stderr, without the prefix."""
        return [
            line[len("error: ") :] for line in self.err.splitlines() if line.startswith("error: ")
        ]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``cli("validate", "exp.yaml", "a=1")`` runs ``nemorun.cli.main`` in-process."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def nemorun(
    *args: str,
    cwd: Path = ROOT,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    **extra: str,
) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user does, in a fresh interpreter (cold start, real exit code), in
    ``cwd``, with ``env`` (this process's environment by default) plus the ``extra`` variables."""
    return subprocess.run(
        [*NEMORUN, *args],
        cwd=cwd,
        env={**(os.environ if env is None else env), **extra},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_dirs(home: Path) -> list[Path]:
    """The run directories under ``home``'s runs directory (not its hidden bookkeeping)."""
    return sorted(p for p in (home / "nemorun-runs").iterdir() if not p.name.startswith("."))


def assert_golden(name: str, text: str) -> None:
    """``text`` equals the golden file ``tests/compiler/golden/NAME``, once this interpreter's
    path reads ``<PYTHON>`` and the repository's ``<ROOT>``. Regenerate every golden file with
    ``NEMORUN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler -k golden`` (and review the diff)."""
    text = text.replace(sys.executable, "<PYTHON>").replace(str(ROOT), "<ROOT>")
    golden = GOLDEN / name
    if os.environ.get("NEMORUN_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


@pytest.fixture
def load_errors() -> Callable[..., list[str]]:
    """``load_errors(path, *overrides)``: the formatted errors `nemorun.load` raises (it must)."""
    from nemorun.api import load
    from nemorun.errors import SpecErrors

    def run(path: Path, *overrides: str) -> list[str]:
        with pytest.raises(SpecErrors) as info:
            load(path, overrides)
        return [e.format() for e in info.value.errors]

    return run


# --- the real Slurm and Docker engine of tests/infra ----------------------------------------------

SLURM_MARK = Path(os.environ.get("NEMORUN_SLURM_DIR", "/var/tmp/nemorun-slurm")) / "mark"
DOCKER_MARK = Path(os.environ.get("NEMORUN_DOCKER_DIR", "/var/tmp/nemorun-docker")) / "mark"
START_SLURM = "start it with: bash tests/infra/slurm.sh start (as root)"
START_DOCKER = "start it with: bash tests/infra/docker.sh start (as root)"


def read_mark(path: Path) -> dict[str, str] | None:
    """The ``key=value`` lines of a mark written by a ``tests/infra`` script, or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    lines = (line.partition("=") for line in text.splitlines() if not line.startswith("#"))
    return {key: value for key, sep, value in lines if sep}


def pid_runs(pid: str, comm: str) -> bool:
    """True if ``pid`` is a live (not zombie) process named ``comm``: pids wrap, a number alone
    proves nothing."""
    if not pid.isdigit():
        return False
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return name == comm and stat.rpartition(") ")[2][:1] != "Z"


def slurm_problem(mark_path: Path = SLURM_MARK) -> str | None:
    """Why the Slurm tests cannot run here, or None when the Slurm that the clients of this
    process reach is the one ``tests/infra/slurm.sh`` started."""
    if os.environ.get("NEMORUN_SKIP_SLURM"):
        return "NEMORUN_SKIP_SLURM is set"
    mark = read_mark(mark_path)
    if mark is None or not mark.get("config"):
        return (
            f"no Slurm started by tests/infra/slurm.sh here (no mark {mark_path}); the tests "
            f"touch no other Slurm; {START_SLURM}"
        )
    config = os.environ.get("SLURM_CONF", mark["config"])
    if config != mark["config"]:
        return f"SLURM_CONF={config} is not the test cluster's config ({mark['config']})"
    try:
        digest = hashlib.sha256(Path(config).read_bytes()).hexdigest()
    except OSError:
        digest = ""
    if digest != mark.get("config_sha256"):
        return f"{config} is not the config tests/infra/slurm.sh installed; {START_SLURM}"
    if not pid_runs(mark.get("slurmctld_pid", ""), "slurmctld"):
        return f"the test cluster's slurmctld is not running; {START_SLURM}"
    try:
        sinfo = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"sinfo does not answer ({error}); {START_SLURM}"
    if not any(s.startswith(("idle", "mix", "alloc")) for s in sinfo.stdout.split()):
        return f"no node of the test cluster is up ({sinfo.stderr.strip()}); {START_SLURM}"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> dict[str, str]:
    """The mark of the test cluster (skips the test without it: see `slurm_problem`)."""
    problem = slurm_problem()
    if problem is not None:
        pytest.skip(problem)
    mark = read_mark(SLURM_MARK)
    assert mark is not None
    return mark


def docker_problem(mark_path: Path = DOCKER_MARK) -> tuple[str | None, dict[str, str]]:
    """Why the docker tests cannot run here (or None), and the environment that reaches the test
    engine: this process's, without ``DOCKER_*`` (a user's engine or context), plus the socket
    of the engine ``tests/infra/docker.sh`` started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    if os.environ.get("NEMORUN_SKIP_DOCKER"):
        return "NEMORUN_SKIP_DOCKER is set", env
    mark = read_mark(mark_path)
    if mark is None or not mark.get("host"):
        return (
            f"no Docker engine started by tests/infra/docker.sh here (no mark {mark_path}); "
            f"the tests use no other engine; {START_DOCKER}"
        ), env
    env["DOCKER_HOST"] = mark["host"]
    if not pid_runs(mark.get("dockerd_pid", ""), "dockerd"):
        return f"the test engine's dockerd is not running; {START_DOCKER}", env
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.DockerRootDir}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
        )
        image = subprocess.run(
            ["docker", "image", "inspect", mark["image"]], env=env, capture_output=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the test engine at {mark['host']} does not answer ({error}); {START_DOCKER}", env
    if info.stdout.strip() != mark.get("data_root"):
        return (
            f"the engine at {mark['host']} is not the one tests/infra/docker.sh started (data "
            f"root {info.stdout.strip() or info.stderr.strip()!r}); {START_DOCKER}"
        ), env
    if image.returncode != 0:
        return f"the test image {mark['image']} is missing at {mark['host']}; {START_DOCKER}", env
    return None, env


@pytest.fixture(scope="session")
def docker_engine() -> dict[str, str]:
    """The environment that reaches the test engine (skips the test without it)."""
    problem, env = docker_problem()
    if problem is not None:
        pytest.skip(problem)
    return env


SSHD_MARK = Path(os.environ.get("NEMORUN_SSHD_DIR", "/tmp/nemorun-sshd")) / "mark"
START_SSHD = "start it with: bash tests/infra/sshd.sh start (as root)"


@pytest.fixture(scope="session")
def sshd_server() -> dict[str, str]:
    """The mark of the test sshd (``dir`` added: its config, keys and log), the login node of
    the test Slurm; skips the test without both."""
    problem = slurm_problem()
    if problem is not None:
        pytest.skip(problem)
    mark = read_mark(SSHD_MARK)
    if mark is None or not mark.get("port"):
        pytest.skip(
            f"no sshd started by tests/infra/sshd.sh here (no mark {SSHD_MARK}); {START_SSHD}"
        )
    if not pid_runs(mark.get("pid", ""), "sshd"):
        pytest.skip(f"the test sshd is not running; {START_SSHD}")
    return {**mark, "dir": str(SSHD_MARK.parent)}


_SLURM_PROBLEM = slurm_problem()
needs_slurm = pytest.mark.skipif(_SLURM_PROBLEM is not None, reason=_SLURM_PROBLEM or "")
"""For tests that submit to the test cluster: skipped, with the reason, unless it is ours."""
_DOCKER_PROBLEM, DOCKER_ENV = docker_problem()
needs_docker = pytest.mark.skipif(_DOCKER_PROBLEM is not None, reason=_DOCKER_PROBLEM or "")
"""For tests that use the test engine (reached with `DOCKER_ENV`): skipped, with the reason,
unless it is ours."""


_MLFLOW: dict[str, Any] = {}
"""The MLflow server of the tracking tests (`tests/mlflow_server.py`), once started."""


@pytest.hookimpl(trylast=True)  # after -k/-m have deselected what will not run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Start the MLflow server as soon as a test that needs it is collected: it boots while
    the tests before it run."""
    if any("mlflow_uri" in getattr(item, "fixturenames", ()) for item in items):
        import mlflow_server

        _MLFLOW["server"] = mlflow_server.start()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    server = _MLFLOW.pop("server", None)
    if server is not None:
        server.stop()


@pytest.fixture
def mlflow_uri() -> str:
    """The address of a private MLflow tracking server, once it answers."""
    server = _MLFLOW.get("server")
    if server is None:
        pytest.skip("no mlflow server installed (tests/run.sh installs it in .venv-mlflow)")
    try:
        return str(server.wait())
    except RuntimeError as exc:
        pytest.fail(str(exc))
