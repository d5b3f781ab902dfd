"""Validation: every mistake in a spec found in one pass, each located and with a likely fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nemorun.api import load
from nemorun.schemas.convert import Call

WriteSpec = Callable[[str, str], Path]
Errors = Callable[..., list[str]]

HEAD = "nemorun: 1\npythonpath: [{examples}]\n"


def test_a_good_spec_validates(write_spec: WriteSpec):
    path = write_spec(
        "exp.yaml",
        HEAD
        + """task:
  _target_: trainlib:train
  model: {hidden_size: 3, activation: TANH}
  optim: {name: adam, lr: 1e-3, betas: [0.9, 0.99]}
  steps: 5
""",
    )
    spec = load(path)
    call = spec.task.call
    assert call is not None and spec.single_task and spec.target == "local"
    assert call.partial  # the task is a partial the job calls
    assert call.args["optim"].args == {"name": "adam", "lr": 0.001, "betas": (0.9, 0.99)}


def test_missing_required_argument(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml", HEAD + "task:\n  _target_: trainlib:train\n  model: {hidden_size: 3}\n"
    )
    assert load_errors(path) == [
        "exp.yaml:3:1: task: missing required argument 'optim' of train; add 'optim: {...}'"
    ]


def test_unknown_key_is_located_with_a_suggestion(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml",
        HEAD
        + """task:
  _target_: trainlib:train
  model:
    hiden_size: 3
  optim: {lr: 0.1}
""",
    )
    assert load_errors(path) == [
        "exp.yaml:6:5: task.model.hiden_size: unknown argument of ModelConfig; "
        "did you mean 'hidden_size'?"
    ]


def test_every_mistake_is_reported_in_file_order(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml",
        HEAD
        + """task:
  _target_: trainlib:train
  model: {hidden_size: big, activation: gelo}
  optim: {name: adamw, lr: 0.1}
  steps: 1.5
executor:
  nodse: 2
""",
    )
    assert load_errors(path) == [
        "exp.yaml:5:24: task.model.hidden_size: wrong type: expected an integer, "
        "found 'big' (a string)",
        "exp.yaml:5:41: task.model.activation: not a member of Activation: "
        "expected one of 'RELU', 'GELU', 'TANH', found 'gelo' (a string); did you mean 'GELU'?",
        "exp.yaml:6:17: task.optim.name: not an allowed value: expected one of 'sgd', 'adam', "
        "found 'adamw' (a string); did you mean 'adam'?",
        "exp.yaml:7:10: task.steps: wrong type: expected an integer, found 1.5 (a number)",
        "exp.yaml:9:3: executor.nodse: unknown argument of LocalOptions; did you mean 'nodes'?",
    ]


# --- targets that do not import ---------------------------------------------------------------


def test_target_module_missing(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", "nemorun: 1\ntask:\n  _target_: no_such_module_xyz:train\n")
    assert load_errors(path) == [
        "exp.yaml:3:13: task._target_: cannot import module 'no_such_module_xyz'; check the "
        "spelling, or make 'no_such_module_xyz' importable: run from the directory that holds "
        "it, list that directory under 'pythonpath:', or set PYTHONPATH"
    ]


def test_target_attribute_missing_suggests_the_name(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", HEAD + "task:\n  _target_: trainlib:trian\n")
    assert load_errors(path) == [
        "exp.yaml:4:13: task._target_: module 'trainlib' has no attribute 'trian'; "
        "did you mean 'trainlib:train'?"
    ]


def test_target_without_a_module(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", "nemorun: 1\ntask:\n  _target_: train\n")
    assert load_errors(path) == [
        "exp.yaml:3:13: task._target_: 'train' names no module; write it as 'module:train' "
        "(for example 'mypkg.train:train')"
    ]


def test_module_that_raises_on_import(write_spec: WriteSpec, load_errors: Errors):
    write_spec("raises_on_import.py", "x = 1\n\nraise RuntimeError('no GPU here')\n")
    path = write_spec(
        "exp.yaml", "nemorun: 1\npythonpath: [.]\ntask:\n  _target_: raises_on_import:f\n"
    )
    assert load_errors(path) == [
        "exp.yaml:4:13: task._target_: importing 'raises_on_import' raised RuntimeError: "
        "no GPU here (at raises_on_import.py:3)"
    ]


def test_module_with_a_missing_dependency(write_spec: WriteSpec, load_errors: Errors):
    write_spec("needs_dep.py", "import not_installed_dep_xyz\n")
    path = write_spec("exp.yaml", "nemorun: 1\ntask:\n  _target_: needs_dep:f\n")
    assert load_errors(path) == [
        "exp.yaml:3:13: task._target_: importing 'needs_dep' failed: No module named "
        "'not_installed_dep_xyz' (at needs_dep.py:1); install 'not_installed_dep_xyz' in "
        "this environment"
    ]


def test_module_with_a_syntax_error(write_spec: WriteSpec, load_errors: Errors):
    write_spec("broken_syntax.py", "def f(:\n    pass\n")
    path = write_spec("exp.yaml", "nemorun: 1\ntask:\n  _target_: broken_syntax:f\n")
    (error,) = load_errors(path)
    assert error.startswith(
        "exp.yaml:3:13: task._target_: importing 'broken_syntax' failed: "
        "syntax error at broken_syntax.py:1: "
    )


# --- the spec's own keys ----------------------------------------------------------------------


def test_missing_version_key(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", "task:\n  _target_: trainlib:train\n")
    assert load_errors(path) == [
        "exp.yaml:1:1: missing 'nemorun:' key (the spec format version); "
        "add 'nemorun: 1' as the first line"
    ]


def test_missing_version_key_in_toml_uses_toml_syntax(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.toml", '[task]\n_target_ = "trainlib:train"\n')
    assert load_errors(path) == [
        "exp.toml:1:1: missing 'nemorun:' key (the spec format version); "
        "add 'nemorun = 1' as the first line"
    ]


def test_future_version(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", "nemorun: 99\ntask: {}\n")
    assert load_errors(path) == [
        "exp.yaml:1:10: nemorun: spec format 99 is newer than this nemorun understands "
        "(formats 0 to 1); upgrade nemorun ('pip install -U nemorun') to read it"
    ]


def test_version_that_is_not_a_number(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", "nemorun: one\n")
    assert load_errors(path) == [
        "exp.yaml:1:10: nemorun: the spec format version must be a whole number: "
        "expected 1, found 'one'"
    ]


def test_empty_file(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", "# nothing yet\n")
    assert load_errors(path) == [
        "exp.yaml: a spec must be a mapping of keys: expected a mapping starting with "
        "'nemorun: 1', found empty file"
    ]


def test_nemo_run_yaml_asks_for_migrate(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "old.yaml",
        """
        _target_: trainlib.train
        _partial_: true
        model:
          _target_: trainlib.ModelConfig
          hidden_size: 3
        """,
    )
    assert load_errors(path) == [
        "old.yaml:1:1: this looks like a NeMo-Run YAML file (spec format 0), not a nemorun "
        "spec; convert it once with 'nemorun migrate old.yaml --in-place'"
    ]


def test_unknown_top_level_key(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml", HEAD + "nmae: x\ntask:\n  _target_: trainlib:train\n  _partial_: true\n"
    )
    assert load_errors(path) == [
        "exp.yaml:3:1: nmae: unknown top-level key: expected one of nemorun, name, description, "
        "extends, task, tasks, executor, launcher, sweep, packager, pythonpath, templates, "
        "tracking; "
        "did you mean 'name'?"
    ]


def test_task_argument_at_top_level_says_where_it_goes(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml", HEAD + "steps: 3\ntask:\n  _target_: trainlib:train\n  _partial_: true\n"
    )
    assert load_errors(path) == [
        "exp.yaml:3:1: steps: unknown top-level key: expected one of nemorun, name, "
        "description, extends, task, tasks, executor, launcher, sweep, packager, pythonpath, "
        "templates, tracking; "
        "'steps' is an argument of the task: move it under 'task:'"
    ]


def test_executor_options_are_validated(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml",
        HEAD
        + "task:\n  _target_: trainlib:train\n  _partial_: true\n"
        + "executor:\n  target: slurn\n",
    )
    assert load_errors(path) == [
        "exp.yaml:7:11: executor.target: unknown target: expected one of local, slurm, docker, "
        "skypilot, ray, kubernetes, found 'slurn'; did you mean 'slurm'?"
    ]


# --- several tasks ----------------------------------------------------------------------------


def test_tasks_entries_are_checked(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml",
        """
        nemorun: 1
        tasks:
          prep:
            task: {command: "echo hi"}
            afterr: []
          train:
            task: {script: train.py}
            after: [prepp]
        """,
    )
    assert load_errors(path) == [
        "exp.yaml:5:5: tasks.prep.afterr: unknown key of a task entry: "
        "expected task, executor, after or singleton; did you mean 'after'?",
        "exp.yaml:8:13: tasks.train.after[0]: no task named 'prepp'; did you mean 'prep'?",
    ]


# --- sharing ----------------------------------------------------------------------------------


def test_yaml_alias_validates_to_one_shared_call(write_spec: WriteSpec):
    path = write_spec(
        "exp.yaml",
        """
        nemorun: 1
        pythonpath: [{zoo}]
        task:
          _target_: zoo_types:Zoo
          outer: &shared
            inner: {size: 3}
            scale: 2
          backup: *shared
        """,
    )
    spec = load(path)
    call = spec.task.call
    assert call is not None
    outer, backup = call.args["outer"], call.args["backup"]
    assert isinstance(outer, Call) and outer is backup
    assert outer.args["scale"] == 2.0


def test_error_inside_a_shared_node_is_reported_once(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml",
        """
        nemorun: 1
        pythonpath: [{zoo}]
        task:
          _target_: zoo_types:Zoo
          outer: &shared {scale: x}
          backup: *shared
        """,
    )
    assert load_errors(path) == [
        "exp.yaml:5:26: task.outer.scale: wrong type: expected a number, found 'x' (a string); "
        "write it like 0.001 or 1.0e-3"
    ]


# --- sweeps in the spec -----------------------------------------------------------------------


def test_spec_sweep_becomes_axes(write_spec: WriteSpec):
    path = write_spec(
        "exp.yaml",
        HEAD
        + """task:
  _target_: trainlib:train
  model: {}
  optim: {}
sweep:
  optim.lr: [1e-4, 1e-3]
  tag: [007, x]
""",
    )
    spec = load(path)
    assert [(a.path, a.values) for a in spec.axes] == [
        (("task", "optim", "lr"), (0.0001, 0.001)),  # as YAML 1.2 reads them
        (("task", "tag"), (7, "x")),
    ]
    points = [spec.at_point(p) for p in spec.points()]
    assert len(points) == 4
    lrs = [p.task.call.args["optim"].args["lr"] for p in points if p.task.call]
    assert lrs == [0.0001, 0.0001, 0.001, 0.001]
    assert [p.task.call.args["tag"] for p in points if p.task.call][:2] == ["007", "x"]


def test_bad_sweep_value_points_at_the_value(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec(
        "exp.yaml",
        HEAD
        + """task:
  _target_: trainlib:train
  model: {}
  optim: {}
sweep:
  steps: [1, 2, lots]
""",
    )
    assert load_errors(path) == [
        "exp.yaml:8:17: task.steps: wrong type: expected an integer, found 'lots' (a string)"
    ]


@pytest.mark.parametrize("sweep", ["steps: []", "steps: 3"])
def test_sweep_axis_needs_values(write_spec: WriteSpec, load_errors: Errors, sweep: str):
    path = write_spec(
        "exp.yaml",
        HEAD + "task:\n  _target_: trainlib:train\n  _partial_: true\nsweep:\n  " + sweep + "\n",
    )
    (error,) = load_errors(path)
    assert error.startswith("exp.yaml:7:10: sweep.steps: a sweep axis needs a non-empty list")
    assert error.endswith("; write 'steps: [value1, value2]'")
