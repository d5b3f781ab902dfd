"""Reading the SVG that ``dot`` draws from a picture: boxes, arrows and coloured cells.

Graphviz writes each box as ``<g class="node"><title>NAME</title>…``, each arrow as
``<g class="edge"><title>FROM:PORT:e->TO:w</title>``, and each cell that has a tooltip as an
``<a xlink:title="TOOLTIP">`` holding the cell's polygon (its ``fill``) and its text. Two
spaces in a row come out as a space and a no-break space (so SVG keeps both), in text and in
tooltips: read back as two (a no-break space of the user's is shown escaped, ``\xa0``).
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import pytest

SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


def needs_dot() -> str:
    """The path of Graphviz's ``dot``; the test is skipped with the reason without it."""
    found = shutil.which("dot")
    if found is None:
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz; tests/run.sh does)")
    return found


def draw(dot_text: str) -> ET.Element:
    """``dot_text`` drawn as SVG by ``dot``, parsed."""
    done = subprocess.run(
        [needs_dot(), "-Tsvg"], input=dot_text.encode(), capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return ET.fromstring(done.stdout)


@dataclass(frozen=True)
class Cell:
    """A cell with a tooltip: the box it is in, its tooltip, fill and text."""

    box: str
    tooltip: str
    fill: str
    text: str

    @property
    def paths(self) -> list[str]:
        """The key paths the cell stands for (the tooltip's first part)."""
        return self.tooltip.split(" · ")[0].split(" | ")


def boxes(svg: ET.Element) -> dict[str, str]:
    """Each box's name and all of its text."""
    found = {}
    for g in svg.iter(f"{SVG}g"):
        if g.get("class") == "node":
            title = g.find(f"{SVG}title")
            assert title is not None
            found[str(title.text)] = " ".join(_text(t) for t in g.iter(f"{SVG}text"))
    return found


def arrows(svg: ET.Element) -> list[tuple[str, str]]:
    """(from box, to box) of every arrow drawn (invisible ones are not drawn)."""
    found = []
    for g in svg.iter(f"{SVG}g"):
        if g.get("class") == "edge":
            title = g.find(f"{SVG}title")
            assert title is not None and title.text is not None
            source, _, target = title.text.partition("->")
            found.append((source.split(":")[0], target.split(":")[0]))
    return found


def cells(svg: ET.Element) -> list[Cell]:
    """Every cell that has a tooltip, in drawing order."""
    found = []
    for g in svg.iter(f"{SVG}g"):
        if g.get("class") != "node":
            continue
        title = g.find(f"{SVG}title")
        assert title is not None
        for link in g.iter(f"{SVG}a"):
            fills = [p.get("fill", "") for p in link.iter(f"{SVG}polygon")]
            fill = next((f for f in fills if f not in ("none", "")), "")
            text = " ".join(_text(t) for t in link.iter(f"{SVG}text"))
            tip = link.get(XLINK_TITLE, "").replace("\xa0", " ")
            found.append(Cell(str(title.text), tip, fill, text))
    return found


def _text(element: ET.Element) -> str:
    return "".join(element.itertext()).replace("\xa0", " ")
