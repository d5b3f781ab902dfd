"""``nemorun graph``: a spec's Fiddle graph as a picture; and the picture ``diff --svg`` draws.

Without ``-o`` the DOT text is printed (no Graphviz needed); ``-o out.svg`` / ``out.png`` runs
Graphviz's ``dot`` (Debian's ``graphviz`` package), with a time limit; ``-o out.dot`` writes
the DOT. No ``dot`` on the PATH is an error that says how to get it (exit 1).

A side of a diff is a spec file (loaded as ``validate`` loads it) or a run: its recorded
``resolved.yaml``, loaded with its ``pythonpath`` made absolute (the export wrote it relative
to the spec's own directory, which is not the record's).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.cli.common import EXIT_FAILURE, EXIT_OK, Command, parser, spec_and_overrides, warn

if TYPE_CHECKING:
    from nemorun.api import Diff
    from nemorun.compiler.pictures import Picture
    from nemorun.launchers.compare import Side
    from nemorun.schemas.spec import Spec

FORMATS = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot"}
"""What ``-o`` writes, by the file's suffix."""
DOT_TIMEOUT = 120.0
"""Seconds ``dot`` may take to lay a picture out (a few hundred boxes take about one)."""
NO_DOT = (
    "drawing {suffix} needs Graphviz's 'dot' program, which is not on the PATH; install "
    "Debian's 'graphviz' package (apt-get install graphviz; brew install graphviz on macOS), "
    "or write the DOT text instead (-o FILE.dot, or no -o)"
)


def _build_graph() -> argparse.ArgumentParser:
    p = parser(
        "graph",
        "Draw the spec's Fiddle graph: a box per configured object, a row per argument, an "
        "arrow per nested object. A sub-config used in several places (a YAML alias) is one "
        "box with an arrow from each; swept values are coloured, with their values. Hover "
        "a value in the SVG for its key path and where the spec set it.\n\n"
        "examples:\n  nemorun graph configs/pretrain.yaml -o pretrain.svg\n"
        "  nemorun graph configs/pretrain.yaml optim.lr=1e-4,1e-3 | dot -Tpdf > graph.pdf",
    )
    spec_and_overrides(p)
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write FILE.svg, FILE.png or FILE.dot (default: print the DOT text)",
    )
    return p


def _run_graph(ns: argparse.Namespace) -> int:
    from nemorun import api
    from nemorun.compiler.picture_dot import graph_dot
    from nemorun.compiler.pictures import spec_picture

    picture_format(ns.output)  # a wrong name is refused before the spec is loaded
    spec = api.load(ns.spec, ns.overrides)
    warn(spec.warnings)
    return write_picture(graph_dot(spec_picture(spec, str(ns.spec))), ns.output)


def picture_format(output: Path | None) -> str | None:
    """What ``-o``/``--svg`` FILE asks for (``svg``, ``png``, ``dot``; None: print the DOT); an
    unknown suffix is a `SpecError`."""
    if output is None:
        return None
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        from nemorun.errors import SpecError

        raise SpecError(
            f"cannot draw a picture as '{output.suffix or output.name}'",
            file=str(output),
            expected=", ".join(FORMATS),
            suggestion=f"name the output {output.stem}.svg",
        )
    return fmt


def write_picture(dot: str, output: Path | None) -> int:
    """``dot`` printed, or written to ``output`` as its suffix says (through ``dot`` for SVG
    and PNG). The exit code: 1 when ``dot`` is missing or fails."""
    fmt = picture_format(output)
    if output is None or fmt is None:
        sys.stdout.write(dot)
        return EXIT_OK
    from nemorun.files import write_output

    if fmt == "dot":
        write_output(output, dot)
        return EXIT_OK
    drawn = _run_dot(dot, fmt, output.suffix)
    if drawn is None:
        return EXIT_FAILURE
    write_output(output, drawn)
    return EXIT_OK


def _run_dot(dot: str, fmt: str, suffix: str) -> bytes | None:
    import shutil
    import subprocess

    program = shutil.which("dot")
    if program is None:
        print(f"error: {NO_DOT.format(suffix=suffix)}", file=sys.stderr)
        return None
    try:
        done = subprocess.run(
            [program, f"-T{fmt}"],
            input=dot.encode("utf-8"),
            capture_output=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"error: Graphviz's dot took more than {DOT_TIMEOUT:.0f} s", file=sys.stderr)
        return None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip()
        print(f"error: Graphviz's dot failed (exit {done.returncode}): {said}", file=sys.stderr)
        return None
    return done.stdout


def diff_picture(found: Diff, a: str, b: str) -> str:
    """The DOT of ``diff``'s two sides (``a`` and ``b`` as given) side by side, the changed
    key paths coloured."""
    from nemorun.compiler.picture_dot import diff_dot
    from nemorun.compiler.pictures import diff_pictures

    left = _picture(side_spec(a, found.a), found.a.label)
    right = _picture(side_spec(b, found.b), found.b.label)
    return diff_dot(*diff_pictures(left, right, found.changes, found.a.tree, found.b.tree))


def side_spec(ref: str, side: Side) -> Spec:
    """The validated spec of one side of a diff: a spec file, or a run's ``resolved.yaml``
    with the ``pythonpath`` `side` made absolute."""
    from nemorun import api

    if Path(ref).is_file():
        return api.load(ref)
    from nemorun import api_runs

    path = api_runs.open_run(ref).record.dir / "resolved.yaml"
    paths = side.tree.get("pythonpath")
    if not isinstance(paths, list) or not paths:
        return api.load(path)
    return api.load(path, [f"pythonpath=[{','.join(_quoted(str(p)) for p in paths)}]"])


def _picture(spec: Spec, label: str) -> Picture:
    from nemorun.compiler.pictures import spec_picture

    return spec_picture(spec, label)


def _quoted(text: str) -> str:
    """``text`` as a quoted value in an override (Hydra's grammar: backslash escapes)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


COMMANDS: dict[str, Command] = {"graph": (_build_graph, _run_graph)}
