"""``nemorun ui``'s server without a browser: who may ask, what a bad question gets, how logs
are followed, and the command's own mistakes.

The server runs in this process on a free loopback port (`served`); the runs it shows are
real local runs (``nemorun run``).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import NEMORUN, ROOT, CliResult, needs_slurm, nemorun, run_dirs

from nemorun.ui import pages
from nemorun.ui.plots import metric_plots
from nemorun.ui.server import Access, is_loopback, make_server

QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


@pytest.fixture
def served(home: Path) -> Iterator[int]:
    """The server on 127.0.0.1 and a free port (the port), showing ``home``'s runs; `get`
    asks it with the token its URL carries."""
    server, url = make_server("127.0.0.1", 0)
    TOKENS[server.server_address[1]] = parse_qs(urlsplit(url).query)["token"][0]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


TOKENS: dict[int, str] = {}


def get(port: int, path: str, host: str | None = None, token: bool = True) -> tuple[int, Any]:
    """``GET path`` (with the server's token); the status and the body (JSON decoded)."""
    if token:
        path += ("&" if "?" in path else "?") + f"token={TOKENS[port]}"
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host} if host else {}
    connection.request("GET", path, headers=headers)
    answer = connection.getresponse()
    body = answer.read()
    kind = answer.getheader("Content-Type") or ""
    connection.close()
    return answer.status, json.loads(body) if kind.startswith("application/json") else body


@pytest.fixture
def one_run(home: Path, write_spec: Callable[[str, str], Path], cli: Any) -> Path:
    """A completed local run that printed two lines; its directory."""
    (home.parent / "code").mkdir()
    (home.parent / "code" / "hello.py").write_text(
        "def hello() -> None:\n    print('one')\n    print('two')\n", encoding="utf-8"
    )
    write_spec(
        "hello.yaml",
        """\
        nemorun: 1
        name: hello
        pythonpath: [code]
        task: {_target_: hello:hello}
        """,
    )
    assert cli("run", "hello.yaml").code == 0
    (run_dir,) = run_dirs(home)
    return run_dir


def test_a_page_elsewhere_cannot_reach_the_loopback_server(served: int) -> None:
    """A DNS name rebound to 127.0.0.1 arrives with its own name in ``Host``: refused."""
    status, body = get(served, "/api/runs", host=f"evil.example:{served}")
    assert status == 403
    assert body["error"].endswith(f"not evil.example:{served}")
    status, page = get(served, "/", host=f"localhost:{served}")
    assert status == 200 and b'<script src="app.js"' in page


def test_questions_about_runs_need_the_token(served: int) -> None:
    """Other users of the machine reach 127.0.0.1 too: the records are private to their user."""
    refused = "questions about runs need the token of the URL that nemorun ui printed"
    for path in ("/api/runs", "/api/runs?token=", "/api/runs?token=wrong", "/api/run?id=x"):
        assert get(served, path, token=False) == (403, {"error": refused}), path
    status, script = get(served, "/app.js", token=False)  # the page's own files hold no run
    assert status == 200 and b"const TOKEN" in script
    assert get(served, "/api/runs")[0] == 200


def test_a_loopback_address_is_told_apart() -> None:
    assert [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.1.2.3")] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert Access(frozenset(), "t").refusal("10.0.0.5:8765", {"token": ["t"]}) is None


def test_bad_questions_get_a_json_error(served: int, one_run: Path) -> None:
    status, body = get(served, "/api/run?id=nosuchrun")
    assert status == 400 and "nosuchrun" in body["error"]
    status, body = get(served, f"/api/logs?id={one_run.name}")
    assert (status, body) == (400, {"error": "the question needs ?job="})
    status, body = get(served, f"/api/logs?id={one_run.name}&job=77")
    assert status == 400 and f"run {one_run.name} has no job '77'" in body["error"]
    status, body = get(served, "/etc/passwd")
    assert (status, body) == (404, {"error": "no page /etc/passwd"})


def test_the_run_list_and_a_run_come_from_the_records(served: int, one_run: Path) -> None:
    status, body = get(served, "/api/runs")
    assert status == 200
    assert [(r["id"], r["status"]) for r in body["runs"]] == [(one_run.name, "completed")]
    assert body["more"] is False
    assert get(served, "/api/runs?limit=1")[1]["more"] is False
    status, run = get(served, f"/api/run?id={one_run.name}")
    assert (run["status"], run["final"], run["spec"][0]["path"]) == (
        "completed",
        True,
        "resolved.yaml",
    )
    assert "_target_: hello:hello" in run["spec"][0]["text"]


def test_a_half_written_last_line_is_sent_again(one_run: Path) -> None:
    """The page holds ``next`` lines as final; the line after them may grow, so it comes again."""
    run = pages.run_page(one_run.name)
    job = run["job_list"][0]["id"]
    log = one_run / "logs" / "hello.0.log"
    first = pages.log_lines(one_run.name, job, 0)
    assert (first["lines"], first["next"]) == (["one", "two"], 1)
    with open(log, "a", encoding="utf-8") as out:
        out.write("thr")
    second = pages.log_lines(one_run.name, job, first["next"])
    assert (second["lines"], second["next"]) == (["two", "thr"], 2)
    with open(log, "a", encoding="utf-8") as out:
        out.write("ee\n")
    third = pages.log_lines(one_run.name, job, second["next"])
    assert (third["lines"], third["next"]) == (["three"], 2)


def test_a_plot_escapes_what_the_job_wrote() -> None:
    """The page puts the plots in as they are: a metric's name is the job's text."""
    hostile = "<img src=x onerror=alert(1)>"
    (plot,) = metric_plots({"0": {hostile: ((1.0, 2.0), (2.0, 1.0))}, "1<b>": {}})
    assert plot["metric"] == hostile
    assert "<img" not in plot["svg"] and "&lt;img src=x onerror=alert(1)&gt;" in plot["svg"]
    assert plot["svg"].count("<polyline") == 1  # a point without that metric draws nothing


def test_the_command_refuses_what_it_cannot_serve(
    cli: Callable[..., CliResult], workdir: Path
) -> None:
    missing = cli("ui", "--home", "no-such-dir")
    assert (missing.code, missing.err.splitlines()[0]) == (
        2,
        "error: --home no-such-dir: no such directory: expected the directory NEMORUN_HOME "
        "names (runs are under DIR/nemorun-runs); nemorun ls with NEMORUN_HOME=DIR shows "
        "the runs it holds",
    )
    assert cli("ui", "--port", "70000").code == 2
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cli("ui", "--port", str(port))
    assert busy.code == 1
    assert busy.err.splitlines() == [
        f"error: cannot serve on 127.0.0.1:{port}: Address already in use",
        "(another port: --port P, or --port 0 for any free one)",
    ]


@needs_slurm
def test_a_hung_scheduler_leaves_the_page_answering(tmp_path: Path) -> None:
    """A run submitted to the real test Slurm, then ``squeue``, ``sacct`` and ``scontrol`` that
    never answer first on PATH (the test controller is every test's: it is not stopped): the
    list still answers, the run unknown and the warning shown; its page shows the states last
    recorded, said to be stale."""
    env = {**os.environ, "NEMORUN_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    launched = nemorun("launch", QUICKSTART, "--target", "slurm", "steps=2", env=env)
    assert launched.returncode == 0, launched.stderr
    run_id = launched.stdout.split()[0]
    state = tmp_path / "home" / "nemorun-runs" / run_id / "state.json"
    if state.exists():  # it may have ended already: make it unfinished, to be asked about
        state.write_text(json.dumps({**json.loads(state.read_text()), "status": "pending"}))
    hung = tmp_path / "hung"
    hung.mkdir()
    for tool in ("squeue", "sacct", "scontrol"):
        (hung / tool).write_text("#!/bin/sh\nexec sleep 600\n")
        (hung / tool).chmod(0o755)
    server = subprocess.Popen(
        [*NEMORUN, "ui", "--port", "0"],
        # ls would wait 600 s: only the page's own bound lets it answer within get's 30 s
        env={**env, "PATH": f"{hung}:{env['PATH']}", "NEMORUN_SCHEDULER_TIMEOUT": "600"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = urlsplit(server.stdout.readline().split(": ", 1)[1].strip())
        TOKENS[url.port or 0] = parse_qs(url.query)["token"][0]
        status, body = get(url.port or 0, "/api/runs")
        assert status == 200
        assert [(r["id"], r["status"]) for r in body["runs"]] == [(run_id, "unknown")]
        assert body["warnings"][0].startswith("the slurm scheduler did not answer")
        status, run = get(url.port or 0, f"/api/run?id={run_id}")
        assert status == 200 and run["stale"] and run["final"] is False
    finally:
        server.terminate()
        server.wait(timeout=10)
