"""Pictures (`nemorun.compiler.pictures`) as DOT text for Graphviz, with a legend.

- Every text from the spec reaches the DOT inside an HTML-like label, escaped in one place
  (`html_text`): made printable first (``\\n``, ``\\x00``…), then ``& < > " '`` as entities,
  and each backslash doubled: Graphviz reads ``\\\\`` as one and ``\\N``, ``\\G``… as the
  node's or graph's name, in label text and tooltips alike (entities are decoded first).
  Formatting tags never wrap empty text (``<b></b>`` is a syntax error to ``dot``).
  Node and port names are our own (``a3:p1``), never the user's text.
- The text depends on nothing but the picture (no clock, no ids of objects): same spec, same
  bytes, and so the same SVG from the same ``dot``.
- A row's value cell carries a tooltip (its key path, where the spec set it, the sweep or the
  other side's value). Graphviz writes a cell's tooltip into SVG only on a link, hence the
  ``href="#"``.
"""

from __future__ import annotations

from collections.abc import Sequence

from nemorun.compiler.pictures import Box, Mark, Picture, Row

COLOURS = {
    Mark.SWEPT: "#cfe2ff",
    Mark.ADDED: "#c6efce",
    Mark.REMOVED: "#ffc7ce",
    Mark.CHANGED: "#ffeb9c",
}
"""The fill of a marked row or box header (SVG writes them as ``fill="#…"``)."""
HEADER = "#e8e8e8"
SHARED = "#7030a0"
"""Border and arrows of a shared box."""
AFTER = 'constraint=false style=dashed color="#999999" label=<<i>then</i>> fontsize=9'
"""A task that runs after another (``after:``): a dashed arrow from the one before. It does not
rank the boxes: a chain of 100 tasks sharing one model, ranked by it, took ``dot`` minutes."""
MEANING = {
    Mark.SWEPT: "the values of a sweep, one per point",
    Mark.ADDED: "added in B",
    Mark.REMOVED: "removed from A",
    Mark.CHANGED: "changed between A and B",
}


def graph_dot(picture: Picture) -> str:
    """One picture (titled with its label, when it has one): its boxes and arrows, then a
    legend."""
    lines = _head()
    if picture.label:
        lines.append(f"  labelloc=t; label=<{html_text(picture.label)}>;")
    lines += _boxes(picture, "n", "  ")
    lines += _legend((Mark.SWEPT,), bool(picture.order))
    return "\n".join([*lines, "}", ""])


def diff_dot(a: Picture, b: Picture) -> str:
    """Two pictures side by side (A left, B right), each in a frame labelled with its side,
    and a legend."""
    lines = _head()
    for prefix, picture in (("a", a), ("b", b)):
        lines.append(f"  subgraph cluster_{prefix} {{")
        lines.append(f"    label=<<b>{prefix.upper()}</b>: {html_text(picture.label)}>;")
        lines += _boxes(picture, prefix, "    ")
        if picture.elsewhere:
            rows = _rows(picture.elsewhere, f"{prefix}x", [])
            title = _cell("outside the task graphs", 2, HEADER)
            lines.append(f"    {prefix}x [label=<{_table(title, rows)}>];")
        lines.append("  }")
    lines += _a_before_b(a, b)
    marks = (Mark.ADDED, Mark.REMOVED, Mark.CHANGED, Mark.SWEPT)
    lines += _legend(marks, bool(a.order or b.order))
    return "\n".join([*lines, "}", ""])


def _a_before_b(a: Picture, b: Picture) -> list[str]:
    """Invisible arrows through a point between the frames, so that ``dot`` puts A's
    columns before B's (side by side) instead of stacking the two frames."""
    after_a = [f"a{i}" for i in range(len(a.boxes))] + (["ax"] if a.elsewhere else [])
    roots_b = [f"b{i}" for i, box in enumerate(b.boxes) if box.uses == 0]
    roots_b += ["bx"] if b.elsewhere else []
    lines = ["  between [shape=point style=invis width=0];"]
    lines += [f"  {name} -> between [style=invis];" for name in after_a]
    lines += [f"  between -> {name} [style=invis];" for name in roots_b]
    return lines


def html_text(text: str) -> str:
    """``text`` for an HTML-like label or attribute: printable, backslashes doubled, its
    markup characters as entities (Graphviz knows the named ones and decimal ``&#NN;``)."""
    printable = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return (
        printable.replace("\\", "\\\\")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def tooltip(row: Row) -> str:
    """What hovering a row's value says: its key paths, where it was set, its note. (A box's
    header says its key paths, written the same way.)"""
    parts = [" | ".join(row.paths), f"set at {row.where}" if row.where else "", row.note]
    return " · ".join(p for p in parts if p)


def _head() -> list[str]:
    return [
        "digraph nemorun {",
        '  graph [fontname="Helvetica" fontsize=11 rankdir=LR nodesep=0.3 ranksep=0.6];',
        '  node [shape=plain fontname="Helvetica" fontsize=10];',
        '  edge [color="#555555" arrowsize=0.7 fontname="Helvetica"];',
    ]


def _boxes(picture: Picture, prefix: str, indent: str) -> list[str]:
    lines: list[str] = []
    edges: list[tuple[str, str, int]] = []
    for index, box in enumerate(picture.boxes):
        name = f"{prefix}{index}"
        lines.append(f"{indent}{name} [label=<{_box_label(box, name, edges)}>];")
    for source, port, child in edges:
        target = picture.boxes[child]
        style = f' [color="{SHARED}" penwidth=1.6]' if target.is_shared() else ""
        lines.append(f"{indent}{source}:{port}:e -> {prefix}{child}:w{style};")
    for first, then in picture.order:
        lines.append(f"{indent}{prefix}{first} -> {prefix}{then} [{AFTER}];")
    return lines


def _box_label(box: Box, name: str, edges: list[tuple[str, str, int]]) -> str:
    title = f'{_bold(box.title)} <font point-size="8">{html_text(box.kind)}</font>'
    if box.caption:
        title = f"{html_text(box.caption)}: {title}"
    if box.is_shared():
        title += f' <font point-size="8" color="{SHARED}">shared: {box.uses} uses</font>'
    header = _cell(title, 2, COLOURS.get(box.mark, HEADER), " | ".join(box.paths))
    if not box.rows:
        return _table(header, ['<tr><td colspan="2"><i>no arguments</i></td></tr>'], box)
    return _table(header, _rows(box.rows, name, edges), box)


def _rows(rows: Sequence[Row], name: str, edges: list[tuple[str, str, int]]) -> list[str]:
    out = []
    for i, row in enumerate(rows):
        fill = f' bgcolor="{COLOURS[row.mark]}"' if row.mark in COLOURS else ""
        port = f"p{i}"
        if row.child is not None:
            edges.append((name, port, row.child))
        value = (
            f'<td align="left" port="{port}" href="#" tooltip="{html_text(tooltip(row))}"'
            f"{fill}>{html_text(row.text)}</td>"
        )
        out.append(f'<tr><td align="left"{fill}>{html_text(row.name)}</td>{value}</tr>')
    return out


def _table(header: str, rows: list[str], box: Box | None = None) -> str:
    shared = box is not None and box.is_shared()
    border = f'border="2" color="{SHARED}"' if shared else 'border="0"'
    attributes = f'{border} cellborder="1" cellspacing="0" cellpadding="4"'
    return f"<table {attributes}><tr>{header}</tr>{''.join(rows)}</table>"


def _bold(text: str) -> str:
    return f"<b>{html_text(text)}</b>" if text else ""


def _cell(content: str, colspan: int, fill: str, tip: str = "") -> str:
    link = f' href="#" tooltip="{html_text(tip)}"' if tip else ""
    return f'<td colspan="{colspan}" bgcolor="{fill}"{link}>{content}</td>'


def _legend(marks: Sequence[Mark], after: bool) -> list[str]:
    rows = [
        f'<tr><td bgcolor="{COLOURS[m]}">{m.value}</td><td align="left">{MEANING[m]}</td></tr>'
        for m in marks
    ]
    rows.append(
        f'<tr><td border="2" color="{SHARED}">shared</td>'
        '<td align="left">a sub-config used in several places: one box, an arrow per use</td>'
        "</tr>"
    )
    if after:
        rows.append(
            '<tr><td><font color="#999999">- - <i>then</i> →</font></td>'
            '<td align="left">the next task runs after this one (after:)</td></tr>'
        )
    header = _cell("<b>legend</b>", 2, HEADER)
    return [f"  legend [label=<{_table(header, rows)}>];"]
