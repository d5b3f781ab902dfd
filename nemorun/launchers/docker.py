"""The ``docker`` target: runs the compiled docker scripts, detached, where an engine answers.

**Submit.** Each compiled artifact (``artifacts/STEM.sh``: one ``docker run --rm`` per sweep
point, `nemorun.compiler.targets.docker`) runs unchanged, as ``bash STEM.sh POINT`` for each
point, under a small *supervisor* process started in its own session (``setsid -f``): `submit`
returns at once and the run survives the shell that launched it. The supervisor runs a task's
points one after the other (like the script itself), or up to N at a time: the task's
``max_parallel`` in ``tasks.json`` if it has one, else ``run.state["max_parallel"]`` when the
launch layer sets it (each container has its own name, ``-POINT``, so points running together
do not collide). It inherits the launching environment: the engine
(``DOCKER_HOST``…, recorded, see below) and the ``${oc.env:…}`` values the script reads.

**Tasks** come from the compiled ``tasks.json`` (`planned_tasks`: parents first; only the
points of ``run.points`` when it is set, for ``rerun --failed``). Tasks run one after the other
in that order, and a task whose ``after`` names a task of this submission that did not complete
is not run: its jobs are **failed**, reason ``dependency failed: <parents>`` (a parent left out
of the submission counts as done).

**Jobs.** One `JobRef` per task and sweep point; its id is the point's container name as the
script names it (``nemorun-<run name>[-<task>][-POINT]``, or ``executor.name``), read from the
artifact (so each job has exactly one point). Its output (stdout and stderr, interleaved as
they came) goes to ``RUN/logs/STEM.POINT.log`` (the local target's naming; STEM is the task's
name, or the run's for one task). The supervisor's own files are under ``RUN/docker/``:
``plan.json`` (what to run), ``supervisor`` (its pid and start time:
``/proc/PID/stat`` field 22, because PIDs wrap and a pid alone proves nothing), per job
``ID.started`` / ``ID.exit`` (the exit status of ``bash STEM.sh POINT``: the container's, or
docker's own 125-127) / ``ID.blocked`` (why it never ran), each written atomically, then
``cancelled`` (by `cancel`) and ``done`` (the supervisor's last act).

**Status** comes from those files, refined by one ``docker inspect`` of the containers under
way (``created`` is still pending, ``running`` is running). The last state seen of each job is
kept in ``run.state["last"]``, so a point whose container has just been removed does not
flicker back to pending. A supervisor that died without recording a point's exit status
(killed, machine rebooted) makes the point **failed**, with that reason (running, if its
container still runs).

**Logs** are read from the log files; following stops once the job has ended. Lines are
yielded without their line break.

**Cancel** writes ``cancelled`` (nothing new starts), kills the supervisor's process group
(``SIGKILL``: the point scripts and their ``docker run`` clients with it), then ``docker rm -f``
the containers of the jobs under way, and looks again (a container whose creation was in
flight when its client died appears a moment later). Jobs that had not ended are
**cancelled**. ``cancel_points`` writes ``ID.cancelled`` for those jobs (the supervisor does
not start them) and removes their containers under way until their exit status is recorded.

**The engine** is the one ``DOCKER_HOST`` (or ``DOCKER_CONTEXT``, ``DOCKER_CONFIG``, the TLS
variables) named when the run was submitted: they are kept in ``run.state["env"]`` and used by
status and cancel, whatever the environment of those later commands.

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemorun.files import PRIVATE_DIR, open_private, write_atomic
from nemorun.launchers.base import (
    JobRef,
    JobState,
    JobStatus,
    LaunchError,
    RunHandle,
    Target,
    planned_tasks,
)

ENGINE_TIMEOUT = 15.0
NOT_RUN = -1
"""The code `_run_points` counts for a point it did not start (cancelled): not a success."""
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
DEPENDENCY_FAILED = "dependency failed"
EXIT_REASONS = {
    125: "docker could not create or start the container (exit 125)",
    126: "the container's command could not be invoked (exit 126)",
    127: "the container's command was not found (exit 127)",
    137: "killed (exit 137: SIGKILL, docker kill or out of memory)",
}


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
        state_dir = _state_dir(run)
        if state_dir.exists() and any(state_dir.iterdir()):
            raise LaunchError(f"run {run.id} was submitted already ({state_dir} exists)")
        jobs: list[JobRef] = []
        plan: list[dict[str, Any]] = []
        for planned in tasks:
            task = planned.task
            if not task.mains:
                raise LaunchError(f"task {task.name} has no script to submit")
            for file in task.mains:
                script = read_script(run.artifacts_dir / file)
                stem = script.path.name.removesuffix(SUFFIX)
                refs = [
                    JobRef(
                        id=script.container(point),
                        task=task.name,
                        points=(point,),
                        log=str((run.logs_dir / f"{stem}.{point}.log").resolve()),
                        extra={"script": script.path.name, "after": list(task.after)},
                    )
                    for point in range(script.points)
                    if point in planned.points
                ]
                ids = [ref.id for ref in jobs + refs]
                if len(set(ids)) != len(ids):
                    raise LaunchError(f"two jobs of run {run.id} have one container name")
                jobs += refs
                plan.append(
                    {
                        "task": task.name,
                        "after": list(task.after),
                        "parallel": task.max_parallel or parallel,
                        "script": str(script.path.resolve()),
                        "jobs": [{"id": r.id, "point": r.points[0], "log": r.log} for r in refs],
                    }
                )
        state_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        run.logs_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        plan_path = state_dir / "plan.json"
        _write(plan_path, json.dumps({"parallel": parallel, "tasks": plan}, indent=1))
        # Isolated (-I -S): nothing of the run directory, the user's site or PYTHON* can shadow
        # nemorun; the environment still reaches the scripts it runs.
        source = str(Path(__file__).resolve().parents[2])
        code = (
            f"import sys; sys.path.insert(0, {source!r}); "
            "from nemorun.launchers.docker import supervise; supervise(sys.argv[1])"
        )
        argv = [sys.executable, "-I", "-S", "-c", code, str(plan_path.resolve())]
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
        view = _View(run)
        jobs = [job for job in run.jobs if job.points]
        under_way = [job.id for job in jobs if view.started(job.id) and view.exit(job.id) is None]
        containers = _inspect(run, under_way) if under_way else {}
        last = run.state.setdefault("last", {})
        alive = view.supervisor_alive()
        out = []
        for job in jobs:
            state, reason, code = view.state(job, containers.get(job.id), last.get(job.id), alive)
            last[job.id] = state.value
            out.append(JobStatus(job.id, state, reason, code, job.points[0]))
        return out

    # --- logs ---------------------------------------------------------------------------------

    def logs(self, run: RunHandle, job: JobRef, follow: bool = False) -> Iterator[str]:
        path = Path(job.log) if job.log else run.logs_dir / f"{job.id}.log"
        view = _View(run)
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
        state_dir = _state_dir(run)
        if not state_dir.is_dir():
            return
        view = _View(run)
        _write(state_dir / "cancelled", f"{time.time()}\n")
        supervisor = view.supervisor()
        if supervisor is not None and _alive(*supervisor):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(supervisor[0], signal.SIGKILL)
            deadline = time.monotonic() + 10
            while _alive(*supervisor) and time.monotonic() < deadline:
                time.sleep(0.01)
        names = [job.id for job in run.jobs if view.started(job.id) and view.exit(job.id) is None]
        _remove_containers(run, names)

    def cancel_points(self, run: RunHandle, points: dict[str, tuple[int, ...]]) -> None:
        """Each point is a job: its marker stops the supervisor from starting it; a container
        under way is removed (its ``docker run`` then ends, and its exit status is recorded)."""
        state_dir = _state_dir(run)
        if not state_dir.is_dir():
            return
        view = _View(run)
        chosen = [j.id for j in run.jobs if j.points and j.points[0] in points.get(j.task, ())]
        for job in chosen:
            _write(_cancel_marker(state_dir, job), f"{time.time()}\n")
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


# --- the supervisor -------------------------------------------------------------------------


def supervise(plan_path: str) -> None:
    """The detached supervisor (``python -c … supervise PLAN``): runs the plan's tasks in
    order, each point as ``bash SCRIPT POINT`` with its output in its log, recording each
    job's start and exit status beside the plan (module docstring)."""
    state = Path(plan_path).parent
    plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    stat = Path(f"/proc/{os.getpid()}/stat").read_text()
    _write(state / "supervisor", f"{os.getpid()} {stat.rpartition(')')[2].split()[19]}\n")
    parallel = max(1, int(plan["parallel"]))
    failed: dict[str, str] = {}  # the tasks that did not complete → why
    for task in plan["tasks"]:
        if (state / "cancelled").exists():
            break
        parents = [p for p in task["after"] if p in failed]
        if parents:
            why = f"{DEPENDENCY_FAILED}: {', '.join(parents)}"
            for job in task["jobs"]:
                _write(state / f"{job['id']}.blocked", why + "\n")
            failed[task["task"]] = why
            continue
        codes = _run_points(state, task["script"], task["jobs"], task.get("parallel", parallel))
        if any(code != 0 for code in codes):
            failed[task["task"]] = "failed"
    _write(state / "done", "")


def _run_points(state: Path, script: str, jobs: list[dict[str, Any]], parallel: int) -> list[int]:
    running: dict[subprocess.Popen[bytes], str] = {}
    codes: list[int] = []

    def reap(block: bool) -> None:
        while running:
            for proc in list(running):
                code = proc.poll()
                if code is not None:
                    _write(state / f"{running.pop(proc)}.exit", f"{code}\n")
                    codes.append(code)
                    return
            if not block:
                return
            time.sleep(0.05)

    for job in jobs:
        while len(running) >= parallel:
            reap(block=True)
        if (state / "cancelled").exists():
            break
        marker, started = _cancel_marker(state, job["id"]), state / f"{job['id']}.started"
        if marker.exists():
            codes.append(NOT_RUN)
            continue
        _write(started, f"{time.time()}\n")
        if marker.exists():  # cancelled before `cancel_points` could see it started
            started.unlink()
            codes.append(NOT_RUN)
            continue
        with open_private(job["log"]) as log:
            proc = subprocess.Popen(
                ["bash", script, str(job["point"])],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        running[proc] = job["id"]
    while running:
        reap(block=True)
    return codes


def _state_dir(run: RunHandle) -> Path:
    return run.dir / "docker"


def _cancel_marker(state_dir: Path, job: str) -> Path:
    """The file whose presence says that job (one sweep point) is cancelled."""
    return state_dir / f"{job}.cancelled"


def _write(path: Path, text: str) -> None:
    write_atomic(path, text)


class _View:
    """What the supervisor's files say about a run (read afresh for each question)."""

    def __init__(self, run: RunHandle) -> None:
        self.run = run
        self.dir = _state_dir(run)

    def supervisor(self) -> tuple[int, int] | None:
        try:
            pid, start = (self.dir / "supervisor").read_text().split()
            return int(pid), int(start)
        except (OSError, ValueError):
            recorded = self.run.state.get("supervisor")
            return (int(recorded[0]), int(recorded[1])) if recorded else None

    def supervisor_alive(self) -> bool:
        supervisor = self.supervisor()
        return supervisor is not None and not self.done() and _alive(*supervisor)

    def done(self) -> bool:
        return (self.dir / "done").exists()

    def started(self, job: str) -> bool:
        return (self.dir / f"{job}.started").exists()

    def exit(self, job: str) -> int | None:
        try:
            return int((self.dir / f"{job}.exit").read_text())
        except (OSError, ValueError):
            return None

    def blocked(self, job: str) -> str | None:
        try:
            return (self.dir / f"{job}.blocked").read_text().strip()
        except OSError:
            return None

    def cancelled(self, job: str) -> bool:
        """True when the run, or this job alone, was cancelled."""
        return (self.dir / "cancelled").exists() or _cancel_marker(self.dir, job).exists()

    def ended(self, job: str) -> bool:
        return (
            self.exit(job) is not None
            or self.blocked(job) is not None
            or (self.cancelled(job) and not self.started(job))
            or not self.supervisor_alive()
        )

    def state(
        self, job: JobRef, container: tuple[str, int] | None, last: str | None, alive: bool
    ) -> tuple[JobState, str | None, int | None]:
        code = self.exit(job.id)
        if code is not None:
            if code == 0:
                return JobState.COMPLETED, None, 0
            if self.cancelled(job.id):
                return JobState.CANCELLED, "cancelled", code
            return JobState.FAILED, EXIT_REASONS.get(code, f"exit code {code}"), code
        blocked = self.blocked(job.id)
        if blocked is not None:
            return JobState.FAILED, blocked, None
        if self.cancelled(job.id) and not (self.started(job.id) and alive):
            return JobState.CANCELLED, "cancelled", None
        if not self.started(job.id):
            if alive:
                after = job.extra.get("after") or []
                waiting = f"waiting for {', '.join(after)}" if after else None
                if waiting is None:
                    waiting = "waiting for earlier points (max_parallel)"
                return JobState.PENDING, waiting, None
            return JobState.FAILED, "never started: the supervisor is gone", None
        docker_state = container[0] if container else None
        if docker_state in ("running", "restarting", "paused"):
            reason = None if alive else "the supervisor is gone; the container still runs"
            return JobState.RUNNING, reason, None
        if not alive:
            why = "the supervisor ended without recording the exit status (killed?)"
            return JobState.FAILED, why, None
        if docker_state == "created":
            return JobState.PENDING, "container created, not started yet", None
        if last == JobState.RUNNING.value or docker_state in ("exited", "dead", "removing"):
            return JobState.RUNNING, None, None  # ending: its exit status is being written
        return JobState.PENDING, "creating the container", None


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


def _alive(pid: int, start: int) -> bool:
    """``pid`` runs, is not a zombie, and started at ``start`` (clock ticks since boot)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rpartition(")")[2].split()
    return len(fields) > 19 and fields[0] not in ("Z", "X") and int(fields[19]) == start
