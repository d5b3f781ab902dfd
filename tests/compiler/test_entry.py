"""The job's entry point is plain Python that runs where nemorun is not installed.

Every entry here runs under ``python -S`` (no site-packages: neither nemorun nor fiddle can be
imported, which each test that matters checks) with only the task's own code on PYTHONPATH.
The tasks (`fixtures_entry`) write what they received, with types, to a JSON file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nemorun.api import load
from nemorun.compiler.entry import entry_point
from nemorun.errors import SpecError, SpecErrors

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FIXTURES = Path(__file__).resolve().parent


def run_plain(
    source: str, where: Path, pythonpath: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``source`` as a script with no site-packages and only ``pythonpath`` to import from."""
    script = where / "entry.py"
    script.write_text(source, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-S", str(script)],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(pythonpath), **(env or {})},
        cwd=where,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_no_nemorun(where: Path, pythonpath: Path) -> None:
    """The interpreter `run_plain` uses cannot import nemorun or fiddle."""
    for module in ("nemorun", "fiddle"):
        proc = run_plain(f"import {module}\n", where, pythonpath)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, module


def probe_spec(tmp_path: Path, task: str, extra: str = "") -> Path:
    """A spec calling ``fixtures_entry:probe`` with ``task`` (YAML lines under ``task:``)."""
    spec = tmp_path / "probe.yaml"
    indented = "\n".join("  " + line for line in task.strip("\n").splitlines())
    spec.write_text(
        f"nemorun: 1\nname: probe\npythonpath: [{json.dumps(str(FIXTURES))}]\n"
        "task:\n  _target_: fixtures_entry:probe\n"
        f"  out: {json.dumps(str(tmp_path / 'out.json'))}\n"
        f"{indented}\n{extra}",
        encoding="utf-8",
    )
    return spec


def run_probe(tmp_path: Path, spec: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    entry = entry_point(load(spec))
    proc = run_plain(entry.source, tmp_path, FIXTURES, env)
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads((tmp_path / "out.json").read_text(encoding="utf-8")))


def test_quickstart_entry_is_plain_python_and_runs_without_nemorun(tmp_path: Path) -> None:
    entry = entry_point(load(ROOT / "configs" / "quickstart.yaml"))
    assert "from trainlib.loop import ModelConfig, OptimConfig, train" in entry.source
    assert (
        "train(model=ModelConfig(hidden_size=32), optim=OptimConfig(lr=0.05), steps=60)"
        in entry.source
    )
    assert "nemorun" not in entry.source.split("from trainlib")[1]
    assert_no_nemorun(tmp_path, EXAMPLES)

    proc = run_plain(entry.source, tmp_path, EXAMPLES)

    assert proc.returncode == 0, proc.stderr
    assert "model=32x2 RELU optim=sgd lr=0.05" in proc.stdout
    assert "step 60 loss" in proc.stdout


def test_every_kind_of_value_reaches_the_task_with_its_type(tmp_path: Path) -> None:
    spec = probe_spec(
        tmp_path,
        """
count: 3
ratio: 1.5e-3
flag: true
name: "it's \\"quoted\\" \\\\ and\\nnewline é 🙂"
nothing: null
where: /data/x y
color: GREEN
pair: [7, seven]
items: [1, 2.5]
table: {b: 2, a: 1}
tags: [zeta, alpha, mid]
inner: {size: 4, color: GREEN}
fn: fixtures_entry:double
""",
    )
    assert_no_nemorun(tmp_path, FIXTURES)

    report = run_probe(tmp_path, spec)

    assert report["count"] == 3
    assert report["ratio"] == 1.5e-3
    assert report["flag"] is True
    assert report["name"] == 'it\'s "quoted" \\ and\nnewline é 🙂'
    assert report["nothing"] is None
    assert report["where"] == {"path": "/data/x y"}
    assert report["color"] == {"enum": "Color.GREEN"}
    assert report["pair"] == {"tuple": [7, "seven"]}
    assert report["items"] == [1.0, 2.5]
    assert report["table"] == {"dict": {"b": 2, "a": 1}}
    assert report["tags"] == {"set": ["alpha", "mid", "zeta"]}
    assert report["inner"] == {"Inner": {"size": 4, "color": {"enum": "Color.GREEN"}}}
    assert report["fn"] == {"callable": "fixtures_entry:double"}


def test_a_shared_sub_config_is_one_variable_built_once(tmp_path: Path) -> None:
    spec = probe_spec(
        tmp_path,
        """
outer:
  first: &shared {size: 3}
  second: *shared
  extra: [*shared, {size: 9}]
""",
    )
    source = entry_point(load(spec)).source
    assert source.count("Inner(size=3)") == 1
    assert "inner = Inner(size=3)" in source

    report = run_probe(tmp_path, spec)

    assert report["shared"] is True
    assert report["outer"]["Outer"]["extra"][1] == {
        "Inner": {"size": 9, "color": {"enum": "Color.RED"}}
    }


ENV_TASK = """
count: ${oc.env:COUNT,7}
env_flag: ${oc.env:FLAG,false}
env_path: ${oc.env:WHERE,null}
env_color: ${oc.env:COLOR,GREEN}
env_text: pre-${oc.env:A,x}-${oc.env:B,y}
"""


def test_environment_references_are_read_where_the_job_runs(tmp_path: Path) -> None:
    spec = probe_spec(tmp_path, ENV_TASK)
    source = entry_point(load(spec)).source
    assert "count=env_value('${oc.env:COUNT,7}', to=int)" in source

    defaults = run_probe(tmp_path, spec)
    assert (defaults["count"], defaults["env_flag"], defaults["env_path"]) == (7, False, None)
    assert defaults["env_color"] == {"enum": "Color.GREEN"}
    assert defaults["env_text"] == "pre-x-y"

    env = {"COUNT": "12", "FLAG": "yes", "WHERE": "/w", "COLOR": "RED", "A": "1", "B": "$(two)"}
    given = run_probe(tmp_path, spec, env)
    assert (given["count"], given["env_flag"], given["env_path"]) == (12, True, {"path": "/w"})
    assert given["env_color"] == {"enum": "Color.RED"}
    assert given["env_text"] == "pre-1-$(two)"


def test_a_sweep_is_one_entry_with_a_table_of_points(tmp_path: Path) -> None:
    spec = probe_spec(
        tmp_path,
        "count: 1\ninner: {size: 1}",
        extra="sweep:\n  count: [10, 20]\n  inner: [{size: 5}, {size: 6, color: GREEN}]\n",
    )
    entry = entry_point(load(spec))
    assert entry.source.count("def main") == 1
    assert [p.describe() for p in entry.points] == [
        'count=10 inner={"size": 5}',
        'count=10 inner={"size": 6, "color": "GREEN"}',
        'count=20 inner={"size": 5}',
        'count=20 inner={"size": 6, "color": "GREEN"}',
    ]
    assert "lambda: Inner(size=5)" in entry.source  # only the chosen value is built

    seen = [run_probe(tmp_path, spec, {"NEMORUN_POINT": str(i)}) for i in range(4)]

    assert [(r["count"], r["inner"]["Inner"]["size"]) for r in seen] == [
        (10, 5),
        (10, 6),
        (20, 5),
        (20, 6),
    ]
    assert seen[3]["inner"]["Inner"]["color"] == {"enum": "Color.GREEN"}
    assert [r["point"] for r in seen] == ["0", "1", "2", "3"]


def test_a_swept_environment_reference_reads_like_any_other(tmp_path: Path) -> None:
    # Swept env values of optional and bool types used to be refused: they now use the same
    # embedded reading as unswept ones.
    spec = probe_spec(
        tmp_path,
        "maybe: 1\nenv_flag: false",
        extra="sweep:\n  maybe: ['${oc.env:MAYBE,}', 3]\n  env_flag: ['${oc.env:FLAG,on}']\n",
    )
    seen = [run_probe(tmp_path, spec, {"NEMORUN_POINT": str(i)}) for i in range(2)]
    assert [(r["maybe"], r["env_flag"]) for r in seen] == [(None, True), (3, True)]
    given = run_probe(tmp_path, spec, {"NEMORUN_POINT": "0", "MAYBE": "12", "FLAG": "no"})
    assert (given["maybe"], given["env_flag"]) == (12, False)


@pytest.mark.parametrize("point", ["", "4", "-1", "x", "٣"])
def test_a_sweep_entry_refuses_a_missing_or_wrong_point(tmp_path: Path, point: str) -> None:
    spec = probe_spec(tmp_path, "count: 1", extra="sweep:\n  count: [1, 2, 3, 4]\n")
    source = entry_point(load(spec)).source
    env = {"NEMORUN_POINT": point} if point else {}

    proc = run_plain(source, tmp_path, FIXTURES, env)

    assert proc.returncode == 1
    assert "NEMORUN_POINT must be a point from 0 to 3" in proc.stderr


def test_the_entry_is_the_same_text_every_time(tmp_path: Path) -> None:
    spec = probe_spec(
        tmp_path, "tags: [b, a, c, d]\ntable: {x: 1}", extra="sweep:\n  count: [1, 2]\n"
    )
    assert entry_point(load(spec)).source == entry_point(load(spec)).source


def test_sweeping_an_executor_option_is_refused_at_its_line(tmp_path: Path) -> None:
    spec = probe_spec(tmp_path, "count: 1", extra="sweep:\n  executor.nodes: [1, 2]\n")
    with pytest.raises((SpecError, SpecErrors)) as info:
        entry_point(load(spec))
    assert "a sweep over 'executor.nodes' is not supported yet" in str(info.value)
    assert "probe.yaml:" in str(info.value)
