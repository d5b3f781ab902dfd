"""Exports of specs with several Python tasks: sharing comes from the spec, never from addresses.

Each task's graph used to be built, written and freed before the next one was built; the writer
remembered nodes by ``id()``, so a node of the second task that landed at a freed address was
written as an alias of an unrelated node of the first (``task: *task``), differently from one
export to the next. The multi-task round-trip property lives in `test_roundtrip`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, ROOT, CliResult, nemorun, run_dirs

from nemorun.api import load
from nemorun.compiler.export import export
from nemorun.compiler.graph import spec_graphs, task_graph

Cli = Callable[..., CliResult]
SPEC_FORMATS = ("yaml", "toml", "json")
SUFFIX = {"yaml": ".yaml", "toml": ".toml", "json": ".json"}
TIMES = 20

TASK = (
    "    task:\n"
    "      _target_: trainlib:train\n"
    "      model: {{hidden_size: {size}, layers: {layers}}}\n"
    "      optim: {{name: {optim}, lr: {lr}}}\n"
    "      data: {{path: /data/{name}, batch_size: 4}}\n"
    "      steps: 2\n"
    "      tag: {name}\n"
)
VALUES = [
    {"name": "a", "size": 8, "layers": 1, "optim": "sgd", "lr": 0.1},
    {"name": "b", "size": 16, "layers": 3, "optim": "adam", "lr": 0.2},
    {"name": "c", "size": 24, "layers": 2, "optim": "sgd", "lr": 0.3},
]


def tasks_spec(directory: Path, count: int, shared_model: bool = False) -> Path:
    """A spec of ``count`` train tasks, nothing shared (or every task's model one node)."""
    lines = ["nemorun: 1", "name: tasks", f"pythonpath: [{EXAMPLES}]", "tasks:"]
    for i, values in enumerate(VALUES[:count]):
        lines.append(f"  {values['name']}:")
        task = TASK.format(**values)
        if shared_model:
            model = "&model {hidden_size: 8, layers: 1}" if i == 0 else "*model"
            task = task.replace(
                f"{{hidden_size: {values['size']}, layers: {values['layers']}}}", model
            )
        lines.append(task.rstrip("\n"))
    path = directory / f"tasks{count}{'-shared' if shared_model else ''}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def expected_line(values: dict[str, object], shared_model: bool = False) -> str:
    """The first line ``trainlib.train`` prints for a task of ``tasks_spec``."""
    size, layers = (8, 1) if shared_model else (values["size"], values["layers"])
    return (
        f"[{values['name']}] point=0 model={size}x{layers} RELU optim={values['optim']} "
        f"lr={values['lr']} data=/data/{values['name']}"
    )


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("fmt", SPEC_FORMATS)
def test_exporting_many_times_gives_the_same_text_and_the_same_spec(
    fmt: str, count: int, tmp_path: Path
) -> None:
    spec = load(tasks_spec(tmp_path, count))
    texts = {export(spec, fmt, tmp_path) for _ in range(TIMES)}
    assert len(texts) == 1, "exports of one spec differ"
    [text] = texts
    assert "*" not in text and "&" not in text and "_ref_" not in text  # nothing is shared
    path = tmp_path / f"exported{SUFFIX[fmt]}"
    path.write_text(text, encoding="utf-8")
    again = load(path)
    for name, task in spec.tasks.items():
        assert task_graph(again, again.tasks[name]) == task_graph(spec, task), name


def test_sharing_between_tasks_is_the_specs(tmp_path: Path) -> None:
    spec = load(tasks_spec(tmp_path, 3, shared_model=True))
    graphs = spec_graphs(spec)
    assert graphs["a"].model is graphs["b"].model is graphs["c"].model
    assert graphs["a"].optim is not graphs["b"].optim
    text = export(spec, "yaml", tmp_path)
    assert text.count("&model") == 1 and text.count("*model") == 2 and text.count("*") == 2
    path = tmp_path / "exported.yaml"
    path.write_text(text, encoding="utf-8")
    again = spec_graphs(load(path))
    assert again == graphs
    assert again["a"].model is again["b"].model is again["c"].model


def test_exports_in_separate_processes_are_byte_identical(tmp_path: Path) -> None:
    spec_path = tasks_spec(tmp_path, 3)
    expected = export(load(spec_path), "yaml", tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(3):
        result = nemorun("export", str(spec_path), "--format", "yaml", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout == expected


def test_diff_of_a_multi_task_spec_with_itself_is_empty(cli: Cli, workdir: Path) -> None:
    spec_path = str(tasks_spec(workdir, 3))
    for _ in range(5):
        result = cli("diff", spec_path, spec_path)
        assert result.code == 0, result.err
        assert result.out.startswith("no difference"), result.out


@pytest.mark.parametrize("shared_model", [False, True])
def test_each_task_of_a_run_of_the_export_gets_its_own_values(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch, shared_model: bool
) -> None:
    monkeypatch.setenv("NEMORUN_HOME", str(workdir / "home"))
    spec = load(tasks_spec(workdir, 3, shared_model))
    for _ in range(TIMES - 1):
        export(spec, "yaml", workdir)
    exported = workdir / "exported.yaml"
    exported.write_text(export(spec, "yaml", workdir), encoding="utf-8")
    result = cli("run", str(exported))
    assert result.code == 0, result.err
    for values in VALUES:  # `run` prefixes each line with the task's name
        line = f"[{values['name']}] {expected_line(values, shared_model)}"
        assert line in result.out.splitlines(), result.out
    # The run's record holds the same resolved spec, which loads back to the same graphs.
    [record] = run_dirs(workdir / "home")
    resolved = (record / "resolved.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(resolved)["tasks"] == yaml.safe_load(exported.read_text())["tasks"]
    (workdir / "again.yaml").write_text(resolved, encoding="utf-8")
    assert spec_graphs(load(workdir / "again.yaml")) == spec_graphs(spec)
