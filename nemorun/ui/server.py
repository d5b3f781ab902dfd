"""The HTTP server of ``nemorun ui``: the standard library's ``ThreadingHTTPServer``.

The page is three static files and five read-only JSON questions, so the standard
library serves it without a dependency (no ASGI stack to pin for GET and JSON). A slow
question (a scheduler, Graphviz) takes one thread, not the server.

**Who may ask.** Every question about runs must carry ``?token=`` (`secrets.token_urlsafe`,
printed once with the URL, compared in constant time; the page's own static files need none),
on loopback too: run records are private to their user, and 127.0.0.1 is shared by every user
of the machine (a login node). Answers say ``Referrer-Policy: no-referrer`` so the token does
not leak to other sites. Bound to a loopback address (the default), requests must also name
that host in ``Host``, so a web page elsewhere cannot reach the server through a DNS name it
rebinds to 127.0.0.1. Nothing the server answers changes a run: there is no POST.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from nemorun.ui import pages

STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
Query = dict[str, list[str]]


@dataclass(frozen=True)
class Access:
    """Who may ask: the ``Host`` values accepted (empty: any) and the token."""

    hosts: frozenset[str]
    token: str

    def refusal(self, host: str | None, query: Query, data: bool = True) -> str | None:
        """Why a request with this ``Host`` and query is refused, or None. The page's own
        files (``data`` False) hold nothing of the runs: they need no token."""
        if self.hosts and (host or "").lower() not in self.hosts:
            return f"this server answers to {', '.join(sorted(self.hosts))}, not {host}"
        if not data:
            return None
        given = query.get("token", [""])[0]
        if secrets.compare_digest(given.encode(), self.token.encode()):
            return None
        return "questions about runs need the token of the URL that nemorun ui printed"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def make_server(host: str, port: int) -> tuple[ThreadingHTTPServer, str]:
    """A server bound to ``host``:``port`` (0: any free port) and the URL to open, with its
    token. Raises ``OSError`` when the address cannot be bound."""
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    hosts: frozenset[str] = frozenset()
    if is_loopback(host):
        names = {host, "localhost", "127.0.0.1", "[::1]", shown}
        hosts = frozenset(f"{n}:{port}".lower() for n in names)
    elif host in ("0.0.0.0", "::", ""):  # every address: name the machine, not the wildcard
        shown = socket.gethostname()
    access = Access(hosts, secrets.token_urlsafe(18))
    server.access = access  # type: ignore[attr-defined]
    return server, f"http://{shown}:{port}/?token={access.token}"


def _api_runs(q: Query) -> Any:
    return pages.run_list(int(q.get("limit", ["200"])[0]))


def _api_run(q: Query) -> Any:
    return pages.run_page(_one(q, "id"))


def _api_logs(q: Query) -> Any:
    return pages.log_lines(_one(q, "id"), _one(q, "job"), int(q.get("from", ["0"])[0]))


def _api_compare(q: Query) -> Any:
    return pages.compare_table(q.get("run", []))


def _api_diff(q: Query) -> Any:
    return pages.diff_picture(_one(q, "a"), _one(q, "b"))


def _one(q: Query, key: str) -> str:
    values = q.get(key)
    if not values or not values[0]:
        raise ValueError(f"the question needs ?{key}=")
    return values[0]


API: dict[str, Callable[[Query], Any]] = {
    "/api/runs": _api_runs,
    "/api/run": _api_run,
    "/api/logs": _api_logs,
    "/api/compare": _api_compare,
    "/api/diff": _api_diff,
}


class Handler(BaseHTTPRequestHandler):
    """GET only: a static file, or a JSON answer (an error is ``{"error": text}``)."""

    server_version = "nemorun-ui"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        access: Access = self.server.access  # type: ignore[attr-defined]
        refused = access.refusal(self.headers.get("Host"), query, url.path not in STATIC)
        if refused is not None:
            self._send(HTTPStatus.FORBIDDEN, {"error": refused})
        elif url.path in STATIC:
            name, kind = STATIC[url.path]
            data = resources.files("nemorun.ui").joinpath("static").joinpath(name).read_bytes()
            self._reply(HTTPStatus.OK, data, kind)
        elif url.path in API:
            self._send(*_answer(API[url.path], query))
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no page {url.path}"})

    def _send(self, status: HTTPStatus, body: Any) -> None:
        data = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
        self._reply(status, data, "application/json; charset=utf-8")

    def _reply(self, status: HTTPStatus, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per poll would bury what matters; errors come back as JSON


def _answer(question: Callable[[Query], Any], query: Query) -> tuple[HTTPStatus, Any]:
    """The JSON answer to one API question, an error as ``{"error": text}``."""
    from nemorun.errors import SpecError, SpecErrors
    from nemorun.launchers.base import LaunchError

    try:
        return HTTPStatus.OK, question(query)
    except (SpecError, SpecErrors, ValueError) as exc:
        return HTTPStatus.BAD_REQUEST, {"error": str(exc)}
    except LaunchError as exc:
        return HTTPStatus.BAD_GATEWAY, {"error": str(exc)}
    except ImportError as exc:
        return HTTPStatus.NOT_IMPLEMENTED, {"error": f"not available here: {exc}"}
    except Exception as exc:  # an internal failure: said to the page, the server goes on
        print(f"nemorun ui: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"}
