"""The sweep tables of the job's entry point (`nemorun.compiler.entry`), as Python text.

``AXES`` lists each swept place's values once; a cartesian sweep decodes ``NEMORUN_POINT`` into
one value per axis (`THIS_PRODUCT_POINT`), any other sweep has a ``POINTS`` row per point
(`THIS_POINT`). A long axis of short values is packed several to a line: a few bytes a value.
"""

from __future__ import annotations

from nemorun.compiler.points import Points
from nemorun.compiler.pysource import INDENT, WIDTH, Doc, Group, flat, layout
from nemorun.errors import KeyPath, format_path


def _axis_lines(holes: list[KeyPath], choices: list[list[Doc]], lazy: list[bool]) -> list[str]:
    out = []
    for hole, docs, is_lazy in zip(holes, choices, lazy):
        out.append(f"{INDENT}# {format_path(hole)}")
        items: list[tuple[str, Doc]] = [("lambda: " if is_lazy else "", d) for d in docs]
        group = Group("(", items, ")", single_comma=True)
        text = layout(group, INDENT)
        texts = [flat(d) for d in docs]
        if "\n" in text and not is_lazy and all(len(t) < WIDTH // 2 for t in texts):
            text = _packed(texts, INDENT)
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
