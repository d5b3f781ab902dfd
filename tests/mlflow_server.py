"""A private MLflow tracking server for ``tests/launchers/test_tracking.py``.

``mlflow server`` takes long to boot (imports, then the schema migrations of a fresh sqlite
database), so it is started as soon as pytest has collected a test that needs it
(``pytest_collection_modifyitems`` in conftest) and boots while the tests before it run; the
fixture waits for ``/health``. It listens on 127.0.0.1 on a free port, keeps its database and
artifacts in a private temporary directory, runs in a session of its own, and at the end of
the pytest session only that process group is stopped (and the directory removed).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    uri: str
    dir: Path

    def wait(self, timeout: float = 300) -> str:
        """The server's address once it answers; raises RuntimeError (with its log) if not."""
        deadline = time.monotonic() + timeout
        while not _answers(self.uri):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "server.log").read_text(errors="replace")
                raise RuntimeError(f"mlflow server did not start at {self.uri}:\n{log[-3000:]}")
            time.sleep(0.5)
        return self.uri

    def stop(self) -> None:
        """Stop this server's own process group, then remove its directory."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=3)  # it is slow to honour SIGTERM; its data is scratch
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


SERVER_VENV = Path(__file__).resolve().parent.parent / ".venv-mlflow"
"""Where tests/run.sh installs the server (its own venv: see the ``mlflow-server`` extra)."""


def server_command() -> Path | None:
    """``NEMORUN_MLFLOW`` (an ``mlflow`` executable), else `SERVER_VENV`'s, else one beside
    this Python; None when there is none."""
    for candidate in (
        os.environ.get("NEMORUN_MLFLOW"),
        SERVER_VENV / "bin" / "mlflow",
        Path(sys.executable).with_name("mlflow"),
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def start() -> Server | None:
    """Start a server (None when no ``mlflow`` command is installed: `server_command`)."""
    command = server_command()
    if command is None:
        return None
    where = Path(tempfile.mkdtemp(prefix="nemorun-mlflow-"))
    port = free_port()
    argv = [str(command), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    argv += ["--backend-store-uri", f"sqlite:///{where / 'mlflow.db'}"]
    argv += ["--artifacts-destination", str(where / "artifacts")]
    with (where / "server.log").open("wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Server(process, f"http://127.0.0.1:{port}", where)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(uri: str) -> bool:
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False
