"""The ``skypilot`` target: ``sky launch`` of the compiled task YAML, one cluster per point.

**Submit.** The compiled YAML is a stream of one document per sweep point; ``sky launch`` takes
one document, so each is launched on its own cluster (``nr-<run id>-<n>``), detached, torn down
once its job ended and the cluster was idle ``idle_minutes``. A run is launched whole or not at
all. Tasks come from ``tasks.json`` (`planned_tasks`); a task that comes ``after`` another of
the submission is refused (ordering them would need the point supervisor; not done here).

**Jobs**: one `JobRef` per point, id = its cluster's name (``extra``: the SkyPilot job id).
**Status**: ``sky queue -o json CLUSTER…``, the last state seen kept in ``run.state["last"]``
(once a cluster is torn down its queue is gone). **Logs**: ``sky logs CLUSTER JOB``.
**Cancel**: ``sky cancel -y CLUSTER -a`` then ``sky down -y CLUSTER`` for every cluster.

Untested against a real cloud here (none is configured on these machines): only the
availability check runs for real in the tests.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from nemorun.files import PRIVATE_DIR, write_atomic
from nemorun.launchers.base import (
    JobRef,
    JobState,
    JobStatus,
    LaunchError,
    RunHandle,
    Target,
    unordered_tasks,
)

SUFFIX = ".yaml"
CHECK_TIMEOUT = 180.0
"""Seconds ``sky check`` may take (it may start SkyPilot's API server first)."""
LAUNCH_TIMEOUT = 3600.0
"""Seconds one ``sky launch`` may take (provisioning included)."""
QUERY_TIMEOUT = 120.0
DEFAULT_ENDPOINT = "http://127.0.0.1:46580"
NOT_INSTALLED = "SkyPilot is not installed: pip install 'nemorun[skypilot]'"
NO_CLOUD = "no cloud is enabled: run 'sky check'"
MAX_CLUSTER_NAME = 35
STATES = {
    "SUCCEEDED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "FAILED_SETUP": JobState.FAILED,
    "FAILED_DRIVER": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "INIT": JobState.PENDING,
    "PENDING": JobState.PENDING,
    "SETTING_UP": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
}
JOB_ID = re.compile(r"\bID: *(\d+)\b")

_CHECKED: dict[tuple[str, ...], str | None] = {}
"""`available`'s answers, per SkyPilot environment (the check is slow)."""


class SkyPilotTarget(Target):
    """Launches the compiled SkyPilot task YAML with ``sky launch`` (module docstring)."""

    name = "skypilot"

    def __init__(self, idle_minutes: int = 5) -> None:
        self.idle_minutes = idle_minutes

    # --- availability -------------------------------------------------------------------------

    def available(self) -> str | None:
        """SkyPilot must be installed (``pip install 'nemorun[skypilot]'``) and have an enabled
        cloud or infra: ``sky check -o json`` (a subprocess, at most `CHECK_TIMEOUT` seconds),
        the enabled infra of every workspace. Every ``sky`` command talks to SkyPilot's API
        server and starts a local one when none answers; when the check started it, the check
        stops it again (``sky api stop``); a server that was already running is left alone.
        Measured here (SkyPilot 0.14.1, nothing enabled): about 12 s for the check plus 2 s for
        the stop, so the answer is kept for the life of the process."""
        if importlib.util.find_spec("sky") is None or sky_command() is None:
            return NOT_INSTALLED
        key = tuple(
            os.environ.get(k, "")
            for k in ("HOME", "SKYPILOT_CONFIG", "SKYPILOT_API_SERVER_ENDPOINT")
        )
        if key not in _CHECKED:
            _CHECKED[key] = check_clouds()
        return _CHECKED[key]

    # --- submit -------------------------------------------------------------------------------

    def submit(self, run: RunHandle) -> list[JobRef]:
        """Each point: ``sky launch -y -d -c CLUSTER -i IDLE --down FILE``, ``FILE`` the artifact
        itself for a single document, or the point's document (its text cut out of the stream
        unchanged) in ``RUN/skypilot/STEM.POINT.yaml``. ``-d`` returns once the job is submitted
        (provisioning is waited for); ``--down`` with ``-i`` tears the cluster down after its job
        ends and it has been idle that long, so status and logs stay readable for a while and
        nothing runs up a bill. If a launch fails, the clusters already launched are torn down
        and `LaunchError` carries SkyPilot's message."""
        problem = self.available()
        if problem is not None:
            raise LaunchError(problem)
        launched: list[str] = []
        jobs: list[JobRef] = []
        try:
            for task, file, selected in _scripts(run):
                for point, path, doc_name in _documents(run, file):
                    if point not in selected:
                        continue
                    cluster = cluster_name(run.id, len(jobs))
                    launched.append(cluster)
                    job_id = self._launch(cluster, path)
                    jobs.append(
                        JobRef(
                            id=cluster,
                            task=task,
                            points=(point,),
                            log=None,
                            extra={
                                "cluster": cluster,
                                "job_id": job_id,
                                "yaml": str(path),
                                "name": doc_name,
                            },
                        )
                    )
        except BaseException:
            if launched:  # a run is launched whole or not at all
                with contextlib.suppress(LaunchError):
                    _sky(["down", "-y", *launched], timeout=QUERY_TIMEOUT * 5)
            raise
        run.state.update({"last": {}, "cancelled": False})
        return jobs

    def _launch(self, cluster: str, path: Path) -> int | None:
        argv = ["launch", "-y", "-d", "-c", cluster]
        argv += ["-i", str(self.idle_minutes), "--down", str(path)]
        proc = _sky(argv, timeout=LAUNCH_TIMEOUT)
        if proc.returncode != 0:
            raise LaunchError(f"sky launch {path.name} failed: {_said(proc)}")
        found = JOB_ID.findall(proc.stdout + proc.stderr)
        return int(found[-1]) if found else None

    # --- status -------------------------------------------------------------------------------

    def status(self, run: RunHandle) -> list[JobStatus]:
        """SkyPilot's job states: ``SUCCEEDED`` → completed, ``FAILED*`` → failed,
        ``CANCELLED`` → cancelled, ``INIT``/``PENDING``/``SETTING_UP`` → pending, ``RUNNING`` →
        running. A job whose cluster is gone keeps its last final state (``unknown`` if it was
        last seen unfinished)."""
        clusters = [job.id for job in run.jobs]
        queues = _queues(clusters) if clusters else {}
        last: dict[str, Any] = run.state.setdefault("last", {})
        out = []
        for job in run.jobs:
            point = job.points[0] if job.points else None
            record = _record(queues.get(job.id), job.extra.get("job_id"))
            if record is not None:
                sky_state = str(record.get("status"))
                state = STATES.get(sky_state, JobState.UNKNOWN)
                if run.state.get("cancelled") and not state.is_final():
                    state = JobState.CANCELLED
                last[job.id] = state.value
                reason = None if state is JobState.COMPLETED else sky_state.lower()
                out.append(JobStatus(job.id, state, reason, None, point))
                continue
            seen = JobState(last[job.id]) if job.id in last else None
            if seen is not None and seen.is_final():
                out.append(JobStatus(job.id, seen, "cluster torn down", None, point))
            elif run.state.get("cancelled"):
                out.append(JobStatus(job.id, JobState.CANCELLED, "cancelled", None, point))
            else:
                why = "no job queue: the cluster is gone or does not answer"
                out.append(JobStatus(job.id, JobState.UNKNOWN, why, None, point))
        return out

    # --- logs ---------------------------------------------------------------------------------

    def logs(self, run: RunHandle, job: JobRef, follow: bool = False) -> Iterator[str]:
        command = sky_command()
        if command is None:
            raise LaunchError(NOT_INSTALLED)
        argv = [*command, "logs", job.id]
        if job.extra.get("job_id") is not None:
            argv.append(str(job.extra["job_id"]))
        argv.append("--follow" if follow else "--no-follow")
        with subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                yield line.decode("utf-8", "replace").rstrip("\n")

    # --- cancel -------------------------------------------------------------------------------

    def cancel(self, run: RunHandle) -> None:
        clusters = [job.id for job in run.jobs]
        run.state["cancelled"] = True
        if not clusters:
            return
        for cluster in clusters:
            _sky(["cancel", "-y", cluster, "-a"], timeout=QUERY_TIMEOUT)
        proc = _sky(["down", "-y", *clusters], timeout=QUERY_TIMEOUT * 5)
        if proc.returncode != 0 and "not found" not in _said(proc).lower():
            raise LaunchError(f"sky down {' '.join(clusters)} failed: {_said(proc)}")


# --- SkyPilot's CLI -------------------------------------------------------------------------


def sky_command() -> list[str] | None:
    """How to run SkyPilot's CLI: the ``sky`` beside this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "sky"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("sky")
    return [found] if found else None


def _sky(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    command = sky_command()
    if command is None:
        raise LaunchError(NOT_INSTALLED)
    try:
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise LaunchError(f"sky {args[0]} did not finish in {timeout:g} s") from None


def _said(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (proc.stderr + proc.stdout).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"exit code {proc.returncode}"


def _json_at_end(text: str) -> Any:
    """The JSON document SkyPilot prints last (after any progress lines)."""
    lines = text.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith(("{", "[")):
            with contextlib.suppress(ValueError):
                return json.loads("\n".join(lines[i:]))
    raise ValueError("no JSON in SkyPilot's output")


def check_clouds() -> str | None:
    """None when ``sky check`` reports an enabled cloud or infra, else why not."""
    endpoint = api_endpoint()
    running_before = _listening(endpoint)
    try:
        proc = _sky(["check", "-o", "json"], timeout=CHECK_TIMEOUT)
    except LaunchError as error:
        return f"{NO_CLOUD} ({error})"
    finally:
        if not running_before and _is_local(endpoint) and _listening(endpoint):
            with contextlib.suppress(LaunchError):
                _sky(["api", "stop"], timeout=60)
    if proc.returncode != 0:
        return f"{NO_CLOUD} (sky check failed: {_said(proc)})"
    try:
        result = _json_at_end(proc.stdout)
    except ValueError:
        return f"{NO_CLOUD} (sky check printed no result)"
    return None if enabled_infra(result) else NO_CLOUD


def enabled_infra(result: Any) -> list[str]:
    """The enabled clouds/infra in ``sky check -o json``'s result (``{workspace: {cloud:
    [capabilities]}}``)."""
    found: list[str] = []
    if isinstance(result, dict):
        for clouds in result.values():
            if isinstance(clouds, dict):
                found += [name for name, capabilities in clouds.items() if capabilities]
            elif isinstance(clouds, list):
                found += [str(name) for name in clouds]
    return sorted(set(found))


def api_endpoint() -> str:
    """The API server SkyPilot's CLI talks to (its environment variable, its config file, or
    the local default)."""
    endpoint = os.environ.get("SKYPILOT_API_SERVER_ENDPOINT")
    if endpoint:
        return endpoint
    config = Path(os.environ.get("SKYPILOT_CONFIG", Path.home() / ".sky" / "config.yaml"))
    try:
        import yaml

        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        configured = (data.get("api_server") or {}).get("endpoint")
        if configured:
            return str(configured)
    except (OSError, ValueError, AttributeError, ImportError):
        pass
    return DEFAULT_ENDPOINT


def _is_local(endpoint: str) -> bool:
    return urlparse(endpoint).hostname in ("127.0.0.1", "localhost", "::1")


def _listening(endpoint: str) -> bool:
    url = urlparse(endpoint)
    host = url.hostname or "127.0.0.1"
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _queues(clusters: list[str]) -> dict[str, list[dict[str, Any]]]:
    try:
        proc = _sky(["queue", "-o", "json", *clusters], timeout=QUERY_TIMEOUT)
        result = _json_at_end(proc.stdout)
    except (LaunchError, ValueError):
        return {}
    return result if isinstance(result, dict) else {}


def _record(queue: list[dict[str, Any]] | None, job_id: int | None) -> dict[str, Any] | None:
    """The job's record in its cluster's queue: the given id, else the newest job."""
    if not queue:
        return None
    if job_id is not None:
        for record in queue:
            if record.get("job_id") == job_id:
                return record
    return max(queue, key=lambda record: record.get("job_id") or 0)


# --- the artifacts --------------------------------------------------------------------------


def cluster_name(run_id: str, index: int) -> str:
    """``nr-<run id>-<index>``, valid for SkyPilot and its clouds: lower case letters, digits
    and ``-``, starting with a letter, at most 35 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", run_id.lower()).strip("-") or "run"
    tail = f"-{index}"
    return f"nr-{slug}"[: MAX_CLUSTER_NAME - len(tail)].rstrip("-") + tail


def _scripts(run: RunHandle) -> list[tuple[str, str, tuple[int, ...]]]:
    """(task, file, points to launch) of every task YAML to launch, from the compiled
    ``tasks.json`` (`planned_tasks`, which applies ``run.points``)."""
    given = unordered_tasks(run)
    return [(p.name, file, p.points) for p in given for file in p.task.mains]


def _documents(run: RunHandle, file: str) -> list[tuple[int, Path, str]]:
    """(point, path, task name) of each document of the task YAML ``file``: the artifact
    itself for one document, else each document's text cut out, unchanged, into
    ``RUN/skypilot/``."""
    path = run.artifacts_dir / file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise LaunchError(f"cannot read {path}: {error.strerror or error}") from None
    parts: list[str] = [""]
    for line in text.splitlines(keepends=True):
        if line.rstrip("\r\n") == "---":
            parts.append("")
        else:
            parts[-1] += line
    names = [_name(part) for part in parts]
    if len(parts) == 1:
        return [(0, path, names[0])]
    out = []
    directory = run.dir / "skypilot"
    directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    stem = file.removesuffix(SUFFIX)
    for point, part in enumerate(parts):
        doc = directory / f"{stem}.{point}{SUFFIX}"
        write_atomic(doc, part)
        out.append((point, doc, names[point]))
    return out


def _name(document: str) -> str:
    for line in document.splitlines():
        if line.startswith("name: "):
            return line[len("name: ") :].strip().strip("'\"")
    return ""
