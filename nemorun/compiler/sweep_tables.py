"""The sweep tables of the job's entry point (`nemorun.compiler.entry`), as Python text.

``AXES`` lists each swept place's values once; a cartesian sweep decodes ``NEMORUN_POINT`` into
one value per axis (`THIS_PRODUCT_POINT`), any other sweep has a ``POINTS`` row per point
(`THIS_POINT`). A long axis of short values is packed several to a line: a few bytes a value.
"""

from __future__ import annotations

import re

from nemorun.compiler.points import Points
from nemorun.compiler.pysource import INDENT, WIDTH, Doc, Group, flat, layout
from nemorun.errors import KeyPath, format_path


def _axis_lines(holes: list[KeyPath], choices: list[list[Doc]], lazy: list[bool]) -> list[str]:
    out = []
    for hole, docs, is_lazy in zip(holes, choices, lazy):
        out.append(f"{INDENT}# {format_path(hole)}")
        texts = [flat(d) for d in docs]
        prefix = "lambda: " if is_lazy else ""
        one_line = "(" + ", ".join(prefix + t for t in texts) + ("," if len(texts) == 1 else "")
        # `layout` keeps the tuple on one line exactly when it fits (or is empty): decided
        # here from the texts, so a long axis is never laid out a value a line first.
        fits = not texts or len(INDENT) + len(one_line) + 2 <= WIDTH
        if not fits and not is_lazy and all(len(t) < WIDTH // 2 for t in texts):
            text = _packed(texts, INDENT)
        elif fits:
            text = one_line + ")"
        else:
            items: list[tuple[str, Doc]] = [(prefix, d) for d in docs]
            text = layout(Group("(", items, ")", single_comma=True), INDENT)
        out.append(f"{INDENT}{text},")
    return out


def _packed(texts: list[str], indent: str) -> str:
    """A tuple of short values, as many to a line as fit: a long axis (thousands of numbers)
    then takes a few bytes a value, not a line each."""
    lines: list[str] = []
    line = ""
    for text in texts:
        piece = text + ","
        if line and len(indent + INDENT) + len(line) + 1 + len(piece) > WIDTH:
            lines.append(line)
            line = piece
        else:
            line = f"{line} {piece}" if line else piece
    lines.append(line)
    return "\n".join(["(", *(indent + INDENT + line for line in lines), indent + ")"])


def point_tables(
    holes: list[KeyPath],
    choices: list[list[Doc]],
    lazy: list[bool],
    rows: list[tuple[int, ...]],
    points: Points,
) -> list[str]:
    if not holes:
        return []
    out = ["# The distinct values of each swept place, in order.", "AXES = ["]
    out += _axis_lines(holes, choices, lazy)
    out += ["]", "# One row per point: the index of its value in each entry of AXES.", "POINTS = ["]
    for point, row in zip(points, rows):
        values = "(" + ", ".join(map(str, row)) + ("," if len(row) == 1 else "") + ")"
        out.append(f"{INDENT}{values},  # {point.index}: {_comment(point.describe())}")
    out += ["]", "", ""]
    return out


# A value written as one of these is valid Python whatever surrounds it in a tuple: the
# numbers and plain strings that make up long axes, checked without compiling them.
_PLAIN_LITERAL = re.compile(
    r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:e[-+]?[0-9]+)?|'[^'\\\n]*'|True|False|None"
)
_CHECK_CHUNK = 1_000


def check_values(choices: list[list[Doc]], lazy: list[bool]) -> None:
    """Compile every axis value that is not a plain literal, a thousand at a time. With the
    entry compiled with empty axes, this checks what compiling the whole entry would (a bug
    there must never reach a cluster) without building the syntax tree of 100,000 values at
    once (about 100 MiB and seconds)."""
    for docs, is_lazy in zip(choices, lazy):
        prefix = "lambda: " if is_lazy else ""
        texts = [t for t in map(flat, docs) if is_lazy or not _PLAIN_LITERAL.fullmatch(t)]
        for start in range(0, len(texts), _CHECK_CHUNK):
            chunk = texts[start : start + _CHECK_CHUNK]
            compile("(" + "".join(f"{prefix}{t},\n" for t in chunk) + ")", "<axis>", "eval")


def axis_tables(holes: list[KeyPath], choices: list[list[Doc]], lazy: list[bool]) -> list[str]:
    """The axes of a cartesian sweep: every point is one value of each (see `_this_point`)."""
    out = [
        "# The values of each sweep axis, in order; the points are every combination of",
        "# one value of each, the last axis varying fastest.",
        "AXES = [",
    ]
    return [*out, *_axis_lines(holes, choices, lazy), "]", "", ""]


THIS_POINT = '''def _this_point():
    """The values of the sweep point that NEMORUN_POINT names, one per entry of AXES."""
    text = os.environ.get("NEMORUN_POINT", "")
    if not (text.isascii() and text.isdigit() and int(text) < len(POINTS)):
        sys.exit(f"NEMORUN_POINT must be a point from 0 to {len(POINTS) - 1}, not {text!r}")
    return [values[i] for values, i in zip(AXES, POINTS[int(text)])]'''

THIS_PRODUCT_POINT = '''def _this_point():
    """The values of the sweep point that NEMORUN_POINT names, one per entry of AXES: the
    point's index written in the mixed radix of the axes' lengths (last axis fastest)."""
    count = 1
    for values in AXES:
        count *= len(values)
    text = os.environ.get("NEMORUN_POINT", "")
    if not (text.isascii() and text.isdigit() and int(text) < count):
        sys.exit(f"NEMORUN_POINT must be a point from 0 to {count - 1}, not {text!r}")
    rest, at = int(text), []
    for values in reversed(AXES):
        rest, i = divmod(rest, len(values))
        at.append(values[i])
    return at[::-1]'''


def _comment(text: str) -> str:
    """``text`` safe inside a one-line comment."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
