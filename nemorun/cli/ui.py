"""``nemorun ui``: serve the web page of runs (`nemorun.ui`) until Ctrl-C.

The URL is printed once on stdout, with the token every question about runs needs (the only
place the token is shown); ``--home`` points the page at another ``NEMORUN_HOME``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nemorun.cli.common import EXIT_FAILURE, EXIT_OK, Command, parser

DEFAULT_PORT = 8765


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port (0 to 65535; 0: any free one)")
    return int(text)


def _build_ui() -> argparse.ArgumentParser:
    p = parser(
        "ui",
        "Serve a web page of the recorded runs: live status, filter and search; a run's "
        "spec, artifacts, logs (followed live), points and metric plots; the comparison "
        "and graph diff of runs you select. Read-only. Bound to 127.0.0.1 by default; the "
        "printed URL carries a token that the page needs (other users of this machine "
        "reach 127.0.0.1 too).\n\n"
        "examples:\n  nemorun ui\n  nemorun ui --port 0 --home /shared/team-runs\n"
        "  nemorun ui --host 0.0.0.0 --port 8800",
    )
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, metavar="P", help="default: %(default)s"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="H",
        help="the address to bind (default: %(default)s)",
    )
    p.add_argument(
        "--home", type=Path, metavar="DIR", help="show the runs of NEMORUN_HOME=DIR instead"
    )
    return p


def _run_ui(ns: argparse.Namespace) -> int:
    from nemorun.ui.server import make_server

    if ns.home is not None:
        _check_home(ns.home)
        os.environ["NEMORUN_HOME"] = str(ns.home.expanduser().absolute())
    try:
        server, url = make_server(ns.host, ns.port)
    except OSError as exc:
        why = exc.strerror or str(exc)
        print(f"error: cannot serve on {ns.host}:{ns.port}: {why}", file=sys.stderr)
        print("(another port: --port P, or --port 0 for any free one)", file=sys.stderr)
        return EXIT_FAILURE
    print(f"nemorun ui: {url}", flush=True)
    print("(read-only; Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def _check_home(home: Path) -> None:
    """``--home`` must be a directory (that holds ``nemorun-runs`` or will)."""
    if home.is_dir():
        return
    from nemorun.errors import SpecError

    raise SpecError(
        f"--home {home}: {'not a directory' if home.exists() else 'no such directory'}",
        expected="the directory NEMORUN_HOME names (runs are under DIR/nemorun-runs)",
        suggestion="nemorun ls with NEMORUN_HOME=DIR shows the runs it holds",
    )


COMMANDS: dict[str, Command] = {"ui": (_build_ui, _run_ui)}
