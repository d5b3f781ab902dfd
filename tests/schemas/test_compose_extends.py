"""``extends``: bases merged first, the file wins, command-line overrides win last."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nemorun.api import load
from nemorun.schemas.compose import compose

WriteSpec = Callable[[str, str], Path]

BASE = """
nemorun: 1
pythonpath: [{examples}]
task:
  _target_: trainlib:train
  model: {hidden_size: 8, layers: 2}
  optim: {lr: 0.1}
  data: {tags: [a, b]}
  steps: 10
executor:
  env: {A: "1"}
"""


def write_base(write_spec: WriteSpec) -> Path:
    return write_spec("common/base.yaml", BASE)


def test_base_first_then_file_then_overrides(write_spec: WriteSpec):
    write_base(write_spec)
    path = write_spec(
        "exp.yaml",
        """
        nemorun: 1
        extends: [common/base.yaml]
        task:
          model: {hidden_size: 16}
          data: {tags: [c]}
          steps: 20
        """,
    )
    tree = compose(path).tree
    assert tree["task"]["model"] == {"hidden_size": 16, "layers": 2}  # mappings merge
    assert tree["task"]["data"]["tags"] == ["c"]  # lists are replaced whole
    assert "extends" not in tree
    spec = load(path, ["steps=30", "optim.lr=0.5"])
    call = spec.task.call
    assert call is not None
    assert call.args["steps"] == 30
    assert call.args["optim"].args == {"lr": 0.5}
    assert spec.executor.env == {"A": "1"}


def test_origins_follow_the_winning_value(write_spec: WriteSpec):
    write_base(write_spec)
    path = write_spec("exp.yaml", "nemorun: 1\nextends: [common/base.yaml]\ntask:\n  steps: 20\n")
    composed = compose(path)
    assert composed.origins[("task", "steps")].file == "exp.yaml"
    assert composed.origins[("task", "steps")].line == 4
    layers = composed.origins[("task", "model")]
    assert (layers.file, layers.line) == ("common/base.yaml", 5)
    assert composed.files == [path, (path.parent / "common/base.yaml").resolve()]


def test_errors_point_into_the_file_that_holds_the_mistake(
    write_spec: WriteSpec, load_errors: Callable[..., list[str]]
):
    write_spec("common/base.yaml", BASE.replace("layers", "layres"))
    path = write_spec("exp.yaml", "nemorun: 1\nextends: [common/base.yaml]\ntask:\n  stpes: 1\n")
    assert load_errors(path) == [
        "common/base.yaml:5:27: task.model.layres: unknown argument of ModelConfig; "
        "did you mean 'layers'?",
        "exp.yaml:4:3: task.stpes: unknown argument of train; did you mean 'steps'?",
    ]


def test_paths_in_a_base_are_relative_to_that_base(write_spec: WriteSpec, workdir: Path):
    """Both the bases a base extends and its ``pythonpath`` entries."""
    write_spec("common/lib/mod_in_lib.py", "def f(x: int = 0) -> int:\n    return x\n")
    write_spec(
        "common/root.yaml",
        "nemorun: 1\npythonpath: [lib]\ntask:\n  _target_: mod_in_lib:f\n",
    )
    write_spec("common/mid.yaml", "nemorun: 1\nextends: [root.yaml]\ntask:\n  x: 1\n")
    path = write_spec("deep/exp.yaml", "nemorun: 1\nextends: [../common/mid.yaml]\n")
    spec = load(path)
    assert spec.pythonpath == [(workdir / "common/lib").resolve()]
    assert spec.task.call is not None and spec.task.call.args == {"x": 1}


def test_cycle_is_a_clear_error(write_spec: WriteSpec, load_errors: Callable[..., list[str]]):
    write_spec("a.yaml", "nemorun: 1\nextends: [b.yaml]\n")
    write_spec("b.yaml", "nemorun: 1\nextends: c.yaml\n")
    write_spec("c.yaml", "nemorun: 1\nextends: [a.yaml]\n")
    assert load_errors(Path("a.yaml")) == [
        "c.yaml:2:11: extends[0]: 'extends' forms a cycle: a.yaml → b.yaml → c.yaml → a.yaml; "
        "remove one of the 'extends' entries in the cycle"
    ]


def test_self_extension_is_a_cycle(write_spec: WriteSpec, load_errors: Callable[..., list[str]]):
    write_spec("a.yaml", "nemorun: 1\nextends: [a.yaml]\n")
    (error,) = load_errors(Path("a.yaml"))
    assert "'extends' forms a cycle: a.yaml → a.yaml" in error


def test_missing_base_file(
    write_spec: WriteSpec, load_errors: Callable[..., list[str]], workdir: Path
):
    path = write_spec("exp.yaml", "nemorun: 1\nextends: [nope.yaml]\n")
    assert load_errors(path) == [
        f"exp.yaml:2:11: extends[0]: base spec 'nope.yaml' not found "
        f"(looked for {workdir.resolve() / 'nope.yaml'}); "
        "paths in 'extends' are relative to the file that lists them"
    ]


def test_broken_base_reports_its_own_location(
    write_spec: WriteSpec, load_errors: Callable[..., list[str]]
):
    write_spec("bad.yaml", "nemorun: 1\ntask: {steps: [1\n")
    path = write_spec("exp.yaml", "nemorun: 1\nextends: [bad.yaml]\n")
    (error,) = load_errors(path)
    assert error.startswith("bad.yaml:3:1: YAML syntax error: did not find expected ',' or ']'")


def test_extends_must_be_a_list_of_files(
    write_spec: WriteSpec, load_errors: Callable[..., list[str]]
):
    path = write_spec("exp.yaml", "nemorun: 1\nextends: 3\n")
    assert load_errors(path) == [
        "exp.yaml:2:10: extends: wrong type: expected a list of spec files, "
        "relative to this file, found 3"
    ]


def test_toml_can_extend_yaml(write_spec: WriteSpec):
    write_base(write_spec)
    path = write_spec(
        "exp.toml",
        'nemorun = 1\nextends = ["common/base.yaml"]\n\n[task.model]\nhidden_size = 4\n',
    )
    call = load(path).task.call
    assert call is not None and call.args["model"].args == {"hidden_size": 4, "layers": 2}
