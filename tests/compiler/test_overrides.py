"""Command-line overrides in Hydra's grammar: set, add, force, delete, sweeps, interpolation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nemorun.api import load, resolve
from nemorun.compiler.overrides import OverrideKind, parse_overrides
from nemorun.errors import SpecErrors
from nemorun.schemas.convert import Call, EnvRef
from nemorun.schemas.spec import Spec

WriteSpec = Callable[[str, str], Path]
Errors = Callable[..., list[str]]

SPEC = """
nemorun: 1
name: exp
pythonpath: [{examples}]
task:
  _target_: trainlib:train
  model: {hidden_size: 8}
  optim: {lr: 0.1}
  data: {tags: [a, b]}
  steps: 10
  tag: base
"""


@pytest.fixture
def spec_path(write_spec: WriteSpec) -> Path:
    return write_spec("exp.yaml", SPEC)


def args_of(path: Path, *overrides: str) -> dict[str, Any]:
    call = load(path, overrides).task.call
    assert call is not None
    return call.args


def point_args(spec: Spec, point: tuple[int, ...]) -> dict[str, Any]:
    call = spec.at_point(point).task.call
    assert call is not None
    return call.args


# --- parsing ----------------------------------------------------------------------------------


def test_parse_kinds():
    parsed = parse_overrides(["a=1", "+b=2", "++c=3", "~d", "~e=4", "f=1,2"])
    assert [(o.kind, o.key, o.value) for o in parsed] == [
        (OverrideKind.SET, "a", 1),
        (OverrideKind.ADD, "b", 2),
        (OverrideKind.FORCE, "c", 3),
        (OverrideKind.DELETE, "d", None),
        (OverrideKind.DELETE, "e", 4),
        (OverrideKind.SET, "f", None),
    ]
    assert parsed[3].is_delete() and not parsed[3].has_value
    assert parsed[5].is_sweep() and parsed[5].sweep == (1, 2)
    assert parsed[1].label() == "override 2 '+b=2'"


def test_every_unparsable_override_is_reported():
    with pytest.raises(SpecErrors) as info:
        parse_overrides(["a=#b", "ok=1", "justakey"])
    assert [e.format() for e in info.value.errors] == [
        "override 1 'a=#b': cannot parse: token recognition error at: '#'; if the value is "
        "text, quote it, and the whole override for the shell: \"a='#b'\"",
        "override 3 'justakey': cannot parse: missing EQUAL at '<EOF>'; overrides look like "
        "'key=value'; did you mean 'justakey=…'?",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x=interval(0,1)", "only discrete sweeps can be expanded (interval() cannot)"),
        ("x=shuffle(1,2)", "shuffle() would make the compiled sweep differ from run to run"),
        ("x=glob(*)", "glob() picks Hydra config-group options, which nemorun specs do not have"),
    ],
)
def test_sweeps_that_cannot_be_compiled(text: str, message: str):
    with pytest.raises(SpecErrors) as info:
        parse_overrides([text])
    (error,) = info.value.errors
    assert error.format().startswith(f"override 1 '{text}': {message}; ")


# --- setting values ---------------------------------------------------------------------------


def test_set_nested_and_typed_by_the_schema(spec_path: Path):
    args = args_of(spec_path, "optim.lr=1e-3", "task.tag=007", "model.layers=3")
    assert args["optim"].args["lr"] == 0.001
    assert args["tag"] == "007"  # the text typed, as the annotation is str
    assert args["model"].args == {"hidden_size": 8, "layers": 3}


def test_first_segment_not_top_level_goes_under_task(spec_path: Path):
    tree = resolve(spec_path, ["steps=3", "task.seed=4", "name=renamed"]).tree
    assert tree["task"]["steps"] == 3 and tree["task"]["seed"] == 4
    assert tree["name"] == "renamed"  # a top-level key stays top-level


def test_list_index(spec_path: Path):
    assert args_of(spec_path, "task.data.tags.0=x")["data"].args["tags"] == ["x", "b"]


def test_list_index_out_of_range(spec_path: Path, load_errors: Errors):
    assert load_errors(spec_path, "data.tags.5=x") == [
        "override 1 'data.tags.5=x': task.data.tags[5]: list index out of range "
        "(the list has 2 items)"
    ]


def test_dict_value_merges_and_list_value_replaces(spec_path: Path):
    args = args_of(spec_path, "model={layers: 4}", "data.tags=[c]")
    assert args["model"].args == {"hidden_size": 8, "layers": 4}
    assert args["data"].args["tags"] == ["c"]


def test_executor_override(spec_path: Path):
    assert load(spec_path, ["executor.nodes=2"]).executor.nodes == 2


def test_add_new_key_and_refuse_existing(spec_path: Path, load_errors: Errors):
    assert args_of(spec_path, "+seed=5")["seed"] == 5
    assert load_errors(spec_path, "+steps=5") == [
        "override 1 '+steps=5': task.steps: already set (set at exp.yaml:9); "
        "'+' only adds new keys; write 'steps=5' to change it"
    ]


def test_force_sets_whether_or_not_present(spec_path: Path):
    args = args_of(spec_path, "++steps=5", "++seed=6")
    assert (args["steps"], args["seed"]) == (5, 6)


def test_delete_falls_back_to_the_default(spec_path: Path):
    args = args_of(spec_path, "~tag")
    assert "tag" not in args  # train's own default applies where the job runs


def test_delete_with_value_only_when_it_matches(spec_path: Path, load_errors: Errors):
    assert "steps" not in args_of(spec_path, "~steps=10")
    assert load_errors(spec_path, "~steps=11") == [
        "override 1 '~steps=11': task.steps: not deleted: the current value differs: "
        "expected 11, found 10"
    ]


def test_delete_of_a_missing_key(spec_path: Path, load_errors: Errors):
    assert load_errors(spec_path, "~stesp") == [
        "override 1 '~stesp': task.stesp: nothing to delete: the key is not set; "
        "did you mean 'steps'?"
    ]


def test_deleting_a_required_argument_is_then_reported(spec_path: Path, load_errors: Errors):
    assert load_errors(spec_path, "~optim") == [
        "exp.yaml:4:1: task: missing required argument 'optim' of train; add 'optim: {...}'"
    ]


# --- errors name the override -----------------------------------------------------------------


def test_validation_error_names_the_override(spec_path: Path, load_errors: Errors):
    assert load_errors(spec_path, "steps=3", "model.hiden_size=3", "optim.lr=fast") == [
        "override 2 'model.hiden_size=3': task.model.hiden_size: unknown argument of "
        "ModelConfig; did you mean 'hidden_size'?",
        "override 3 'optim.lr=fast': task.optim.lr: wrong type: expected a number, "
        "found 'fast' (a string); write it like 0.001 or 1.0e-3",
    ]


def test_override_inside_a_value_that_is_not_a_mapping(spec_path: Path, load_errors: Errors):
    assert load_errors(spec_path, "steps.x=1") == [
        "override 1 'steps.x=1': task.steps: cannot set a key inside a value that is not a "
        "mapping: found 10"
    ]


# --- several tasks ----------------------------------------------------------------------------

TASKS = """
nemorun: 1
pythonpath: [{examples}]
tasks:
  prep:
    task: {command: "echo hi"}
  train:
    task:
      _target_: trainlib:train
      model: {}
      optim: {}
    after: [prep]
"""


def test_with_tasks_the_task_name_is_in_the_path(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("multi.yaml", TASKS)
    for override in ("tasks.train.steps=4", "tasks.train.task.steps=4"):
        call = load(path, [override]).tasks["train"].call
        assert call is not None and call.args["steps"] == 4, override
    assert load_errors(path, "steps=4") == [
        "override 1 'steps=4': this spec has several tasks: say which one; "
        "write 'tasks.<name>.steps' (tasks: prep, train)"
    ]
    assert load_errors(path, "tasks.train.stepz=4") == [
        "override 1 'tasks.train.stepz=4': tasks.train.task.stepz: unknown argument of train; "
        "did you mean 'steps'?"
    ]


def test_spec_sweep_in_a_multi_task_spec_names_the_task(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("multi.yaml", TASKS + "sweep:\n  steps: [1, 2]\n")
    assert load_errors(path) == [
        "multi.yaml:13:3: sweep.steps: this spec has several tasks: say which one; "
        "write 'tasks.<name>.steps' (tasks: prep, train)"
    ]
    for key in ("tasks.train.task.steps", "tasks.train.steps"):
        path = write_spec("multi.yaml", TASKS + f"sweep:\n  {key}: [1, 2]\n")
        spec = load(path)
        assert [a.path for a in spec.axes] == [("tasks", "train", "task", "steps")]


# --- sweeps -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "values"),
    [
        ("steps=1,2,3", (1, 2, 3)),
        ("steps=range(1,4)", (1, 2, 3)),
        ("steps=choice(5,6)", (5, 6)),
        ("steps=sort(3,1,2)", (1, 2, 3)),
    ],
)
def test_sweeps_become_axes(spec_path: Path, override: str, values: tuple[int, ...]):
    spec = load(spec_path, [override])
    (axis,) = spec.axes
    assert axis.path == ("task", "steps") and axis.values == values and axis.source == override
    assert spec.num_points() == len(values)
    assert [point_args(spec, p)["steps"] for p in spec.points()] == list(values)


def test_sweep_values_keep_their_text_for_strings(spec_path: Path):
    spec = load(spec_path, ["tag=007,1.50,x"])
    assert [point_args(spec, p)["tag"] for p in spec.points()] == ["007", "1.50", "x"]


def test_every_bad_sweep_value_is_reported(spec_path: Path, load_errors: Errors):
    assert load_errors(spec_path, "steps=1,many,lots") == [
        "override 1 'steps=1,many,lots': task.steps: wrong type: expected an integer, "
        "found 'many' (a string)",
        "override 1 'steps=1,many,lots': task.steps: wrong type: expected an integer, "
        "found 'lots' (a string)",
    ]


def test_override_sweeps_combine_with_spec_sweeps(write_spec: WriteSpec):
    path = write_spec("exp.yaml", SPEC + "sweep:\n  seed: [1, 2]\n")
    spec = load(path, ["steps=1,2,3"])
    assert [a.path for a in spec.axes] == [("task", "seed"), ("task", "steps")]
    assert spec.num_points() == 6


# --- interpolation ----------------------------------------------------------------------------


def test_interpolation_resolves_after_overrides(write_spec: WriteSpec):
    path = write_spec("exp.yaml", SPEC + "  seed: ${task.steps}\n  log_every: ${task.steps}\n")
    args = args_of(path, "steps=4")
    assert (args["seed"], args["log_every"]) == (4, 4)


def test_interpolation_to_a_missing_key(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", SPEC + "  seed: ${task.stpes}\n")
    assert load_errors(path) == [
        "exp.yaml:11:9: task.seed: cannot resolve interpolation '${task.stpes}': "
        "Interpolation key 'task.stpes' not found; did you mean 'task.steps'?"
    ]


def test_malformed_interpolation_is_located(write_spec: WriteSpec, load_errors: Errors):
    path = write_spec("exp.yaml", SPEC.replace("tag: base", "tag: ${task.steps"))
    assert load_errors(path) == [
        "exp.yaml:10:8: task.tag: malformed interpolation in '${task.steps': no viable "
        "alternative at input '${task.steps'; close it with '}', or write '\\${' for a "
        "literal '${'"
    ]


def test_escaped_interpolation_is_literal_text(write_spec: WriteSpec):
    path = write_spec("exp.yaml", SPEC.replace("tag: base", "tag: '\\${task.steps}'"))
    assert args_of(path)["tag"] == "${task.steps}"


def test_env_reference_is_never_resolved(
    spec_path: Path, monkeypatch: pytest.MonkeyPatch, load_errors: Errors
):
    monkeypatch.setenv("NR_STEPS", "12")
    args = args_of(spec_path, "steps=${oc.env:NR_STEPS,3}", "tag=${oc.env:NR_TAG}")
    assert args["steps"] == EnvRef("${oc.env:NR_STEPS,3}", int)
    assert args["tag"] == EnvRef("${oc.env:NR_TAG}", str)
    assert load_errors(spec_path, "steps=${oc.env:NR_STEPS,lots}") == [
        "override 1 'steps=${oc.env:NR_STEPS,lots}': task.steps: the default of "
        "'${oc.env:NR_STEPS,lots}' does not fit: expected an integer, found 'lots'; "
        "the job gets this default when NR_STEPS is not set"
    ]


def test_interpolating_an_env_reference_copies_the_reference(write_spec: WriteSpec):
    path = write_spec("exp.yaml", SPEC + "  seed: ${oc.env:NR_SEED,1}\n  log_every: ${task.seed}\n")
    args = args_of(path)
    assert args["log_every"] == EnvRef("${oc.env:NR_SEED,1}", int)


def test_overriding_a_shared_node_changes_every_path_that_shares_it(write_spec: WriteSpec):
    path = write_spec(
        "exp.yaml",
        """
        nemorun: 1
        pythonpath: [{zoo}]
        task:
          _target_: zoo_types:Zoo
          outer: &shared {scale: 1}
          backup: *shared
        """,
    )
    call = load(path, ["outer.scale=3"]).task.call
    assert call is not None
    assert isinstance(call.args["backup"], Call) and call.args["backup"] is call.args["outer"]
    assert call.args["backup"].args["scale"] == 3.0
