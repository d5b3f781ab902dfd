"""The ``kubernetes`` target's launch half, through the official ``kubernetes`` Python client.

The client, not ``kubectl``: it is a pinned Python extra (``nemorun[kubernetes]``; kubectl is a
binary this project cannot install), it reads kubeconfig the usual way (``KUBECONFIG``, else
``~/.kube/config``; in a pod, the service account), every call takes a timeout, the API's
refusals come back as data (HTTP status and message), and the tests can run it for real against
a stub API server on 127.0.0.1 (tests/launchers/test_kubernetes_launch.py).

**Submit**: each task's compiled manifest, object by object (ConfigMap, Service, Jobs), in the
document's namespace or the context's; then the ConfigMap and Service get the Jobs as owners,
so Kubernetes deletes them with the Jobs. A run is created whole or not at all.
**Jobs**: one `JobRef` per Job, id = its name. **Status**: the Job and its pods
(`kubernetes_states`). **Logs**: the newest pod of the point (of node 0 on several nodes);
``-f`` streams it. **Cancel**: delete each Job, its pods first (``propagationPolicy:
Foreground``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
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
from nemorun.launchers.kubernetes_states import (
    parse_points,
    pod_for,
    pod_phase,
    point_states,
)

CONNECT_TIMEOUT = 10.0
"""Seconds to connect to the API server."""
READ_TIMEOUT = 60.0
"""Seconds the API server may take to answer one request."""
FOLLOW_TIMEOUT = 3600.0
"""Seconds a followed log may stay silent before ``logs -f`` gives up."""
POLL = 2.0
"""Seconds between two looks for a point's pod while ``logs -f`` waits for it to start."""
NOT_INSTALLED = "the Kubernetes client is not installed: pip install 'nemorun[kubernetes]'"
CONTEXT_ANNOTATION = "nemorun.dev/kube-context"
POINTS_ANNOTATION = "nemorun.dev/points"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CREATE = {"ConfigMap": "create_namespaced_config_map", "Service": "create_namespaced_service"}


class ApiError(LaunchError):
    """The API server answered with an error status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class KubernetesTarget(Target):
    """Creates the compiled objects through the Kubernetes API (module docstring)."""

    name = "kubernetes"

    def available(self) -> str | None:
        """The client must be installed and a kubeconfig (or a pod's service account) found."""
        if importlib.util.find_spec("kubernetes") is None:
            return NOT_INSTALLED
        try:
            Api(None, self.call_timeout)
        except LaunchError as error:
            return str(error)
        return None

    def submit(self, run: RunHandle) -> list[JobRef]:
        """Create every task's objects; on any failure, delete those already created."""
        manifests = _manifests(run)
        contexts = {
            (doc["metadata"].get("annotations") or {}).get(CONTEXT_ANNOTATION)
            for _, _, docs in manifests
            for doc in docs
            if doc.get("kind") == "Job"
        }
        if len(contexts) > 1:
            raise LaunchError("the run's tasks name different kubeconfig contexts")
        api = Api(next(iter(contexts), None), self.call_timeout)
        created: list[tuple[str, str, str]] = []
        jobs: list[JobRef] = []
        try:
            for task, selected, docs in manifests:
                jobs += _create_task(api, task, selected, docs, created)
        except BaseException:
            for kind, namespace, name in reversed(created):
                with contextlib.suppress(LaunchError):
                    api.delete(kind, name, namespace)
            raise
        run.state.update({"context": api.context, "cancelled": False, "last": {}})
        return jobs

    def status(self, run: RunHandle) -> list[JobStatus]:
        """Each point's state (`kubernetes_states.point_states`). A Job that is gone keeps the
        last final state seen; cancelled, it reads cancelled; else unknown."""
        api = Api(run.state.get("context"), self.call_timeout)
        last: dict[str, str] = run.state.setdefault("last", {})
        cancelled = bool(run.state.get("cancelled"))
        out = []
        for job in run.jobs:
            namespace = str(job.extra.get("namespace"))
            try:
                found = api.read_json("batch", "read_namespaced_job_status", job.id, namespace)
            except ApiError as error:
                if error.status != 404:
                    raise
                out += [_gone(job, point, last, cancelled) for point in job.points]
                continue
            pods = api.pods(job.id, namespace)
            for seen in point_states(job.id, found, pods, job.points):
                if cancelled and not seen.state.is_final():
                    seen = replace(seen, state=JobState.CANCELLED, reason="cancelled")
                last[f"{job.id}/{seen.point}"] = seen.state.value
                out.append(seen)
        return out

    def logs(self, run: RunHandle, job: JobRef, follow: bool = False) -> Iterator[str]:
        """The output of each point of ``job``: its pod's log (``-f``: waits for the pod to
        start, then streams it until it ends)."""
        api = Api(run.state.get("context"), self.call_timeout)
        namespace = str(job.extra.get("namespace"))
        for point in job.points:
            index = point if job.extra.get("sweep") else 0
            pod = _pod_to_read(api, job.id, namespace, index, follow)
            if pod is not None:
                yield from api.log_lines(pod, namespace, follow)

    def cancel(self, run: RunHandle) -> None:
        """Delete every Job with its pods; the ConfigMap and Service go with them (owners)."""
        run.state["cancelled"] = True
        if not run.jobs:
            return
        api = Api(run.state.get("context"), self.call_timeout)
        for job in run.jobs:
            with contextlib.suppress(_NotFound):
                api.delete("Job", job.id, str(job.extra.get("namespace")))


class _NotFound(ApiError):
    pass


def _gone(job: JobRef, point: int, last: dict[str, str], cancelled: bool) -> JobStatus:
    """A point whose Job is deleted: its last final state if one was seen, else cancelled
    (``nemorun cancel``, or ``kubectl delete``, stopped it; ``Run.cancel`` keeps no state of
    the target's, so the deletion itself is what says so)."""
    seen = last.get(f"{job.id}/{point}")
    if seen is not None and JobState(seen).is_final():
        return JobStatus(job.id, JobState(seen), "the Job is deleted", None, point)
    why = "cancelled" if cancelled else "the Job was deleted before it was seen to end"
    return JobStatus(job.id, JobState.CANCELLED, why, None, point)


def _manifests(run: RunHandle) -> list[tuple[str, set[int], list[dict[str, Any]]]]:
    """(task, points to run, documents) of each task's compiled manifest."""
    import yaml

    out = []
    for planned in unordered_tasks(run):
        for file in planned.task.mains:
            path = run.artifacts_dir / file
            try:
                docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
            except (OSError, yaml.YAMLError) as error:
                raise LaunchError(f"cannot read {path}: {error}") from None
            out.append((planned.name, set(planned.points), docs))
    return out


def _create_task(
    api: Api,
    task: str,
    selected: set[int],
    docs: list[dict[str, Any]],
    created: list[tuple[str, str, str]],
) -> list[JobRef]:
    """Create one task's objects (noting each in ``created``); then make its Jobs the owners
    of its ConfigMap and Service."""
    jobs: list[JobRef] = []
    owned: list[tuple[str, str, str]] = []
    owners: list[dict[str, Any]] = []
    for doc in docs:
        kind, meta = str(doc.get("kind")), doc.get("metadata") or {}
        namespace = meta.get("namespace") or api.namespace
        points = parse_points((meta.get("annotations") or {}).get(POINTS_ANNOTATION, "0"))
        if kind == "Job" and not selected & set(points):
            continue
        if kind == "Job" and not set(points) <= selected:
            raise LaunchError(
                f"job {meta.get('name')} runs points {points[0]}-{points[-1]} as one Indexed "
                "Job: the kubernetes target reruns a whole sweep (nemorun rerun without --failed)"
            )
        answer = api.create(kind, namespace, doc)
        name = str((answer.get("metadata") or {}).get("name") or meta.get("name"))
        created.append((kind, namespace, name))
        if kind != "Job":
            owned.append((kind, namespace, name))
            continue
        uid = (answer.get("metadata") or {}).get("uid")
        owners.append({"apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid})
        extra = {"namespace": namespace, "sweep": len(points) > 1, "uid": uid}
        jobs.append(JobRef(id=name, task=task, points=points, extra=extra))
    for kind, namespace, name in owned:
        if owners:
            api.own(kind, name, namespace, owners)
    return jobs


def _pod_to_read(
    api: Api, job: str, namespace: str, index: int, follow: bool
) -> dict[str, Any] | None:
    """The pod whose log to read: the newest of completion ``index``. Following, wait (every
    `POLL` seconds) until it has left ``Pending``, or the Job is gone."""
    while True:
        pod = pod_for(api.pods(job, namespace), index)
        if not follow or (pod is not None and pod_phase(pod) not in ("", "Pending")):
            return pod
        try:
            found = api.read_json("batch", "read_namespaced_job_status", job, namespace)
        except _NotFound:
            return pod
        conditions = (found.get("status") or {}).get("conditions") or []
        if any(c.get("type") in ("Complete", "Failed") for c in conditions):
            return pod
        time.sleep(POLL)


class Api:
    """The client, configured from kubeconfig (``context``: the current one when None), every
    call with a timeout (cut by ``budget``: `Target.call_timeout`, for ``ls``) and its failures
    turned into `LaunchError`s."""

    def __init__(
        self, context: str | None, budget: Callable[[float], float] = lambda seconds: seconds
    ) -> None:
        self.budget = budget
        try:
            from kubernetes import client, config
        except ImportError:
            raise LaunchError(NOT_INSTALLED) from None
        configuration = client.Configuration()
        path = os.environ.get("KUBECONFIG") or str(Path("~/.kube/config").expanduser())
        self.context, self.namespace = context, "default"
        try:
            config.load_kube_config(path, context, configuration, persist_config=False)
            contexts, active = config.list_kube_config_contexts(path)
            chosen = next((c for c in contexts if c["name"] == context), active)
            self.context = chosen["name"]
            self.namespace = chosen["context"].get("namespace") or "default"
        except Exception as error:  # the client raises several kinds for a bad kubeconfig
            if "KUBERNETES_SERVICE_HOST" not in os.environ or context is not None:
                raise LaunchError(
                    f"no usable kubeconfig ({path}"
                    f"{f', context {context}' if context else ''}): {error}"
                ) from None
            config.load_incluster_config(configuration)
            with contextlib.suppress(OSError):
                self.namespace = (SERVICE_ACCOUNT / "namespace").read_text().strip()
        configuration.retries = 1  # a refused connection fails fast, as a LaunchError
        self.host = configuration.host
        self.client = client.ApiClient(configuration)
        self.apis = {"core": client.CoreV1Api(self.client), "batch": client.BatchV1Api(self.client)}

    def call(
        self, api: str, method: str, *args: Any, timeout: float = READ_TIMEOUT, **kw: Any
    ) -> Any:
        """``method`` of the core or batch API, its raw response (not the client's models)."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        function: Callable[..., Any] = getattr(self.apis[api], method)
        timeout = self.budget(timeout)
        limits = (min(CONNECT_TIMEOUT, timeout), timeout)
        try:
            return function(*args, _preload_content=False, _request_timeout=limits, **kw)
        except ApiException as error:
            raise _api_error(error, method) from None
        except HTTPError as error:
            reason = getattr(error, "reason", None) or error
            raise LaunchError(
                f"cannot reach the Kubernetes API server at {self.host}: {reason}"
            ) from None

    def read_json(self, api: str, method: str, *args: Any, **kw: Any) -> dict[str, Any]:
        response = self.call(api, method, *args, **kw)
        try:
            data = json.loads(response.data)
        except ValueError:
            raise LaunchError(f"{method}: the API server's answer is not JSON") from None
        return data if isinstance(data, dict) else {}

    def create(self, kind: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        if kind == "Job":
            return self.read_json("batch", "create_namespaced_job", namespace, body)
        if kind not in CREATE:
            raise LaunchError(f"the manifest holds a {kind}, which nemorun does not create")
        return self.read_json("core", CREATE[kind], namespace, body)

    def own(self, kind: str, name: str, namespace: str, owners: list[dict[str, Any]]) -> None:
        """Make ``owners`` (the Jobs) the owners of a ConfigMap or Service."""
        method = (
            "patch_namespaced_config_map" if kind == "ConfigMap" else "patch_namespaced_service"
        )
        body = {"metadata": {"ownerReferences": owners}}
        self.call("core", method, name, namespace, body)

    def delete(self, kind: str, name: str, namespace: str) -> None:
        api, method = {
            "Job": ("batch", "delete_namespaced_job"),
            "ConfigMap": ("core", "delete_namespaced_config_map"),
            "Service": ("core", "delete_namespaced_service"),
        }[kind]
        self.call(api, method, name, namespace, propagation_policy="Foreground")

    def pods(self, job: str, namespace: str) -> list[dict[str, Any]]:
        """The pods of Job ``job`` (the Job controller labels them ``job-name``)."""
        found = self.read_json(
            "core", "list_namespaced_pod", namespace, label_selector=f"job-name={job}"
        )
        return [pod for pod in found.get("items") or [] if isinstance(pod, dict)]

    def log_lines(self, pod: dict[str, Any], namespace: str, follow: bool) -> Iterator[str]:
        """The pod's log, line by line; following, until the container ends."""
        name = str((pod.get("metadata") or {}).get("name"))
        response = self.call(
            "core",
            "read_namespaced_pod_log",
            name,
            namespace,
            container="task",
            follow=follow,
            timeout=FOLLOW_TIMEOUT if follow else READ_TIMEOUT,
        )
        from urllib3.exceptions import HTTPError

        pending = b""
        try:
            for chunk in response.stream(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    yield line.decode("utf-8", "replace")
        except HTTPError as error:
            raise LaunchError(f"the log of pod {name} broke off: {error}") from None
        finally:
            response.release_conn()
        if pending:
            yield pending.decode("utf-8", "replace")


def _api_error(error: Any, method: str) -> ApiError:
    """The API server's refusal, in its own words (the ``message`` of its Status)."""
    message = str(error.reason or "")
    with contextlib.suppress(ValueError, TypeError):
        body = json.loads(error.body or "")
        message = str(body.get("message") or message)
    status = int(error.status or 0)
    kind = _NotFound if status == 404 else ApiError
    return kind(f"Kubernetes refused {method} (HTTP {status}): {message}", status)
