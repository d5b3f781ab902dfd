"""``nemorun graph`` and ``nemorun diff --svg`` through the command line: DOT without Graphviz,
SVG and PNG with it, a clear error without it, and the picture of two recorded runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, CliResult
from svgread import boxes, cells, needs_dot
from test_pictures import marked

Cli = Callable[..., CliResult]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
PRETRAIN = str(ROOT / "configs" / "pretrain.yaml")


@pytest.fixture
def no_dot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which there is no ``dot``."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.usefixtures("no_dot")
def test_graph_prints_or_writes_dot_without_graphviz(cli: Cli, workdir: Path) -> None:
    printed = cli("graph", PRETRAIN)
    assert printed.code == 0, printed.err
    assert printed.out.startswith("digraph nemorun {\n") and printed.out.endswith("}\n")
    assert "<b>OptimConfig</b>" in printed.out
    written = cli("graph", PRETRAIN, "-o", "graph.dot")
    assert written.code == 0 and written.out == ""
    assert (workdir / "graph.dot").read_text(encoding="utf-8") == printed.out


@pytest.mark.usefixtures("no_dot")
def test_drawing_without_graphviz_says_how_to_get_it(cli: Cli, workdir: Path) -> None:
    result = cli("graph", QUICKSTART, "-o", "graph.svg")
    assert result.code == 1
    assert result.error_lines == [
        "drawing .svg needs Graphviz's 'dot' program, which is not on the PATH; install "
        "Debian's 'graphviz' package (apt-get install graphviz; brew install graphviz on "
        "macOS), or write the DOT text instead (-o FILE.dot, or no -o)"
    ]
    assert not (workdir / "graph.svg").exists()


def test_graph_draws_svg_and_png(cli: Cli, workdir: Path) -> None:
    needs_dot()
    result = cli("graph", PRETRAIN, "optim.name=sgd", "-o", "graph.svg")
    assert result.code == 0, result.err
    svg_cells = cells(_parse(workdir / "graph.svg"))
    texts = {c.paths[0]: c.text for c in svg_cells}
    assert texts["task.optim.name"] == "'sgd'"
    assert "set at override: optim.name=sgd" in next(
        c.tooltip for c in svg_cells if c.paths[0] == "task.optim.name"
    )
    assert marked(svg_cells) == {"task.optim.lr": "swept"}
    assert cli("graph", QUICKSTART, "-o", "graph.png").code == 0
    assert (workdir / "graph.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_refuses_an_unknown_picture_format_and_a_bad_spec(cli: Cli, workdir: Path) -> None:
    result = cli("graph", QUICKSTART, "-o", "graph.pdf")
    assert result.code == 2
    assert result.error_lines == [
        "graph.pdf: cannot draw a picture as '.pdf': expected .svg, .png, .dot, .gv; "
        "name the output graph.svg"
    ]
    bad = cli("graph", QUICKSTART, "stpes=3")
    assert bad.code == 2 and bad.error_lines and "stpes" in bad.err
    assert "Traceback" not in bad.err
    assert cli("graph", "--help").code == 0


@pytest.mark.usefixtures("home")
def test_diff_svg_draws_two_recorded_runs_side_by_side(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs_dot()
    assert cli("run", QUICKSTART).code == 0
    assert cli("run", QUICKSTART, "optim.lr=0.1", "model.layers=3").code == 0
    newest, oldest = (r["id"] for r in json.loads(cli("ls", "--json").out))
    monkeypatch.chdir(ROOT)  # not where the runs were made: their pythonpath still resolves
    result = cli("diff", oldest, newest, "--svg", str(workdir / "runs.svg"))
    assert result.code == 0, result.err
    assert result.out == "+ task.model.layers: 3\n~ task.optim.lr: 0.05 → 0.1\n"
    svg = _parse(workdir / "runs.svg")
    svg_cells = cells(svg)
    assert marked(svg_cells, "a") == {"task.optim.lr": "changed"}
    assert marked(svg_cells, "b") == {"task.optim.lr": "changed", "task.model.layers": "added"}
    lr_b = next(c for c in svg_cells if c.box.startswith("b") and c.paths[0] == "task.optim.lr")
    assert lr_b.text == "0.1" and lr_b.tooltip.endswith(" · A: 0.05")
    text = " ".join(boxes(svg).values()) + _all_text(workdir / "runs.svg")
    assert f"run {oldest}" in text and f"run {newest}" in text
    same = cli("diff", oldest, oldest, "--svg", str(workdir / "same.svg"))
    assert same.code == 0 and same.out.startswith("no difference")
    assert marked(cells(_parse(workdir / "same.svg"))) == {}


def _parse(path: Path) -> object:
    import xml.etree.ElementTree as ET

    return ET.parse(path).getroot()


def _all_text(path: Path) -> str:
    import xml.etree.ElementTree as ET

    return " ".join("".join(e.itertext()) for e in ET.parse(path).getroot().iter())


def test_a_hostile_value_in_a_spec_reaches_the_svg_as_written(cli: Cli, workdir: Path) -> None:
    needs_dot()
    tag = "a<b & 'c' \"d\"\n\\N é\u2028 ]]> <!--"
    spec = workdir / "hostile.yaml"
    text = (
        Path(QUICKSTART).read_text(encoding="utf-8").replace("../examples", str(ROOT / "examples"))
    )
    spec.write_text(text + f"  tag: {json.dumps(tag)}\n", encoding="utf-8")
    result = cli("graph", str(spec), "-o", "hostile.svg")
    assert result.code == 0, result.err
    [cell] = [c for c in cells(_parse(workdir / "hostile.svg")) if c.paths[0] == "task.tag"]
    assert cell.text == repr(tag)  # as Python writes it: quoted, \n and \u2028 escaped
    assert cell.text == "'a<b & \\'c\\' \"d\"\\n\\\\N é\\u2028 ]]> <!--'"


def test_diff_refuses_an_unknown_picture_format_before_comparing(cli: Cli, workdir: Path) -> None:
    result = cli("diff", QUICKSTART, "missing.yaml", "--svg", "changes.jpg")
    assert result.code == 2
    assert result.out == ""
    assert result.error_lines == [
        "changes.jpg: cannot draw a picture as '.jpg': expected .svg, .png, .dot, .gv; "
        "name the output changes.svg"
    ]
