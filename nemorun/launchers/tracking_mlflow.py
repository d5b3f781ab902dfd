"""MLflow: the run is created on the tracking server through its REST API (``/api/2.0/mlflow``).

The standard library speaks it: no MLflow package at launch (importing MLflow's client takes
seconds), and a server that does not answer is known within `TIMEOUT`. The server's own
credentials variables are honoured (``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME`` and
``_PASSWORD``). The run is created ``SCHEDULED``; the job's ``mlflow.start_run()`` finds it
through ``MLFLOW_RUN_ID`` and logs into it; nemorun then mirrors running, finished, failed and
killed. The artifacts are uploaded through the server's artifact proxy
(``mlflow-artifacts:/...``, ``mlflow server``'s default); a server that stores them elsewhere
gets the run's directory as a tag instead, and the launch a warning.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from nemorun.launchers.tracking import Details, Opened, TrackedRun, TrackerError
from nemorun.schemas.tracking import MlflowTracking

TIMEOUT = 10.0
"""Seconds any one request may take."""
BATCH = 100
"""Parameters per ``log-batch`` request (the server's limit)."""
MAX_VALUE = 6000
"""The longest parameter value the server keeps (longer ones are cut, with ``…``)."""
STATUSES = {"running": "RUNNING", "completed": "FINISHED", "failed": "FAILED"}
STATUSES["cancelled"] = "KILLED"
PROXY = "mlflow-artifacts:"


def open_run(options: MlflowTracking, run: TrackedRun) -> Opened:
    uri = options.uri.rstrip("/")
    experiment = _experiment(uri, options.experiment or run.name)
    tags = [{"key": "mlflow.runName", "value": run.id}, {"key": "nemorun.run_id", "value": run.id}]
    body = {"experiment_id": experiment, "run_name": run.id, "start_time": _now(), "tags": tags}
    info = _call(uri, "runs/create", body)["run"]["info"]
    run_id = str(info["run_id"])
    _call(uri, "runs/update", {"run_id": run_id, "status": "SCHEDULED"})
    ref = {"uri": uri, "run_id": run_id, "experiment_id": experiment}
    ref["artifact_uri"] = str(info.get("artifact_uri", ""))
    env = (("MLFLOW_TRACKING_URI", uri), ("MLFLOW_RUN_ID", run_id))
    return Opened(ref, (*env, ("MLFLOW_EXPERIMENT_ID", experiment)))


def describe(ref: Mapping[str, str], details: Details) -> list[str]:
    uri, run_id = ref["uri"], ref["run_id"]
    params = [{"key": k[:250], "value": _cut(v)} for k, v in details.params.items()]
    for start in range(0, len(params), BATCH):
        _call(uri, "runs/log-batch", {"run_id": run_id, "params": params[start : start + BATCH]})
    tags = [{"key": k, "value": v} for k, v in details.tags.items()]
    _call(uri, "runs/log-batch", {"run_id": run_id, "tags": tags})
    where = ref.get("artifact_uri", "")
    if not where.startswith(PROXY):
        return [
            f"the server keeps artifacts at {where!r}, which nemorun cannot write to; "
            "the run's directory is in the tag nemorun.run_dir (serve artifacts through the "
            "server: 'mlflow server --serve-artifacts')"
        ]
    path = urllib.parse.urlsplit(where).path.lstrip("/")
    for file in sorted(p for p in details.artifacts.rglob("*") if p.is_file()):
        name = file.relative_to(details.artifacts).as_posix()
        url = f"{uri}/api/2.0/mlflow-artifacts/artifacts/{path}/nemorun/{name}"
        _request(urllib.request.Request(url, data=file.read_bytes(), method="PUT"), uri)
    return []


def mirror(ref: Mapping[str, str], state: str) -> None:
    body: dict[str, Any] = {"run_id": ref["run_id"], "status": STATUSES[state]}
    if state != "running":
        body["end_time"] = _now()
    _call(ref["uri"], "runs/update", body)


def _experiment(uri: str, name: str) -> str:
    """The id of experiment ``name``, created when it does not exist yet."""
    query = urllib.parse.urlencode({"experiment_name": name})
    try:
        found = _call(uri, f"experiments/get-by-name?{query}", None)
        return str(found["experiment"]["experiment_id"])
    except TrackerError as exc:
        if "RESOURCE_DOES_NOT_EXIST" not in str(exc):
            raise
    return str(_call(uri, "experiments/create", {"name": name})["experiment_id"])


def _call(uri: str, endpoint: str, body: Mapping[str, Any] | None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/{endpoint}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    return json.loads(_request(request, uri) or b"{}")


def _request(request: urllib.request.Request, uri: str) -> bytes:
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    elif user:
        pair = f"{user}:{os.environ.get('MLFLOW_TRACKING_PASSWORD', '')}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
            return bytes(answer.read())
    except urllib.error.HTTPError as exc:
        raise TrackerError(f"the MLflow server at {uri} refused: {_reason(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        if isinstance(why, TimeoutError):
            said = f"the MLflow server at {uri} did not answer within {TIMEOUT:g} s"
            raise TrackerError(said) from None
        raise TrackerError(f"the MLflow server at {uri} cannot be reached ({why})") from None


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        said = json.loads(exc.read() or b"{}")
    except ValueError:
        said = {}
    code, message = said.get("error_code"), said.get("message")
    return f"HTTP {exc.code}" + (f" {code}: {message}" if code or message else f" {exc.reason}")


def _cut(value: str) -> str:
    return value if len(value) <= MAX_VALUE else value[: MAX_VALUE - 1] + "…"


def _now() -> int:
    return int(time.time() * 1000)
