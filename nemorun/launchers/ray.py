"""The ``ray`` target: the compiled job description sent to a Ray cluster's Jobs API.

**Submit.** For each task, its working directory is built in ``RUN/ray/workdir/STEM`` (its
``entry.py``, a copy of each ``pythonpath`` directory as ``pythonpath/<i>``, and with ``packing:
one_job`` the points driver), zipped and uploaded the way Ray's own client does it (content
addressed, ``gcs://_ray_pkg_<hash>.zip``); then each item of ``jobs`` is posted as it is, its
``working_dir`` replaced by that URI. The address: the description's, else ``RAY_ADDRESS``.

The Jobs API is spoken over HTTP with the standard library (`JobsApi`), every request with a
timeout: Ray's ``JobSubmissionClient`` sets none. ray itself is imported only to build the
package (`_upload`), with Ray's own zip and hash, so the cluster unpacks what it expects.

**Jobs**: one `JobRef` per Ray job (its submission id; ``extra``: the address). **Status**: the
Jobs API's ``PENDING/RUNNING/SUCCEEDED/FAILED/STOPPED``; a ``one_job`` job that ended reports
each point from its driver's ``[nemorun] point I exit CODE`` lines. **Logs**: the job's log,
polled while it runs (``-f``); one point of a ``one_job`` job is its ``[point I]`` lines.
**Cancel**: ``POST /api/jobs/ID/stop``.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nemorun.launchers.base import (
    JobRef,
    JobState,
    JobStatus,
    LaunchError,
    RunHandle,
    Target,
    unordered_tasks,
)

NOT_INSTALLED = "Ray is not installed: pip install 'nemorun[ray]'"
NO_ADDRESS = (
    "no Ray cluster to submit to: set executor.address in the spec, or RAY_ADDRESS "
    "(the Jobs API, like http://127.0.0.1:8265)"
)
QUERY_TIMEOUT = 30.0
"""Seconds one Jobs API request may take."""
UPLOAD_TIMEOUT = 600.0
"""Seconds the upload of a working directory may take."""
PATIENCE = 60.0
"""Seconds a request the cluster asks to send again (busy, or its job agent starting) is."""
POLL = 1.0
"""Seconds between two looks at a followed job's log."""
STATES = {
    "PENDING": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "SUCCEEDED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "STOPPED": JobState.CANCELLED,
}
POINT_LINE = re.compile(r"^\[point (\d+)\] ?(.*)$")
RESULT_LINE = re.compile(r"^\[nemorun\] point (\d+) exit (-?\d+)$")
EXCLUDES = ["__pycache__", ".git", "*.pyc"]


class RayTarget(Target):
    """Submits the compiled job description through the Ray Jobs API (module docstring)."""

    name = "ray"

    def available(self) -> str | None:
        """ray must be installed here (``pip install 'nemorun[ray]'``) to build the package."""
        return NOT_INSTALLED if importlib.util.find_spec("ray") is None else None

    def submit(self, run: RunHandle) -> list[JobRef]:
        """Every selected point's job, in order; if one is refused, those already submitted
        are stopped and `LaunchError` carries the Jobs API's message."""
        submitted: list[JobRef] = []
        try:
            for planned in unordered_tasks(run):
                main = run.artifacts_dir / planned.task.mains[0]
                description = _description(main)
                api = JobsApi(_address(description))
                api.version()
                uri = _upload(api, _stage(run, main, description))
                for item in description["jobs"]:
                    points = tuple(item["points"])
                    if not set(points) & set(planned.points):
                        continue
                    if not set(points) <= set(planned.points):
                        raise LaunchError(
                            "packing: one_job runs every point of the sweep in one job; "
                            "launch the run again instead of some of its points"
                        )
                    body = {k: v for k, v in item.items() if k != "points"}
                    body["runtime_env"] = {**body["runtime_env"], "working_dir": uri}
                    job_id = api.submit(body)
                    submitted.append(
                        JobRef(
                            job_id,
                            planned.name,
                            points,
                            None,
                            {"address": api.address, "packed": len(points) > 1},
                        )
                    )
        except BaseException:
            for job in submitted:
                with contextlib.suppress(LaunchError):
                    JobsApi(job.extra["address"]).stop(job.id)
            raise
        run.state["last"] = {}
        return submitted

    def status(self, run: RunHandle) -> list[JobStatus]:
        """Each job's state; a job of several points (``one_job``) reports them one by one.
        A job the cluster no longer answers for keeps the last final state seen (``unknown``
        if none)."""
        last: dict[str, Any] = run.state.setdefault("last", {})
        out: list[JobStatus] = []
        for job in run.jobs:
            api = JobsApi(job.extra["address"], self.call_timeout(QUERY_TIMEOUT))
            try:
                info = api.info(job.id)
            except LaunchError as error:
                seen = last.get(job.id)
                if seen is not None:
                    out += [_status_from(job, seen, p) for p in job.points]
                else:
                    out += [
                        JobStatus(job.id, JobState.UNKNOWN, str(error), None, p) for p in job.points
                    ]
                continue
            seen = {
                "state": STATES.get(str(info.get("status")), JobState.UNKNOWN).value,
                "reason": _reason(info.get("message")),
                "exit_code": info.get("driver_exit_code"),
            }
            if len(job.points) > 1 and JobState(seen["state"]).is_final():
                seen["points"] = _point_results(api.logs(job.id))
            if JobState(seen["state"]).is_final():
                last[job.id] = seen
            out += [_status_from(job, seen, p) for p in job.points]
        return out

    def logs(self, run: RunHandle, job: JobRef, follow: bool = False) -> Iterator[str]:
        """The job's output lines (one point's, for a narrowed ``one_job`` job); with
        ``follow``, the log is read again every `POLL` seconds until the job ends."""
        api = JobsApi(job.extra["address"])
        narrow = job.points[0] if len(job.points) == 1 and job.extra.get("packed") else None
        shown = 0
        while True:
            final = not follow or STATES.get(str(api.info(job.id).get("status"))) in (
                JobState.COMPLETED,
                JobState.FAILED,
                JobState.CANCELLED,
            )
            lines = api.logs(job.id).splitlines()
            for line in lines[shown:]:
                kept = _line_of(line, narrow)
                if kept is not None:
                    yield kept
            shown = len(lines)
            if final:
                return
            time.sleep(POLL)

    def cancel(self, run: RunHandle) -> None:
        for job in run.jobs:
            JobsApi(job.extra["address"]).stop(job.id)


class Dropped(LaunchError):
    """The Jobs API closed the connection without an answer."""


class JobsApi:
    """The Ray Jobs API at ``address`` (``http://HOST:8265``), every request within ``timeout``."""

    def __init__(self, address: str, timeout: float = QUERY_TIMEOUT) -> None:
        self.address = address.rstrip("/")
        if "://" not in self.address:
            self.address = f"http://{self.address}"
        self.timeout = timeout

    def request(
        self, method: str, path: str, body: bytes | None = None, timeout: float | None = None
    ) -> tuple[int, bytes]:
        """(status code, body); `LaunchError` when the cluster cannot be reached in time,
        `Dropped` when it closed the connection without an answer."""
        headers = {"Content-Type": "application/json"} if body and path == "/api/jobs/" else {}
        request = urllib.request.Request(self.address + path, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (http.client.RemoteDisconnected, ConnectionResetError) as error:
            raise Dropped(f"the Ray Jobs API at {self.address}: {error}") from None
        except (urllib.error.URLError, OSError) as error:
            why = getattr(error, "reason", error)
            raise LaunchError(f"cannot reach the Ray Jobs API at {self.address}: {why}") from None

    def call(self, method: str, path: str, payload: Any = None) -> Any:
        """A JSON request whose answer must be 200; its JSON. A busy dashboard drops
        connections, and answers 500 "try again later" while its job agent starts: such a
        request is sent again, for up to `PATIENCE` seconds (a submission too: its
        ``submission_id`` makes a second copy of one already received "already exists")."""
        data = None if payload is None else json.dumps(payload).encode()
        deadline = time.monotonic() + PATIENCE
        again = False
        while True:
            try:
                code, text = self.request(method, path, data)
            except Dropped:
                if time.monotonic() > deadline:
                    raise
                code, text = 0, b""
            said = text.decode("utf-8", "replace").strip()
            if code == 200:
                return json.loads(text) if text else None
            if again and code == 400 and "already exists" in said and payload is not None:
                return {"submission_id": payload.get("submission_id")}
            if (code == 0 or "try again" in said) and time.monotonic() < deadline:
                again = True
                time.sleep(2.0)
                continue
            raise LaunchError(f"the Ray Jobs API at {self.address} answered {code}: {said}")

    def version(self) -> str:
        return str(self.call("GET", "/api/version").get("ray_version"))

    def submit(self, body: dict[str, Any]) -> str:
        return str(self.call("POST", "/api/jobs/", body)["submission_id"])

    def info(self, job_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/api/jobs/{job_id}"))

    def logs(self, job_id: str) -> str:
        return str(self.call("GET", f"/api/jobs/{job_id}/logs").get("logs", ""))

    def stop(self, job_id: str) -> None:
        self.call("POST", f"/api/jobs/{job_id}/stop")


def _description(main: Path) -> dict[str, Any]:
    """The compiled description (`nemorun.compiler.targets.ray`)."""
    import yaml

    try:
        description = yaml.safe_load(main.read_text(encoding="utf-8"))
        jobs = description["jobs"]
        for item in jobs:
            item["points"] = [int(p) for p in item["metadata"]["nemorun_points"].split(",")]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as error:
        raise LaunchError(f"{main} is not a nemorun Ray job description: {error}") from None
    return dict(description)


def _address(description: dict[str, Any]) -> str:
    address = description.get("address") or os.environ.get("RAY_ADDRESS")
    if not address:
        raise LaunchError(NO_ADDRESS)
    return str(address)


def _stage(run: RunHandle, main: Path, description: dict[str, Any]) -> Path:
    """The task's working directory, built anew: ``entry.py``, ``pythonpath/<i>``, the
    points driver."""
    from nemorun.compiler.targets import ray as compiled

    workdir = Path(description["jobs"][0]["runtime_env"]["working_dir"])
    if not (workdir.is_absolute() and workdir.is_relative_to(run.dir / compiled.WORKDIR)):
        raise LaunchError(
            f"{main} was not compiled for this run: its working_dir is {workdir}, not a "
            f"directory in {run.dir / compiled.WORKDIR}"
        )
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    entry = main.parent / compiled.ENTRY
    if entry.is_file():
        shutil.copy2(entry, workdir / compiled.ENTRY)
    ignore = shutil.ignore_patterns(*EXCLUDES)
    for i, directory in enumerate(description.get("pythonpath") or []):
        try:
            shutil.copytree(directory, workdir / compiled.PYTHONPATH_DIR / str(i), ignore=ignore)
        except OSError as error:
            raise LaunchError(f"cannot copy pythonpath directory {directory}: {error}") from None
    driver = Path(__file__).with_name("ray_points.py")
    shutil.copy2(driver, workdir / compiled.POINTS_DRIVER)
    return workdir


def _upload(api: JobsApi, workdir: Path) -> str:
    """Upload ``workdir`` as Ray's client does (its zip, its content hash); the package's URI."""
    import tempfile

    from ray._private.runtime_env.packaging import create_package, get_uri_for_directory

    uri = get_uri_for_directory(str(workdir), include_gitignore=False, excludes=[])
    protocol, name = uri.split("://", 1)
    path = f"/api/packages/{protocol}/{name}"
    code, _ = api.request("GET", path)
    if code == 200:
        return uri
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / name
        # Ray's own logger says INFO lines on stderr; this one stays quiet below warnings.
        quiet = logging.getLogger(__name__)
        create_package(str(workdir), package, include_gitignore=False, logger=quiet)
        code, said = api.request("PUT", path, package.read_bytes(), timeout=UPLOAD_TIMEOUT)
    if code != 200:
        text = said.decode("utf-8", "replace").strip()
        raise LaunchError(f"the upload of {workdir} to {api.address} failed ({code}): {text}")
    return uri


def _status_from(job: JobRef, seen: dict[str, Any], point: int) -> JobStatus:
    """One point's status from a job's: a ``one_job`` point that ended has its own exit code."""
    state = JobState(seen["state"])
    code = seen.get("exit_code")
    results = seen.get("points") or {}
    if str(point) in results:
        code = results[str(point)]
        state = JobState.COMPLETED if code == 0 else JobState.FAILED
    reason = None if state is JobState.COMPLETED else seen.get("reason")
    return JobStatus(job.id, state, reason, code, point if len(job.points) > 1 else job.points[0])


def _reason(message: object) -> str | None:
    """The Jobs API's message, its first sentence: a failed job's message goes on with the
    last 20,000 characters of its log, which ``logs`` shows."""
    if not message:
        return None
    first = str(message).strip().splitlines()[0]
    return first.split(", last available logs")[0].strip() or None


def _point_results(log: str) -> dict[str, int]:
    """``{point: exit code}`` from a ``one_job`` driver's result lines."""
    return {m.group(1): int(m.group(2)) for m in map(RESULT_LINE.match, log.splitlines()) if m}


def _line_of(line: str, point: int | None) -> str | None:
    """``line`` as shown for ``point`` of a ``one_job`` job (None: the whole job): only the
    point's own lines, without their prefix."""
    if point is None:
        return line
    match = POINT_LINE.match(line)
    return match.group(2) if match is not None and int(match.group(1)) == point else None
