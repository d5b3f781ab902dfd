"""``nemorun compare`` and ``nemorun metrics`` on real local runs.

Two sweeps are launched once for the module (``nemorun launch --wait``, local target); each
point's job writes ``metrics.jsonl`` from its own argument values, so a value in the table can
only come from that point's own file. A rerun of the first run gives a second attempt.
"""

from __future__ import annotations

import csv
import io
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult, nemorun

Cli = Callable[..., CliResult]

TASK = """
import json, os, pathlib


def train(lr: float = 0.1, layers: int = 2, label: str = "x") -> None:
    where = pathlib.Path(os.environ["NEMORUN_POINT_DIR"]) / "metrics.jsonl"
    with where.open("a") as out:
        for step in range(5):
            out.write(json.dumps({"step": step * 10, "loss": lr * layers / (step + 1)}) + "\\n")
        out.write("not a metric line\\n")
"""

SPEC = """\
nemorun: 1
name: cmp
pythonpath: [.]
task: {_target_: cmptask:train, lr: 0.1, layers: 2, label: a very long label no column holds}
sweep: {lr: [0.1, 0.2]}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """The home and the ids of three runs: two sweeps (layers 2 and 4), then a rerun of the
    first. Newest last."""
    where = tmp_path_factory.mktemp("compare")
    (where / "cmptask.py").write_text(TASK)
    (where / "cmp.yaml").write_text(SPEC)
    home = str(where / "home")
    ids = []
    for extra in ([], ["layers=4"]):
        done = nemorun("launch", "cmp.yaml", *extra, "--wait", cwd=where, NEMORUN_HOME=home)
        assert done.returncode == 0, done.stderr
        ids.append(done.stdout.split()[0])
    again = nemorun("rerun", ids[0], "--wait", cwd=where, NEMORUN_HOME=home)
    assert again.returncode == 0, again.stderr
    ids.append(again.stdout.split()[0])
    return where / "home", ids


@pytest.fixture
def in_home(runs: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("NEMORUN_HOME", str(runs[0]))
    monkeypatch.setenv("COLUMNS", "200")
    return runs[1]


def test_the_table_shows_only_what_differs_and_each_points_last_metric(
    cli: Cli, in_home: list[str]
) -> None:
    first, second, _ = in_home
    result = cli("compare", first, second)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "RUN", "POINT", "STATUS", "TARGET", "duration", "attempts", "task.lr", "task.layers",
        "metric:loss",
    ]  # fmt: skip
    rows = [line.split() for line in lines[1:]]
    # loss at the last step is lr * layers / 5, from each point's own file.
    assert [(r[0], r[1], r[2], r[3], r[5], r[6], r[7], r[8]) for r in rows] == [
        (first, "0", "completed", "local", "1", "0.1", "2", "0.04"),
        (first, "1", "completed", "local", "1", "0.2", "2", "0.08"),
        (second, "0", "completed", "local", "1", "0.1", "4", "0.08"),
        (second, "1", "completed", "local", "1", "0.2", "4", "0.16"),
    ]
    assert "4 line(s) of the runs' metrics.jsonl were not metrics" in result.err


def test_json_rows_keep_the_contract_and_the_values_whole(
    cli: Cli, in_home: list[str], runs: tuple[Path, list[str]]
) -> None:
    import nemorun

    first, second, rerun = in_home
    result = cli("compare", "--name", "cmp", "--last", "3", "--json", "--all")
    table = json.loads(result.out)
    assert [(r["run"], r["point"]) for r in table["rows"]] == [
        (rerun, 0), (rerun, 1), (second, 0), (second, 1), (first, 0), (first, 1),
    ]  # fmt: skip
    row = table["rows"][0]
    assert row["attempts"] == 2 and row["status"] == "completed" and row["target"] == "local"
    assert isinstance(row["duration"], float) and row["metric:loss"] == 0.04
    assert row["task.label"] == "a very long label no column holds"
    direct = nemorun.compare([first, rerun], home=runs[0])
    assert direct.columns == ("run", "point", "status", "target", "duration", "attempts",
                              "task.lr", "metric:loss")  # fmt: skip
    assert [r["attempts"] for r in direct.rows] == [1, 1, 2, 2]


def test_a_narrow_terminal_cuts_cells_and_names_the_columns_left_out(
    cli: Cli, in_home: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "75")
    result = cli("compare", "cmp", in_home[1], "--all")
    assert result.code == 0
    assert all(len(line) <= 75 for line in result.out.splitlines()), result.out
    assert "RUN" in result.out and "task.layers" in result.out
    assert "column(s) left out to fit 75 characters:" in result.err
    assert "target, duration, attempts" in result.err
    monkeypatch.setenv("COLUMNS", "200")
    wide = cli("compare", "cmp", in_home[1], "--keys", "label,layers")
    assert "a very long label no co…" in wide.out
    assert "task.lr" not in wide.out and "task.layers" in wide.out


def test_csv_has_every_column_and_raw_values(cli: Cli, in_home: list[str]) -> None:
    result = cli("compare", in_home[0], in_home[1], "--csv")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert len(rows) == 4
    assert rows[3]["task.layers"] == "4" and rows[3]["metric:loss"] == "0.16"
    assert float(rows[3]["duration"]) >= 0


def test_bad_references_and_keys_are_located_errors(cli: Cli, in_home: list[str]) -> None:
    missing = cli("compare", in_home[0], "nosuchrun")
    assert missing.code == 2 and missing.error_lines[0].startswith("no run 'nosuchrun'")
    bad_key = cli("compare", in_home[0], in_home[1], "--keys", "optim.lr")
    assert bad_key.code == 2
    assert bad_key.error_lines[0].startswith("no key 'optim.lr' in the runs' resolved specs")
    assert cli("compare").code == 2
    assert cli("compare", "--name", "nope").error_lines[0].startswith("no run named 'nope'")


def test_metrics_prints_sparklines_writes_svg_and_json(
    cli: Cli, in_home: list[str], workdir: Path
) -> None:
    run = in_home[1]
    shown = cli("metrics", run)
    assert shown.code == 0, shown.err
    assert shown.out.splitlines()[0] == "point 0"
    assert "loss  █▄▂▁▁  last 0.08  (5 steps to 40, range 0.08..0.4)" in shown.out
    assert "last 0.16" in shown.out.split("point 1")[1]
    assert "2 line(s) of metrics.jsonl were not metrics" in shown.err
    picture = workdir / "loss.svg"
    assert cli("metrics", run, "--point", "1", "--metric", "loss", "--svg", str(picture)).code == 0
    root = ET.fromstring(picture.read_text())
    (line,) = root.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(line.attrib["points"].split()) == 5
    data = json.loads(cli("metrics", run, "--json").out)
    assert data["points"]["1"]["loss"][-1] == [40.0, 0.16]
    assert cli("metrics", run, "--point", "7").error_lines == [
        f"run {run} has no metrics for point '7': expected one of: 0, 1"
    ]
    assert cli("metrics", run, "--metric", "los").error_lines[-1].endswith("did you mean 'loss'?")


def test_a_run_without_metrics_says_where_they_would_be(
    cli: Cli, workdir: Path, home: Path
) -> None:
    spec = workdir / "quiet.yaml"
    spec.write_text("nemorun: 1\nname: quiet\ntask: {command: 'true'}\n")
    assert cli("run", str(spec)).code == 0
    result = cli("metrics", "quiet")
    assert result.code == 1
    assert "has no metrics (a job writes them to $NEMORUN_POINT_DIR/metrics.jsonl)" in result.err
    assert os.environ["NEMORUN_HOME"] == str(home)
