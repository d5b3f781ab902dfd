"""The JSON Schema accepts what ``nemorun validate`` accepts: partial specs (``extends:``, a
sweep) may leave required keys to their base or sweep; a spec that is neither may not.

Each case is checked against both: the spec must validate with nemorun, and the schema (built
from it, as ``nemorun schema`` does) must accept or refuse its file as written.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import ROOT, ZOO

from nemorun.api import load
from nemorun.cli import main
from nemorun.compiler.export import export
from nemorun.schemas.jsonschema import spec_schema

TESTS = ZOO.parent

BASE = f"""
nemorun: 1
pythonpath: [{TESTS}]
task:
  _target_: typezoo:zoo_task
  scalars: {{i: 1, f: 0.5, s: s, b: true, p: p, color: RED, level: LOW, mode: train, rank: 1}}
  containers: {{}}
  options: {{}}
  plain: {{size: 1}}
  left: {{name: left}}
  right: {{name: right}}
executor: {{target: slurm, partition: debug}}
"""

CHILDREN = {
    # a required key of a nested config, and a Slurm option without the target, from the base
    "nested": """
        nemorun: 1
        extends: base.yaml
        task:
          scalars: {i: 2}
          left: {weight: 2.0}
        executor: {time: "00:10:00"}
    """,
    # the task's own target and required arguments come from the base
    "only-steps": """
        nemorun: 1
        name: child
        extends: [base.yaml]
        task: {steps: 3}
    """,
    # a required argument given only by the sweep
    "swept": """
        nemorun: 1
        extends: base.yaml
        task:
          scalars: {i: 2}
        sweep:
          task.left: [{name: a}, {name: b}]
    """,
}

TASKS_BASE = f"""
nemorun: 1
pythonpath: [{ROOT / "examples"}]
tasks:
  prep:
    task: {{command: "echo prep"}}
  train:
    task: {{_target_: trainlib:train, model: {{}}, optim: {{}}, steps: 2}}
    after: [prep]
"""

TASKS_CHILD = """
nemorun: 1
extends: base.yaml
tasks:
  train:
    executor: {target: slurm, partition: debug}
  prep:
    task: {command: "echo again"}
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def schema_errors(schema: dict[str, Any], tree: Any) -> list[str]:
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = jsonschema.Draft202012Validator(schema).iter_errors(tree)
    return [f"{list(e.absolute_path)}: {e.message}" for e in map(_deepest, errors)]


def _deepest(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """Under ``anyOf`` (a config may also be an interpolation), the error of the alternative
    of the value's own type."""
    while error.context:
        fitting = [e for e in error.context if e.validator != "type"]
        if not fitting:
            break
        error = fitting[0]
    return error


@pytest.mark.parametrize("child", sorted(CHILDREN))
def test_a_valid_child_spec_is_accepted(child: str, tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    path = write(tmp_path, "child.yaml", CHILDREN[child])
    schema = spec_schema(load(path))  # nemorun accepts it
    tree = yaml.safe_load(path.read_text())
    assert schema_errors(schema, tree) == []
    # The same keys without 'extends' or 'sweep' are a whole spec, and miss what the base gave.
    for key in ("extends", "sweep"):
        tree.pop(key, None)
    assert any("is a required property" in e for e in schema_errors(schema, tree))


def test_a_child_of_a_multi_task_spec_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", TASKS_BASE)
    path = write(tmp_path, "child.yaml", TASKS_CHILD)
    schema = spec_schema(load(path))
    tree = yaml.safe_load(path.read_text())
    assert schema_errors(schema, tree) == []
    del tree["extends"]
    assert "['tasks', 'train']: 'task' is a required property" in schema_errors(schema, tree)


def test_the_example_configs_are_accepted_as_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """configs/pretrain.yaml extends configs/base.yaml, whose env value is a number."""
    monkeypatch.chdir(ROOT)
    for name in ("pretrain.yaml", "base.yaml", "quickstart.yaml"):
        assert main(["schema", f"configs/{name}"]) == 0
        schema = json.loads(capsys.readouterr().out)
        for other in ("pretrain.yaml", "base.yaml", "quickstart.yaml"):
            tree = yaml.safe_load((ROOT / "configs" / other).read_text())
            assert schema_errors(schema, tree) == [], (name, other)


def test_a_whole_spec_is_still_held_to_its_required_keys(tmp_path: Path) -> None:
    spec = load(write(tmp_path, "base.yaml", BASE))
    tree = yaml.safe_load((tmp_path / "base.yaml").read_text())
    schema = spec_schema(spec)
    assert schema_errors(schema, tree) == []
    del tree["task"]["scalars"]["i"]
    tree["executor"] = {"partition": "debug"}  # a Slurm option needs the slurm target here
    errors = schema_errors(schema, tree)
    assert "['task', 'scalars']: 'i' is a required property" in errors
    assert any(e.startswith("['executor']: ") for e in errors)
    # A string argument takes any scalar, as typed; a wrong type is still refused.
    tree = yaml.safe_load((tmp_path / "base.yaml").read_text())
    tree["task"]["scalars"]["s"] = 7
    assert schema_errors(schema, tree) == []
    tree["task"]["scalars"]["i"] = "seven"
    assert schema_errors(schema, tree) != []
    # A partial config (called later, with the rest) may leave required arguments out.
    tree = yaml.safe_load((tmp_path / "base.yaml").read_text())
    tree["task"]["scalars"] = {"_partial_": True, "i": 3}
    (tmp_path / "partial.yaml").write_text(yaml.safe_dump(tree))
    load(tmp_path / "partial.yaml")  # nemorun accepts it
    assert schema_errors(schema, tree) == []


def test_shared_sub_configs_written_as_refs_are_accepted(tmp_path: Path) -> None:
    path = write(tmp_path, "shared.yaml", BASE.replace("right: {name: right}", "right: *left"))
    path.write_text(path.read_text().replace("left: {name: left}", "left: &left {name: left}"))
    spec = load(path)
    schema = spec_schema(spec)
    tree = json.loads(export(spec, "json", tmp_path))
    assert tree["task"]["right"] == {"_ref_": "task.left"}
    assert schema_errors(schema, tree) == []
