"""Time ``nemorun ui``'s first page with 1,000 recorded runs: what a browser fetches to show the
run list (the HTML, its script and stylesheet, and ``/api/runs``), and a run's own page.

    python benches/ui.py [--runs 20] [--count 1000] [--check]

The records are synthetic completed local runs (`ls.write_runs`, as a launch leaves them) in a
temporary ``NEMORUN_HOME``; the server is the ``nemorun ui`` command in its own process, on a
free loopback port, asked over one HTTP connection per request as a browser would. Goal: the
first page in < 0.5 s. ``--check`` exits 1 when it is missed. Timings on a shared 2-core
machine are noisy: compare medians.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from ls import write_runs
from timing import report, timed

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 0.5


def fetch(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", path)
    answer = connection.getresponse()
    body = answer.read()
    connection.close()
    if answer.status != 200:
        raise SystemExit(f"GET {path}: {answer.status} {body[:300]!r}")
    return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--check", action="store_true", help="exit 1 when the goal is missed")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="nemorun-bench-ui-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    write_runs(scratch / "nemorun-runs", args.count)
    server = subprocess.Popen(
        [sys.executable, "-m", "nemorun.cli", "ui", "--port", "0", "--home", str(scratch)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = urlsplit(server.stdout.readline().split(": ", 1)[1].strip())
        port, token = url.port or 0, url.query  # "token=…"
        newest = sorted(os.listdir(scratch / "nemorun-runs"))[-1]

        def first_page() -> None:
            for path in (f"/?{token}", "/app.js", "/style.css", f"/api/runs?{token}"):
                fetch(port, path)

        first_page()  # warm the disk cache and the server's imports
        ok = report(
            f"first page, {args.count:,} runs", timed(first_page, args.runs), BUDGET, width=40
        )
        report(
            "/api/runs alone", timed(lambda: fetch(port, f"/api/runs?{token}"), args.runs), width=40
        )
        report(
            "a run's page",
            timed(lambda: fetch(port, f"/api/run?id={newest}&{token}"), args.runs),
            width=40,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)
    if args.check and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
