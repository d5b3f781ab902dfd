"""Pictures of Fiddle graphs, read back from the SVG that Graphviz's ``dot`` draws: a shared
sub-config is one box with an arrow per use, swept rows show their values, a diff colours
exactly the changed key paths, and any text survives DOT and SVG."""

from __future__ import annotations

import html
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT, assert_golden
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from svgread import arrows, boxes, cells, draw

from nemorun.api import diff, load
from nemorun.compiler.picture_dot import COLOURS, diff_dot, graph_dot, html_text, tooltip
from nemorun.compiler.pictures import (
    Box,
    Mark,
    Marking,
    Picture,
    Row,
    diff_pictures,
    mark,
    show,
    spec_picture,
)

SHARED = f"""
nemorun: 1
pythonpath: [{EXAMPLES}]
tasks:
  a:
    task:
      _target_: trainlib:train
      model: &model {{hidden_size: 8, layers: 1}}
      optim: {{lr: 0.1}}
  b:
    task:
      _target_: trainlib:train
      model: *model
      optim: {{lr: 0.2}}
"""


def spec_file(directory: Path, text: str, name: str = "spec.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def marked(svg_cells: list, side: str = "") -> dict[str, str]:
    """Each key path whose cell is coloured (in boxes of ``side``), and its mark."""
    meaning = {colour: mark.value for mark, colour in COLOURS.items()}
    found: dict[str, str] = {}
    for cell in svg_cells:
        if cell.box.startswith(side) and cell.fill in meaning:
            for path in cell.paths:
                found[path] = meaning[cell.fill]
    return found


def test_a_shared_sub_config_is_one_box_with_an_arrow_from_each_use(tmp_path: Path) -> None:
    svg = draw(graph_dot(spec_picture(load(spec_file(tmp_path, SHARED)))))
    drawn = boxes(svg)
    models = [name for name, text in drawn.items() if "ModelConfig" in text]
    assert len(models) == 1, drawn
    [model] = models
    assert "shared: 2 uses" in drawn[model]
    into_model = [source for source, target in arrows(svg) if target == model]
    assert sorted(drawn[s].split(":")[0] for s in into_model) == ["task a", "task b"]
    optims = [name for name, text in drawn.items() if "OptimConfig" in text]
    assert len(optims) == 2  # written twice: two objects, two boxes
    header = next(c for c in cells(svg) if c.box == model and "ModelConfig" in c.text)
    assert header.paths == ["tasks.a.task.model", "tasks.b.task.model"]
    size = next(c for c in cells(svg) if c.box == model and c.text == "8")
    assert size.paths == ["tasks.a.task.model.hidden_size", "tasks.b.task.model.hidden_size"]


def test_swept_rows_show_their_values_or_their_count() -> None:
    spec = load(ROOT / "configs" / "pretrain.yaml", ["steps=range(1,9)"])
    svg_cells = cells(draw(graph_dot(spec_picture(spec))))
    assert marked(svg_cells) == {"task.optim.lr": "swept", "task.steps": "swept"}
    texts = {c.paths[0]: c.text for c in svg_cells}
    assert texts["task.optim.lr"] == "0.0001 | 0.0003 | 0.001"
    assert texts["task.steps"] == "8 values: 1 … 8"
    assert texts["task.model.hidden_size"] == "128"


BASE = f"""
nemorun: 1
name: base
pythonpath: [{EXAMPLES}]
task:
  _target_: trainlib:train
  model: {{hidden_size: 8}}
  optim: {{lr: 0.1}}
  data: {{path: /data, batch_size: 4}}
executor: {{env: {{A: '1'}}}}
sweep: {{optim.lr: [0.1, 0.2]}}
"""
DIFFS = {
    "a value changed": (
        [("lr: 0.1}", "lr: 0.3}"), ("[0.1, 0.2]", "[0.3, 0.2]")],
        {"task.optim.lr": "changed"},
        {"task.optim.lr": "changed"},
    ),
    "a value added": (
        [("hidden_size: 8}", "hidden_size: 8, layers: 3}")],
        {},
        {"task.model.layers": "added"},
    ),
    "a sub-config removed": (
        [("  data: {path: /data, batch_size: 4}\n", "")],
        {
            "task.data": "removed",
            "task.data.path": "removed",
            "task.data.batch_size": "removed",
        },
        {},
    ),
    "sweep values changed": (
        [("[0.1, 0.2]", "[0.1, 0.5]")],
        {"task.optim.lr": "changed"},
        {"task.optim.lr": "changed"},
    ),
    "outside the graph": (
        [("A: '1'", "A: '2'"), ("name: base", "name: other")],
        {"executor.env.A": "changed", "name": "changed"},
        {"executor.env.A": "changed", "name": "changed"},
    ),
}


@pytest.mark.parametrize("case", DIFFS)
def test_a_diff_colours_exactly_the_changed_key_paths(case: str, tmp_path: Path) -> None:
    edits, on_a, on_b = DIFFS[case]
    changed = BASE
    for old, new in edits:
        assert old in changed
        changed = changed.replace(old, new)
    a, b = spec_file(tmp_path, BASE, "a.yaml"), spec_file(tmp_path, changed, "b.yaml")
    found = diff(a, b)
    left, right = spec_picture(load(a), "a.yaml"), spec_picture(load(b), "b.yaml")
    svg = draw(diff_dot(*diff_pictures(left, right, found.changes, found.a.tree, found.b.tree)))
    svg_cells = cells(svg)
    swept = {"task.optim.lr": "swept"}
    assert marked(svg_cells, "a") == {**swept, **on_a}
    assert marked(svg_cells, "b") == {**swept, **on_b}


def test_sharing_on_one_side_only_colours_the_shared_box_for_every_use(tmp_path: Path) -> None:
    a = spec_file(tmp_path, SHARED, "a.yaml")
    own_model = SHARED.replace("model: *model", "model: {hidden_size: 16, layers: 1}")
    b = spec_file(tmp_path, own_model, "b.yaml")
    found = diff(a, b)
    pictures = diff_pictures(
        spec_picture(load(a)), spec_picture(load(b)), found.changes, found.a.tree, found.b.tree
    )
    svg_cells = cells(draw(diff_dot(*pictures)))
    changed = "tasks.b.task.model.hidden_size"
    # A's one box is b's model too: its row stands for both paths, so it is coloured.
    assert marked(svg_cells, "a") == {
        "tasks.a.task.model.hidden_size": "changed",
        changed: "changed",
    }
    assert marked(svg_cells, "b") == {changed: "changed"}


HOSTILE = st.text(
    st.one_of(
        st.sampled_from(list("<>&\"';]}\\ \n\t\r\x00\x7f\u2028\ufeff\xa0")),
        st.characters(codec="utf-8"),
    ),
    max_size=20,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target],  # dot is slow to shrink
)
@given(name=HOSTILE, value=HOSTILE, title=HOSTILE, label=HOSTILE)
def test_any_text_reaches_the_svg_as_shown(name: str, value: str, title: str, label: str) -> None:
    row = Row(name, show(value), (f"task.{name}",), where=label, note=value)
    picture = Picture(label, (Box(title, "Config", (row,), ("task",), 0, caption=label),))
    svg = draw(graph_dot(picture))  # it parses: nothing the user wrote broke the XML
    [cell] = [c for c in cells(svg) if c.box == "n0" and c.tooltip != "task"]
    assert cell.text == printable(show(value))
    assert cell.tooltip == printable(tooltip(row))
    header = boxes(svg)["n0"]
    assert printable(title) in header and printable(label) in header and "Config" in header
    assert len(cells(draw(diff_dot(picture, picture)))) == 4  # a header and a row a side


@given(st.text())
def test_html_text_is_printable_and_undone_by_unescaping(text: str) -> None:
    escaped = html_text(text)
    assert escaped.isprintable() or escaped == ""
    assert not set("<>\"'") & set(escaped)
    assert html.unescape(escaped).replace("\\\\", "\\") == printable(text)


def printable(text: str) -> str:
    """``text`` as pictures show it: each non-printable character as Python escapes it."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def test_the_same_spec_draws_the_same_bytes_in_any_interpreter(tmp_path: Path) -> None:
    spec = spec_file(tmp_path, SHARED)
    drawn = set()
    for seed in ("1", "2"):
        out = tmp_path / f"graph{seed}.svg"
        subprocess.run(
            [sys.executable, "-m", "nemorun.cli", "graph", str(spec), "-o", str(out)],
            capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
            check=True,
        )
        drawn.add(out.read_bytes())
    assert len(drawn) == 1


def test_a_change_wins_over_the_sweep_and_marks_the_box_only_when_it_covers_it() -> None:
    row = Row("lr", "0.1", ("task.optim.lr",), mark=Mark.SWEPT)
    box = Box("OptimConfig", "Config", (row,), ("task.optim",), 1)
    picture = Picture("", (box,))
    one = mark(picture, [Marking("task.optim.lr", Mark.CHANGED, "B: 1")])
    assert one.boxes[0].rows[0].mark is Mark.CHANGED
    assert one.boxes[0].rows[0].note == "B: 1"
    assert one.boxes[0].mark is Mark.NONE
    # A list is compared whole: its change covers the boxes in it, headers included.
    whole = mark(picture, [Marking("task", Mark.CHANGED)])
    assert whole.boxes[0].mark is Mark.CHANGED
    assert mark(picture, [Marking("task.optim._target_", Mark.CHANGED)]).boxes[0].mark is (
        Mark.CHANGED
    )
    assert mark(picture, [Marking("task.optim", Mark.ADDED)]).boxes[0].mark is Mark.ADDED


def test_a_command_task_is_a_box_with_its_positional_command(tmp_path: Path) -> None:
    text = f"""
    nemorun: 1
    pythonpath: [{EXAMPLES}]
    tasks:
      train:
        task: {{_target_: trainlib:train, model: {{}}, optim: {{}}, steps: 2}}
        after: [prep]
      prep:
        task: {{command: "echo 'prep' && ls"}}
    sweep:
      tasks.train.task.steps: [1, 2]
    """
    picture = spec_picture(load(spec_file(tmp_path, textwrap.dedent(text))))
    rows = {(box.caption, row.name): row for box in picture.boxes for row in box.rows}
    assert rows[("task prep", "0")].text == "\"echo 'prep' && ls\""
    assert rows[("task prep", "0")].paths == ("tasks.prep.task.0",)
    assert rows[("task train", "steps")].mark is Mark.SWEPT
    assert rows[("task train", "steps")].text == "1 | 2"
    # prep runs first: a dashed "then" arrow from its box to train's.
    boxes_by_caption = {box.caption: i for i, box in enumerate(picture.boxes)}
    assert picture.order == ((boxes_by_caption["task prep"], boxes_by_caption["task train"]),)
    dot = graph_dot(picture)
    first, then = picture.order[0]
    # It does not rank the boxes: ranked, 100 chained tasks sharing a model took dot minutes.
    assert f"  n{first} -> n{then} [constraint=false style=dashed" in dot


def test_pretrain_graph_golden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    assert_golden(
        "pretrain.graph.dot",
        graph_dot(spec_picture(load("configs/pretrain.yaml"), "configs/pretrain.yaml")),
    )
