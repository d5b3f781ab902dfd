"""``launch/status/logs/cancel`` on the kubernetes target, through the real ``kubernetes`` client.

No Kubernetes API server can run on these machines, so the client talks to `ApiStub`: a
threaded ``http.server`` on 127.0.0.1, started by each test, that serves exactly the endpoints
the launch half calls (create ConfigMap, Service and Job; patch owners; read a Job's status;
list pods by label; read a pod's log; delete a Job) with JSON shaped like the real API's, keeps
the objects created, and checks the kubeconfig's bearer token. What the stub cannot be is the
cluster itself: no pod runs; a test plays the Job controller by setting a Job's status and
its pods (`ApiStub.set_job`, `ApiStub.add_pod`). Every object the launcher sends is checked
against Kubernetes' own schema (``kubernetes-validate``), as the compile tests do.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import yaml
from conftest import CliResult

pytest.importorskip(
    "kubernetes", reason="the Kubernetes client is not installed: pip install -e '.[kubernetes]'"
)
kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is not installed: pip install -e '.[test]'"
)

Cli = Callable[..., CliResult]
TOKEN = "stub-token"
PLURALS = {"configmaps": "ConfigMap", "services": "Service", "jobs": "Job", "pods": "Pod"}


class ApiStub:
    """The endpoints of the Kubernetes API the launch half calls, over objects kept in memory."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.logs: dict[str, str] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]]]] = []
        self.lock = threading.Lock()
        self.uids = 0
        self.on_pod_list: list[Callable[[], None]] = []
        """Run, one per pod listing, before it answers (the cluster moving on)."""
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stub.handle(self, "GET")

            def do_POST(self) -> None:
                stub.handle(self, "POST")

            def do_PATCH(self) -> None:
                stub.handle(self, "PATCH")

            def do_DELETE(self) -> None:
                stub.handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # --- the cluster's side, played by the test ---------------------------------------------

    def set_job(self, name: str, status: dict[str, Any], namespace: str = "default") -> None:
        with self.lock:
            self.objects[("jobs", namespace, name)]["status"] = status

    def add_pod(self, job: str, index: int, phase: str, log: str = "", **status: Any) -> None:
        name = f"{job}-{index}-x{len(self.objects)}"
        labels = {"job-name": job, "batch.kubernetes.io/job-completion-index": str(index)}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": labels,
                         "creationTimestamp": f"2026-12-02T18:00:{len(self.objects):02d}Z"},
            "status": {"phase": phase, **status},
        }  # fmt: skip
        with self.lock:
            self.objects[("pods", "default", name)] = pod
            self.logs[name] = log

    def of_kind(self, plural: str) -> list[dict[str, Any]]:
        return [obj for (p, _, _), obj in sorted(self.objects.items()) if p == plural]

    # --- the API --------------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(request.path)
        query = parse_qs(url.query)
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length)) if length else None
        with self.lock:
            self.requests.append((method, url.path, query))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(request, 401, status(401, "Unauthorized"))
        parts = url.path.strip("/").split("/")
        # /api/v1/namespaces/NS/PLURAL[/NAME[/SUB]] or /apis/batch/v1/namespaces/NS/...
        rest = parts[2:] if parts[0] == "api" else parts[3:]
        if len(rest) < 2 or rest[0] != "namespaces" or rest[2] not in PLURALS:
            return self.reply(request, 404, status(404, f"no such path {url.path}"))
        namespace, plural, name, sub = rest[1], rest[2], *([*rest[3:5], None, None])[:2]
        with self.lock:
            code, answer = self.serve(method, namespace, plural, name, sub, query, body)
        if isinstance(answer, str):
            return self.reply(request, code, answer.encode(), "text/plain")
        return self.reply(request, code, answer)

    def serve(
        self,
        method: str,
        namespace: str,
        plural: str,
        name: str | None,
        sub: str | None,
        query: dict[str, list[str]],
        body: Any,
    ) -> tuple[int, Any]:
        key = (plural, namespace, name or "")
        if method == "POST" and name is None:
            name = body["metadata"]["name"]
            if (plural, namespace, name) in self.objects:
                return 409, status(409, f'{plural} "{name}" already exists', "AlreadyExists")
            self.uids += 1
            body["metadata"].update(namespace=namespace, uid=f"uid-{self.uids}")
            self.objects[(plural, namespace, name)] = body
            return 201, body
        if method == "GET" and name is None:
            if plural == "pods" and self.on_pod_list:
                self.on_pod_list.pop(0)()
            wanted = dict(
                s.split("=", 1) for s in query.get("labelSelector", [""])[0].split(",") if s
            )
            items = [o for (p, ns, _), o in self.objects.items() if p == plural and ns == namespace
                     and wanted.items() <= o["metadata"].get("labels", {}).items()]  # fmt: skip
            return 200, {"kind": f"{PLURALS[plural]}List", "apiVersion": "v1", "items": items}
        if key not in self.objects:
            return 404, status(404, f'{plural} "{name}" not found', "NotFound")
        if method == "GET" and sub == "log":
            return 200, self.logs.get(name or "", "")
        if method == "GET":
            return 200, self.objects[key]
        if method == "PATCH":
            self.objects[key]["metadata"].update(body["metadata"])
            return 200, self.objects[key]
        if method == "DELETE":
            gone = self.objects.pop(key)
            uid = gone["metadata"]["uid"]
            for other, obj in list(self.objects.items()):  # the garbage collector, at once
                owners = obj["metadata"].get("ownerReferences") or []
                labels = obj["metadata"].get("labels") or {}
                if any(o["uid"] == uid for o in owners) or labels.get("job-name") == name:
                    del self.objects[other]
            return 200, status(200, "deleted", "Success")
        return 405, status(405, "method not allowed")

    def reply(
        self,
        request: BaseHTTPRequestHandler,
        code: int,
        answer: Any,
        kind: str = "application/json",
    ) -> None:
        data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
        request.send_response(code)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def status(code: int, message: str, reason: str = "") -> dict[str, Any]:
    """A ``meta/v1`` Status, as the API server answers errors."""
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure" if code >= 300 else "Success",
            "message": message, "reason": reason, "code": code}  # fmt: skip


def kubeconfig(path: Path, server: str, namespace: str = "default") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stub", "cluster": {"server": server}}],
        "users": [{"name": "me", "user": {"token": TOKEN}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "me",
                                                  "namespace": namespace}}],
        "current-context": "stub",
    }  # fmt: skip
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture
def api(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiStub]:
    """A started `ApiStub`, named by ``KUBECONFIG``; stopped after the test."""
    stub = ApiStub()
    stub.thread.start()
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(home.parent / "kubeconfig", stub.url)))
    yield stub
    stub.server.shutdown()
    stub.server.server_close()


def spec(workdir: Path, executor: str = "", sweep: str = "") -> Path:
    path = workdir / "train.yaml"
    path.write_text(
        "nemorun: 1\nname: train\ntask: {_target_: os:getenv, key: HOME}\n"
        + (f"sweep: {{key: [{sweep}]}}\n" if sweep else "")
        + "executor:\n  target: kubernetes\n  container: {image: python:3.12-slim}\n"
        + executor,
        encoding="utf-8",
    )
    return path


def states(cli: Cli, run: str) -> list[tuple[str, str]]:
    """(point, state) of each row of ``nemorun status RUN --json``."""
    result = cli("status", run, "--json")
    assert result.code == 0, result.err
    return [(str(j["point"]), j["state"]) for j in json.loads(result.out)["jobs"]]


# --- tests --------------------------------------------------------------------------------------


def test_launch_creates_valid_objects_owned_by_the_job(
    cli: Cli, workdir: Path, api: ApiStub
) -> None:
    result = cli("launch", str(spec(workdir)))
    assert result.code == 0, result.err
    run_id = result.out.strip()
    (configmap,) = api.of_kind("configmaps")
    (job,) = api.of_kind("jobs")
    suffix = run_id.rsplit("-", 1)[-1]
    assert job["metadata"]["name"] == f"train-{suffix}"
    assert job["metadata"]["labels"]["nemorun.dev/run-id"] == run_id
    assert configmap["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"],
         "uid": job["metadata"]["uid"]}
    ]  # fmt: skip
    for obj in (configmap, job):
        clean = {k: v for k, v in obj.items() if k != "status"}
        clean["metadata"] = {k: v for k, v in obj["metadata"].items() if k not in ("uid",)}
        kubernetes_validate.validate(clean, "1.30.0", strict=True)
    assert states(cli, run_id) == [("0", "pending")]
    api.add_pod(job["metadata"]["name"], 0, "Running", log="step 1\nstep 2\n")
    assert states(cli, run_id) == [("0", "running")]
    api.set_job(job["metadata"]["name"], {"conditions": [{"type": "Complete", "status": "True"}]})
    assert states(cli, run_id) == [("0", "completed")]
    logs = cli("logs", run_id)
    assert logs.code == 0, logs.err
    assert logs.out == "step 1\nstep 2\n"


def test_a_sweep_reports_each_point_from_the_indexed_job(
    cli: Cli, workdir: Path, api: ApiStub
) -> None:
    run_id = cli("launch", str(spec(workdir, sweep="A, B, C")), "--max-parallel", "2").out.strip()
    (job,) = api.of_kind("jobs")
    name = job["metadata"]["name"]
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["completions"] == 3
    assert job["spec"]["parallelism"] == 2
    api.add_pod(name, 0, "Succeeded")
    api.add_pod(name, 1, "Failed", containerStatuses=[{"state": {"terminated": {"exitCode": 3}}}])
    api.add_pod(name, 2, "Running", log="point two\n")
    api.set_job(name, {"completedIndexes": "0", "failedIndexes": "1", "active": 1})
    assert states(cli, run_id) == [("0", "completed"), ("1", "failed"), ("2", "running")]
    status = json.loads(cli("status", run_id, "--json").out)["jobs"]
    assert status[1]["exit_code"] == 3
    assert cli("logs", run_id, "--job", "2").out == "point two\n"


def test_logs_follow_waits_for_the_pod_to_start_then_streams_it(
    cli: Cli, workdir: Path, api: ApiStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nemorun.launchers import kubernetes as launcher

    monkeypatch.setattr(launcher, "POLL", 0.01)
    run_id = cli("launch", str(spec(workdir))).out.strip()
    (job,) = api.of_kind("jobs")
    api.add_pod(job["metadata"]["name"], 0, "Pending", log="hello\nno newline at the end")
    (pod,) = api.of_kind("pods")
    api.on_pod_list += [lambda: None, lambda: pod["status"].update(phase="Running")]
    follow = cli("logs", run_id, "-f")
    assert follow.code == 0, follow.err
    assert follow.out == "hello\nno newline at the end\n"
    listings = [p for m, p, _ in api.requests if p.endswith("/pods")]
    assert len(listings) == 2  # pending (it waited), then running
    reads = [q for m, p, q in api.requests if p.endswith("/log")]
    assert reads == [{"container": ["task"], "follow": ["true"]}]


def test_a_queued_job_is_pending_until_kueue_admits_it(
    cli: Cli, workdir: Path, api: ApiStub
) -> None:
    run_id = cli("launch", str(spec(workdir, "  queue: team-a\n  cpus: 1\n"))).out.strip()
    (job,) = api.of_kind("jobs")
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    result = cli("status", run_id, "--json")
    (row,) = json.loads(result.out)["jobs"]
    assert (row["state"], row["reason"]) == ("pending", "suspended: waiting for Kueue to admit it")


def test_cancel_deletes_the_job_with_its_pods_first(cli: Cli, workdir: Path, api: ApiStub) -> None:
    run_id = cli("launch", str(spec(workdir))).out.strip()
    (job,) = api.of_kind("jobs")
    api.add_pod(job["metadata"]["name"], 0, "Running")
    assert cli("cancel", run_id).code == 0
    deletes = [(path, query) for method, path, query in api.requests if method == "DELETE"]
    assert deletes == [
        (f"/apis/batch/v1/namespaces/default/jobs/{job['metadata']['name']}",
         {"propagationPolicy": ["Foreground"]})
    ]  # fmt: skip
    assert api.objects == {}  # the ConfigMap went with its owner
    assert states(cli, run_id) == [("0", "cancelled")]
    assert cli("status", run_id).code == 0


def test_a_refused_object_undoes_the_launch(cli: Cli, workdir: Path, api: ApiStub) -> None:
    api.objects[("jobs", "default", "taken")] = {"metadata": {"name": "taken", "uid": "u0"}}
    result = cli("launch", str(spec(workdir, "  name: taken\n")))
    assert result.code == 1
    assert 'Kubernetes refused create_namespaced_job (HTTP 409): jobs "taken" already exists' in (
        result.err
    )
    assert list(api.objects) == [("jobs", "default", "taken")]  # its ConfigMap was deleted


def test_the_namespace_comes_from_the_spec_else_the_context(
    cli: Cli, workdir: Path, api: ApiStub, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(home.parent / "kc2", api.url, "team")))
    assert cli("launch", str(spec(workdir))).code == 0
    assert cli("launch", str(spec(workdir, "  namespace: ml\n"))).code == 0
    assert sorted(ns for (p, ns, _) in api.objects if p == "jobs") == ["ml", "team"]


def test_an_unreachable_api_server_is_a_clear_error(
    cli: Cli, workdir: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "KUBECONFIG", str(kubeconfig(home.parent / "kc", f"http://127.0.0.1:{port}"))
    )
    result = cli("launch", str(spec(workdir)))
    assert result.code == 1
    assert f"cannot reach the Kubernetes API server at http://127.0.0.1:{port}" in result.err
    assert "Traceback" not in result.err


def test_without_a_kubeconfig_the_error_says_so(
    cli: Cli, workdir: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(home.parent / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    result = cli("launch", str(spec(workdir)))
    assert result.code == 1
    assert "no usable kubeconfig" in result.err and "Traceback" not in result.err
