"""Sweep values are checked once each, at their argument's place, not as a whole spec per value.

A bad value at any position of an axis is reported at its own line (or override) with the
message the whole-spec validation of its point gives; the spec is validated whole once (its
first point). Axes whose values may change the task's shape keep the whole-spec path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import nemorun.schemas.spec as spec_module
from nemorun.api import load, resolve
from nemorun.errors import SpecErrors
from nemorun.schemas.convert import Call
from nemorun.schemas.spec import validate_points

WriteSpec = Callable[[str, str], Path]

TRAIN = """\
nemorun: 1
pythonpath: [{examples}]
task:
  _target_: trainlib:train
  model: {hidden_size: 8}
  optim: {lr: 0.1}
  steps: 3
"""

ZOO = """\
nemorun: 1
pythonpath: [{zoo}]
task:
  _target_: values_zoo:%s
"""

# (what, spec text, overrides, the errors, in order)
BAD_VALUES = [
    (
        "the last value of a spec axis",
        TRAIN + "sweep:\n  steps: [1, 2, lots]\n",
        [],
        [
            "exp.yaml:9:17: task.steps: wrong type: expected an integer, found 'lots' (a string)",
        ],
    ),
    (
        "values at positions 1 and 3, one a line",
        TRAIN + "sweep:\n  optim.lr:\n    - 0.1\n    - fast\n    - 0.3\n    - [1]\n",
        [],
        [
            "exp.yaml:11:7: task.optim.lr: wrong type: expected a number, found "
            "'fast' (a string); write it like 0.001 or 1.0e-3",
            "exp.yaml:13:7: task.optim.lr: wrong type: expected a number, found a "
            "list; write it like 0.001 or 1.0e-3",
        ],
    ),
    (
        "a nested dataclass argument, in a flow list",
        TRAIN + "sweep:\n  model.hidden_size: [8, 16, 1.5]\n",
        [],
        [
            "exp.yaml:9:30: task.model.hidden_size: wrong type: expected an integer, "
            "found 1.5 (a number)",
        ],
    ),
    (
        "an enum member misspelled",
        TRAIN + "sweep:\n  model.activation: [relu, gelo]\n",
        [],
        [
            "exp.yaml:9:28: task.model.activation: not a member of Activation: "
            "expected one of 'RELU', 'GELU', 'TANH', found 'gelo' (a string); did "
            "you mean 'GELU'?",
        ],
    ),
    (
        "a Literal",
        TRAIN + "sweep:\n  optim.name: [sgd, adam, rmsprop]\n",
        [],
        [
            "exp.yaml:9:27: task.optim.name: not an allowed value: expected one of "
            "'sgd', 'adam', found 'rmsprop' (a string)",
        ],
    ),
    (
        "a tuple of the wrong length",
        TRAIN + "sweep:\n  optim.betas: [[0.9, 0.99], [0.9]]\n",
        [],
        [
            "exp.yaml:9:30: task.optim.betas: wrong number of items: expected a list "
            "of 2 (a number, a number), found a list of 1",
        ],
    ),
    (
        "an override axis",
        TRAIN,
        ["optim.lr=0.1,x,0.3"],
        [
            "override 1 'optim.lr=0.1,x,0.3': task.optim.lr: wrong type: expected a "
            "number, found 'x' (a string); write it like 0.001 or 1.0e-3",
        ],
    ),
    (
        "two axes of a grid, each with a bad value",
        TRAIN + "sweep:\n  steps: [1, -]\n",
        ["model.hidden_size=4,x"],
        [
            "exp.yaml:9:14: task.steps: wrong type: expected an integer, found '-' (a string)",
            "override 1 'model.hidden_size=4,x': task.model.hidden_size: wrong type: "
            "expected an integer, found 'x' (a string)",
        ],
    ),
    (
        "a bound under a union",
        ZOO % "bounded" + "  workers: 1\nsweep:\n  workers: [2, 0, two]\n",
        [],
        [
            "exp.yaml:7:16: task.workers: out of range: expected at least 1, found 0 (an integer)",
        ],
    ),
    (
        "inside an Optional dataclass",
        ZOO % "newtypes" + "  scaled: {x: 1}\nsweep:\n  scaled.x: [1, 2.5]\n",
        [],
        [
            "exp.yaml:7:17: task.scaled.x: wrong type: expected an integer, found 2.5 (a number)",
        ],
    ),
    (
        "a duration",
        ZOO % "take" + "sweep:\n  interval: [1, '1:00:00', soon]\n",
        [],
        [
            "exp.yaml:6:28: task.interval: matches none of the allowed types: "
            "expected an integer, a mapping with '_target_' naming timedelta or a "
            "subclass or null, found 'soon' (a string)",
        ],
    ),
]


@pytest.fixture
def whole_validations(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """The points validated as a whole spec, in order."""
    seen: list[tuple[int, ...]] = []
    real = spec_module._validate_point

    def counted(resolved: Any, axes: Any, point: tuple[int, ...], *args: Any, **kw: Any) -> Any:
        seen.append(point)
        return real(resolved, axes, point, *args, **kw)

    monkeypatch.setattr(spec_module, "_validate_point", counted)
    return seen


@pytest.mark.parametrize(
    ("text", "overrides", "errors"), [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES]
)
def test_a_bad_sweep_value_is_reported_at_its_own_place(
    write_spec: WriteSpec,
    load_errors: Callable[..., list[str]],
    whole_validations: list[tuple[int, ...]],
    text: str,
    overrides: list[str],
    errors: list[str],
) -> None:
    path = write_spec("exp.yaml", text)
    assert load_errors(path, *overrides) == errors
    assert len(whole_validations) == 1  # the first point only: each other value alone
    whole_validations.clear()
    assert sorted(whole_spec_errors(path, overrides)) == sorted(errors)  # what it used to say


def whole_spec_errors(path: Path, overrides: list[str]) -> Iterator[str]:
    """The errors of each point that moves one axis, validated as a whole spec."""
    resolved = resolve(path, overrides)
    spec_axes = [a for a in resolved.tree.get("sweep", {}).values()]
    lengths = [len(a) for a in spec_axes] + [len(a) for a in resolved.axes]
    seen = set()
    for i, n in enumerate(lengths):
        for j in range(n):
            point = tuple(j if k == i else 0 for k in range(len(lengths)))
            try:
                next(validate_points(resolved, [point]))
            except SpecErrors as exc:
                for error in exc.errors:
                    if error.format() not in seen:
                        seen.add(error.format())
                        yield error.format()


# (what, spec text): values that may change the task's shape keep the whole-spec path
SHAPES = [
    ("a mapping value", TRAIN + "sweep:\n  model: [{hidden_size: 4}, {hidden_size: 8}]\n"),
    ("a swapped target", TRAIN + "sweep:\n  model._target_: [trainlib:ModelConfig, x:y]\n"),
    (
        "a value read by an interpolation",
        TRAIN + "  tag: t${task.steps}\nsweep:\n  steps: [1, 2]\n",
    ),
    ("an item of a list", TRAIN + "sweep:\n  optim.betas.0: [0.9, 0.8]\n"),
]


@pytest.mark.parametrize("text", [c[1] for c in SHAPES], ids=[c[0] for c in SHAPES])
def test_values_that_may_change_the_shape_are_validated_as_whole_specs(
    write_spec: WriteSpec, whole_validations: list[tuple[int, ...]], text: str
) -> None:
    try:
        spec = load(write_spec("exp.yaml", text))
    except SpecErrors:
        spec = None
    assert whole_validations == [(0,), (1,)]
    assert spec is None or spec.axis_values == (None,)


def test_the_converted_values_are_kept_for_the_entry(
    write_spec: WriteSpec, whole_validations: list[tuple[int, ...]]
) -> None:
    spec = load(write_spec("exp.yaml", TRAIN), ["optim.lr=1,2e-3", "model.activation=relu,TANH"])
    assert whole_validations == [(0, 0)]
    lrs, activations = spec.axis_values
    assert lrs == (1.0, 0.002) and all(type(lr) is float for lr in lrs or ())
    assert [a.name for a in activations or ()] == ["RELU", "TANH"]


# --- the place and the whole spec agree, on random axes of the value zoo ----------------------

# (function, its arguments under task:, the swept key, values its hint takes)
ZOO_PLACES = [
    ("take", "", "text", ["", "x", 1.5]),
    ("take", "", "count", [0, 7, -3]),
    ("take", "", "ratio", [0.5, 1, -2.5]),
    ("take", "", "either", ["", 2, 1.5]),
    ("take", "", "interval", [None, 5, "1:00:00", "2 days, 0:00:01.5"]),
    ("take", "", "untyped", [None, "os:getcwd", [1, "a"]]),
    ("take", "", "folder", [".", "a/b", 2024]),
    ("take", "", "warmup", [1, "x", [None]]),  # through **extra
    ("bounded", "", "workers", [1, 8, "auto"]),
    ("limited", "", "n", [None, 0, 3]),
    ("pick", "", "split", ["all", "TRAIN", "train"]),
    ("newtypes", "", "uid", [0, 12]),
    ("newtypes", "scaled: {x: 1}", "scaled.x", [1, 2]),
    ("newtypes", "scaled: {x: 1}", "scaled.scale", [1.0, 2]),
    ("distill", "student: {}\n  teacher: {}", "teacher.hidden", [1, 2]),
    ("read", "data: {size: 1}", "data.size", [1, 2]),
    ("sizes", "", "plain", [[], [1, 2], [3]]),
    ("sizes", "", "s", [[], [[1, 2]]]),
    ("weighted", "", "weights", [None]),
    ("take", "", "text", ["${oc.env:HOME}", "${oc.env:NOPE,x}"]),
    ("take", "", "count", ["${oc.env:NOPE,3}", "${oc.env:NOPE,x}"]),
]

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "",
            "x",
            "0.5",
            "007",
            "1:00:00",
            "RED",
            "TRAIN",
            "train",
            "all",
            "${oc.env:HOME}",
            "os:getcwd",
            "1e3",
            "yes",
            "null",
        ]
    ),
    st.text(max_size=8),
)
VALUES = st.one_of(SCALARS, st.lists(st.one_of(SCALARS, st.lists(SCALARS, max_size=2)), max_size=3))


def _axis(place: tuple[str, str, str, list[Any]]) -> st.SearchStrategy[Any]:
    """The place, and values for it: some its hint takes, any others."""
    values = st.lists(st.one_of(st.sampled_from(place[3]), VALUES), min_size=1, max_size=3)
    return st.tuples(st.just(place), values)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=st.sampled_from(ZOO_PLACES).flatmap(_axis))
def test_a_value_at_its_place_reads_as_in_the_whole_spec(
    write_spec: WriteSpec, case: tuple[tuple[str, str, str, list[Any]], list[Any]]
) -> None:
    (function, args, key, goods), values = case
    good = goods[0]
    lines = "".join(f"\n    - {json.dumps(v)}" for v in [good, *values])
    text = ZOO % function + (f"  {args}\n" if args else "") + f"sweep:\n  {key}:{lines}\n"
    path = write_spec("exp.yaml", text)
    try:
        resolved = resolve(path)
    except SpecErrors:
        event("file refused")
        return  # the file itself is refused: no value is read
    whole_errors: set[str] = set()
    whole_values = []
    for j in range(len(values) + 1):
        try:
            whole_values.append(_at(next(validate_points(resolved, [(j,)])), key))
        except SpecErrors as exc:
            whole_errors.update(e.format() for e in exc.errors)
    try:
        spec = load(path)
    except SpecErrors as exc:
        assert {e.format() for e in exc.errors} == whole_errors
        event("refused")
        return
    assert not whole_errors
    (converted,) = spec.axis_values
    assert converted is not None  # at its place, alone
    assert [_plain(v) for v in converted] == [_plain(v) for v in whole_values]
    event("taken")


def _at(spec: Any, key: str) -> Any:
    node = spec.task.call
    for part in key.split("."):
        node = node.args[part]
    return node


def _plain(value: Any) -> Any:
    """``value`` comparable by ``==``, types included (`Call` compares by identity)."""
    if isinstance(value, Call):
        args = {k: _plain(v) for k, v in value.args.items()}
        return ("call", value.target, args, value.partial)
    if isinstance(value, (list, tuple, set, frozenset)):
        return (type(value).__name__, [_plain(v) for v in value])
    if isinstance(value, dict):
        return ("dict", [(_plain(k), _plain(v)) for k, v in value.items()])
    return (type(value).__name__, repr(value))
