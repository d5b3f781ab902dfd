"""A minimal Language Server Protocol client for yaml-language-server, driven over stdio.

The server is the npm package, pinned (`VERSION`) and installed once into a cache directory
(`install_dir`: ``$NEMORUN_YAML_LS_DIR``, else under /tmp), by ``tests/run.sh`` or by the first
test that needs it. Messages are JSON-RPC with ``Content-Length`` headers; a reader thread
queues what the server sends, and the client answers the server's own requests
(``workspace/configuration``, capability registration) while it waits for a reply.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

VERSION = "1.25.0"
"""yaml-language-server's version (1.x runs on Node 20; 2.0 needs Node 22)."""

SETTINGS = {
    "yaml": {
        "validate": True,
        "hover": True,
        "completion": True,
        "format": {"enable": False},
        "schemaStore": {"enable": False},
        "schemas": {},
    }
}


def install_dir() -> Path:
    return Path(
        os.environ.get("NEMORUN_YAML_LS_DIR", f"/tmp/nemorun-yaml-language-server-{VERSION}")
    )


def server_script() -> Path:
    return install_dir() / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"


def ensure_installed() -> str | None:
    """The server's script path, installing it with npm if needed; None (with why) if not."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    script = server_script()
    if not script.exists():
        install_dir().mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--prefix",
                str(install_dir()),
                f"yaml-language-server@{VERSION}",
            ],
            check=False,
            capture_output=True,
            timeout=300,
        )
    return str(script) if script.exists() else None


class YamlLanguageServer:
    """One running server; use as a context manager."""

    def __init__(self, script: str, root: Path) -> None:
        self.process = subprocess.Popen(
            ["node", script, "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.ids = itertools.count(1)
        self.inbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self.versions: dict[str, int] = {}
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()
        self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "capabilities": {
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": False}},
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                        "publishDiagnostics": {},
                    },
                    "workspace": {"configuration": True},
                },
            },
        )
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": SETTINGS})

    def __enter__(self) -> YamlLanguageServer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            self.process.wait(timeout=5)
        except Exception:
            self.process.kill()
            self.process.wait()

    # --- the protocol ---------------------------------------------------------------------------

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            self.inbox.put(json.loads(stream.read(length)))

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        ident = next(self.ids)
        self._send({"id": ident, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            message = self._next(deadline)
            if message.get("id") == ident and "method" not in message:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result")

    def _next(self, deadline: float) -> dict[str, Any]:
        """The next message from the server, after handling what it asks or publishes."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("yaml-language-server did not answer")
        message = self.inbox.get(timeout=remaining)
        method = message.get("method")
        if method == "textDocument/publishDiagnostics":
            params = message["params"]
            self.diagnostics[params["uri"]] = params["diagnostics"]
        elif method is not None and "id" in message:  # the server's own request
            result: Any = None
            if method == "workspace/configuration":
                items = message["params"]["items"]
                result = [SETTINGS.get(i.get("section", ""), SETTINGS["yaml"]) for i in items]
            self._send({"id": message["id"], "result": result})
        return message

    # --- documents ------------------------------------------------------------------------------

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        self.diagnostics.pop(uri, None)
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}},
        )
        return uri

    def close(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def diagnostics_of(self, uri: str, timeout: float = 30) -> list[dict[str, Any]]:
        """The diagnostics the server publishes for ``uri`` (after it opened)."""
        deadline = time.monotonic() + timeout
        while uri not in self.diagnostics:
            try:
                self._next(deadline)
            except queue.Empty:
                raise TimeoutError(f"no diagnostics for {uri}") from None
        return self.diagnostics[uri]

    def completion(self, uri: str, line: int, character: int) -> list[dict[str, Any]]:
        result = self.request(
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        )
        if isinstance(result, dict):
            return list(result.get("items", []))
        return list(result or [])

    def hover(self, uri: str, line: int, character: int) -> str:
        result = self.request(
            "textDocument/hover",
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        )
        if not result:
            return ""
        contents = result["contents"]
        if isinstance(contents, dict):
            return str(contents.get("value", ""))
        if isinstance(contents, list):
            return "\n".join(c if isinstance(c, str) else c.get("value", "") for c in contents)
        return str(contents)


if __name__ == "__main__":  # tests/run.sh installs the server before the tests
    import sys

    installed = ensure_installed()
    print(installed or "yaml-language-server not installed (node or npm missing, or npm failed)")
    sys.exit(0 if installed else 1)
