"""The ``docker`` target: runs the compiled docker scripts, detached, where an engine answers.

**Submit.** Each compiled artifact (``artifacts/STEM.sh``: one ``docker run --rm`` per sweep
point) runs unchanged, as ``bash STEM.sh POINT``, under the point supervisor the local target
uses too (`nemorun.launchers.supervise`), started in its own session (``setsid -f``), so the run
survives the shell that launched it. It inherits the launching environment: the engine
(``DOCKER_HOST``…, kept in ``run.state["env"]`` and used by status and cancel, whatever the
environment of those later commands) and the ``${oc.env:…}`` values the script reads.

**Jobs.** One `JobRef` per task and sweep point, named after the point's container
(``nemorun-<run name>[-<task>][-POINT]``, or ``executor.name``, read from the artifact); its
output goes to ``RUN/logs/STEM.POINT.log``. States come from the supervisor's files
(`nemorun.launchers.docker_states`), refined by ``docker inspect`` of the containers under way.

**Cancel** writes ``cancelled``, kills the supervisor's process group (the point scripts and
their ``docker run`` clients with it), then ``docker rm -f`` the containers under way.

Limit: default container names come from the run's *name*, so two runs of one name cannot run
at the same time on one engine (docker refuses the second container: exit 125, "Conflict").
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemorun.compiler.manifest import PlannedTask
from nemorun.files import PRIVATE_DIR, open_private, write_atomic
from nemorun.launchers.attempts import read_attempts, with_attempts
from nemorun.launchers.base import (
    JobRef,
    JobStatus,
    LaunchError,
    RunHandle,
    Target,
    planned_tasks,
)
from nemorun.launchers.dependencies import singleton_lock
from nemorun.launchers.docker_states import DockerView, alive, cancel_marker, docker_dir

SUPERVISOR = Path(__file__).with_name("supervise.py")
ENGINE_TIMEOUT = 15.0
"""Seconds a ``docker`` call may take before the engine counts as not answering."""
START_TIMEOUT = 10.0
"""Seconds `submit` waits for the supervisor to record itself."""
POLL = 0.1
"""Seconds between two reads of a log file being followed."""
SUFFIX = ".sh"
ENV_KEYS = (
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_CONFIG",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_API_VERSION",
)
DEFAULT_ENGINE = "unix:///var/run/docker.sock"
INSPECT_FORMAT = "{{.Name}} {{.State.Status}} {{.State.ExitCode}}"


@dataclass(frozen=True)
class Script:
    """What `submit` reads from a compiled docker script."""

    path: Path
    points: int
    name: str
    """The container name, with ``$1`` where a sweep puts the point."""
    run_name: str

    def container(self, point: int) -> str:
        return self.name.replace("$1", str(point))


class DockerTarget(Target):
    """Runs the compiled docker scripts on the engine ``DOCKER_HOST`` names (module docstring)."""

    name = "docker"

    def __init__(self, max_parallel: int | None = None) -> None:
        self.max_parallel = max_parallel

    # --- availability -------------------------------------------------------------------------

    def available(self) -> str | None:
        return engine_problem(dict(os.environ))

    # --- submit -------------------------------------------------------------------------------

    def submit(self, run: RunHandle) -> list[JobRef]:
        problem = self.available()
        if problem is not None:
            raise LaunchError(problem)
        tasks = planned_tasks(run)
        parallel = int(run.state.get("max_parallel") or self.max_parallel or 1)
        if parallel < 1:
            raise LaunchError(f"max_parallel must be at least 1, not {parallel}")
        state_dir = docker_dir(run)
        if state_dir.exists() and any(state_dir.iterdir()):
            raise LaunchError(f"run {run.id} was submitted already ({state_dir} exists)")
        jobs: list[JobRef] = []
        plan: list[dict[str, Any]] = []
        for planned in tasks:
            for file in planned.task.mains:
                refs = _jobs(run, planned, read_script(run.artifacts_dir / file))
                ids = [ref.id for ref in jobs + refs]
                if len(set(ids)) != len(ids):
                    raise LaunchError(f"two jobs of run {run.id} have one container name")
                jobs += refs
                plan.append(_plan_task(run, planned, file, refs, parallel))
        state_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        run.logs_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        plan_path = state_dir / "plan.json"
        _write(plan_path, json.dumps(_plan(run, plan), indent=1))
        # Isolated (-I -S): nothing of the run directory, the user's site or PYTHON* can shadow
        # the supervisor; the environment still reaches the scripts it runs.
        argv = [sys.executable, "-I", "-S", str(SUPERVISOR), str(plan_path.resolve())]
        _detach(argv, cwd=run.dir, stderr=state_dir / "supervisor.log")
        supervisor = _wait_for_supervisor(state_dir)
        run.state.update(
            {
                "max_parallel": parallel,
                "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
                "supervisor": list(supervisor),
                "last": {},
            }
        )
        return jobs

    # --- status -------------------------------------------------------------------------------

    def status(self, run: RunHandle) -> list[JobStatus]:
        return self.status_many([run])[0]

    def status_many(self, runs: Sequence[RunHandle]) -> list[list[JobStatus]]:
        """One ``docker inspect`` per engine for the containers under way of all ``runs``
        (started, no exit status yet); the supervisors' files say the rest."""
        views = [DockerView(run) for run in runs]
        by_engine: dict[tuple[tuple[str, str], ...], tuple[RunHandle, list[str]]] = {}
        for run, view in zip(runs, views):
            under_way = [
                j.id
                for j in run.jobs
                if j.points and view.started(j.id) and view.exit(j.id) is None
            ]
            engine = tuple(sorted((run.state.get("env") or {}).items()))
            by_engine.setdefault(engine, (run, []))[1].extend(under_way)
        containers: dict[str, tuple[str, int]] = {}
        for run, names in by_engine.values():
            containers.update(_inspect(run, names) if names else {})
        return [self._statuses(run, view, containers) for run, view in zip(runs, views)]

    def _statuses(
        self, run: RunHandle, view: DockerView, containers: dict[str, tuple[str, int]]
    ) -> list[JobStatus]:
        jobs = [job for job in run.jobs if job.points]
        last = run.state.setdefault("last", {})
        living = view.supervisor_alive()
        out = []
        for job in jobs:
            state, reason, code = view.state(job, containers.get(job.id), last.get(job.id), living)
            last[job.id] = state.value
            tries = (
                read_attempts(Path(run.here(job.log)).with_suffix(".attempts")) if job.log else ()
            )
            out.append(with_attempts(JobStatus(job.id, state, reason, code, job.points[0]), tries))
        return out

    # --- logs ---------------------------------------------------------------------------------

    def logs(self, run: RunHandle, job: JobRef, follow: bool = False) -> Iterator[str]:
        path = Path(job.log) if job.log else run.logs_dir / f"{job.id}.log"
        view = DockerView(run)
        offset = 0
        pending = b""
        while True:
            ended = not follow or view.ended(job.id)  # asked before reading: nothing is missed
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    data = handle.read()
            except FileNotFoundError:
                data = b""
            offset += len(data)
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace")
            if ended:
                break
            if not data:
                time.sleep(POLL)
        if pending:
            yield pending.decode("utf-8", "replace")

    # --- cancel -------------------------------------------------------------------------------

    def cancel(self, run: RunHandle) -> None:
        state_dir = docker_dir(run)
        if not state_dir.is_dir():
            return
        view = DockerView(run)
        _write(state_dir / "cancelled", f"{time.time()}\n")
        supervisor = view.supervisor()
        if supervisor is not None and alive(*supervisor):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(supervisor[0], signal.SIGKILL)
            deadline = time.monotonic() + 10
            while alive(*supervisor) and time.monotonic() < deadline:
                time.sleep(0.01)
        names = [job.id for job in run.jobs if view.started(job.id) and view.exit(job.id) is None]
        _remove_containers(run, names)

    def cancel_points(self, run: RunHandle, points: dict[str, tuple[int, ...]]) -> None:
        """Each point is a job: its marker stops the supervisor from starting it; a container
        under way is removed (its ``docker run`` then ends, and its exit status is recorded)."""
        state_dir = docker_dir(run)
        if not state_dir.is_dir():
            return
        view = DockerView(run)
        chosen = [j.id for j in run.jobs if j.points and j.points[0] in points.get(j.task, ())]
        for job in chosen:
            _write(cancel_marker(state_dir, job), f"{time.time()}\n")
        names = [job for job in chosen if view.started(job) and view.exit(job) is None]
        # Its client lives on until the container is gone: one created late is removed too.
        deadline = time.monotonic() + ENGINE_TIMEOUT
        while names and view.supervisor_alive() and time.monotonic() < deadline:
            _remove_containers(run, names)
            names = [job for job in names if view.exit(job) is None]
            time.sleep(0.05)


def _remove_containers(run: RunHandle, names: list[str]) -> None:
    """``docker rm -f`` the containers ``names`` that exist, until none is left."""
    if not names:
        return
    # A container whose creation was in flight when its client died appears a moment
    # later: look again until none is left.
    for attempt in range(5):
        existing = list(_inspect(run, names))
        if not existing:
            return
        if attempt:
            time.sleep(0.2)
        try:
            subprocess.run(
                ["docker", "rm", "-f", *existing],
                env=_engine_env(run),
                capture_output=True,
                timeout=ENGINE_TIMEOUT * 2,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise LaunchError(f"docker rm -f {' '.join(existing)} failed: {error}") from None
    left = list(_inspect(run, names))
    if left:
        raise LaunchError(f"containers still there after docker rm -f: {', '.join(left)}")


# --- the engine -----------------------------------------------------------------------------


def engine_problem(env: dict[str, str]) -> str | None:
    """None when a docker client is on PATH and the engine ``env`` names answers, else why."""
    if shutil.which("docker", path=env.get("PATH")) is None:
        return "no docker client on PATH: install Docker (Debian: apt-get install docker.io)"
    where = env.get("DOCKER_HOST") or (
        f"context {env['DOCKER_CONTEXT']}" if env.get("DOCKER_CONTEXT") else DEFAULT_ENGINE
    )
    try:
        proc = subprocess.run(
            ["docker", "version", "--format", "{{.Server.Version}}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=ENGINE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return (
            f"no Docker engine answers at {where} (nothing in {ENGINE_TIMEOUT:g} s); "
            "start one or set DOCKER_HOST"
        )
    except OSError as error:
        return f"cannot run docker: {error}"
    if proc.returncode != 0 or not proc.stdout.strip():
        detail = proc.stderr.strip().splitlines()
        said = f" (docker: {detail[-1]})" if detail else ""
        return f"no Docker engine answers at {where}; start one or set DOCKER_HOST{said}"
    return None


def _engine_env(run: RunHandle) -> dict[str, str]:
    """The environment of docker calls for ``run``: the engine recorded at submit."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    env.update(run.state.get("env") or {})
    return env


def _inspect(run: RunHandle, names: list[str]) -> dict[str, tuple[str, int]]:
    """``{name: (docker state, exit code)}`` of those containers that exist."""
    try:
        proc = subprocess.run(
            ["docker", "inspect", "--format", INSPECT_FORMAT, *names],
            env=_engine_env(run),
            capture_output=True,
            text=True,
            timeout=ENGINE_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    out = {}
    for line in proc.stdout.splitlines():
        parts = line.rsplit(" ", 2)
        if len(parts) == 3 and parts[2].lstrip("-").isdigit():
            out[parts[0].lstrip("/")] = (parts[1], int(parts[2]))
    return out


# --- the artifacts --------------------------------------------------------------------------


def read_script(path: Path) -> Script:
    """A compiled docker script and what `submit` needs from it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise LaunchError(f"cannot read {path}: {error.strerror or error}") from None
    points: int | None = None
    name: str | None = None
    run_name: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if points is None and line.startswith("NEMORUN_POINTS="):
            points = int(line.partition("=")[2])
        elif name is None and line.startswith("--name "):
            name = shlex.split(line.removesuffix("\\"))[1]
        elif run_name is None and line.startswith("--label ") and "nemorun.run-name=" in line:
            run_name = shlex.split(line.removesuffix("\\"))[1].partition("=")[2]
    if points is None or name is None or run_name is None:
        raise LaunchError(f"{path} is not a docker script compiled by nemorun")
    return Script(path, points, name, run_name)


# --- the supervisor's plan ------------------------------------------------------------------


def _jobs(run: RunHandle, planned: PlannedTask, script: Script) -> list[JobRef]:
    """One job per point of ``script`` that the run submits, named after its container."""
    stem = script.path.name.removesuffix(SUFFIX)
    return [
        JobRef(
            id=script.container(point),
            task=planned.name,
            points=(point,),
            log=str((run.logs_dir / f"{stem}.{point}.log").resolve()),
            extra={"script": script.path.name, "after": list(planned.task.after)},
        )
        for point in range(script.points)
        if point in planned.points
    ]


def _plan(run: RunHandle, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """What the shared supervisor runs (`nemorun.launchers.supervise.Plan`), in the files
    `DockerView` reads: ``docker/ID.started``, ``ID.exit``, ``ID.blocked``, ``done``…"""
    state = docker_dir(run).resolve()
    return {
        "cwd": str(run.dir.resolve()),
        "record": None,  # detached by setsid(1): the launcher is not its parent to watch
        "supervisor": str(state / "supervisor"),
        "done": str(state / "done"),
        "cancelled": str(state / "cancelled"),
        "own_groups": False,  # `cancel` kills the supervisor's group, points included
        "tasks": tasks,
    }


def _plan_task(
    run: RunHandle, planned: PlannedTask, file: str, refs: list[JobRef], parallel: int
) -> dict[str, Any]:
    state = docker_dir(run).resolve()
    return {
        "name": planned.name,
        "after": list(planned.task.after),
        "conditions": dict(planned.task.conditions),
        "singleton": singleton_lock(run, planned.task),
        "parallel": planned.task.max_parallel or parallel,
        "script": str((run.artifacts_dir / file).resolve()),
        "blocked": [str(state / f"{r.id}.blocked") for r in refs],
        "points": [
            {
                "point": r.points[0],
                "log": r.log,
                "exit": str(state / f"{r.id}.exit"),
                "started": str(state / f"{r.id}.started"),
                "cancel": str(cancel_marker(state, r.id)),
                "skip": str(state / f"{r.id}.blocked"),
            }
            for r in refs
        ],
    }


def _write(path: Path, text: str) -> None:
    write_atomic(path, text)


# --- processes ------------------------------------------------------------------------------


def _detach(argv: list[str], cwd: Path, stderr: Path) -> None:
    """Start ``argv`` in a session of its own, not a child of this process (no zombie left);
    its stderr (a traceback, should it crash) goes to ``stderr``."""
    setsid = shutil.which("setsid")
    devnull = subprocess.DEVNULL
    with open_private(stderr) as errors:
        if setsid is not None:
            proc = subprocess.run(
                [setsid, "-f", *argv],
                cwd=cwd,
                stdin=devnull,
                stdout=devnull,
                stderr=errors,
                timeout=START_TIMEOUT,
            )
            if proc.returncode != 0:
                said = stderr.read_text(errors="replace").strip()
                raise LaunchError(f"cannot start the docker supervisor: {said}")
            return
        child = subprocess.Popen(  # no setsid(1): a child in a session of its own
            argv, cwd=cwd, stdin=devnull, stdout=devnull, stderr=errors, start_new_session=True
        )
    _CHILDREN.append(child)


_CHILDREN: list[subprocess.Popen[bytes]] = []
"""Supervisors started without setsid(1): kept so that they are not reported as leaked."""


def _wait_for_supervisor(state_dir: Path) -> tuple[int, int]:
    deadline = time.monotonic() + START_TIMEOUT
    path = state_dir / "supervisor"
    while time.monotonic() < deadline:
        try:
            pid, start = path.read_text().split()
            return int(pid), int(start)
        except (OSError, ValueError):
            time.sleep(0.005)
    said = (state_dir / "supervisor.log").read_text(errors="replace").strip()
    raise LaunchError(
        f"the docker supervisor did not start within {START_TIMEOUT:g} s"
        + (f": {said.splitlines()[-1]}" if said else "")
    )
