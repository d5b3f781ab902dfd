"""Values are converted to what the task's type hints promise, or refused with a located error.

Every spec here calls `zoo_types.Zoo` (one field per kind of annotation) or a function of
`zoo_types`, loaded the way a user's code is: through ``pythonpath:``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zoo_types

from nemorun.api import load
from nemorun.schemas.convert import Call, EnvRef

HEAD = """\
nemorun: 1
pythonpath: [{zoo}]
task:
  _target_: zoo_types:Zoo
"""


@pytest.fixture
def zoo(write_spec: Callable[[str, str], Path]) -> Callable[..., dict[str, Any]]:
    """``zoo("  count: 3\\n")`` → the validated arguments of ``Zoo``."""

    def run(body: str, *overrides: str) -> dict[str, Any]:
        path = write_spec("zoo.yaml", HEAD + body)
        call = load(path, overrides).task.call
        assert call is not None
        return call.args

    return run


@pytest.fixture
def zoo_errors(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
) -> Callable[..., list[str]]:
    def run(body: str, *overrides: str) -> list[str]:
        return load_errors(write_spec("zoo.yaml", HEAD + body), *overrides)

    return run


# --- scalars ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "expected"),
    [
        ("count: 3", "count", 3),
        ("rate: 3", "rate", 3.0),  # int → float
        ("rate: 1e-3", "rate", 0.001),  # PyYAML reads 1e-3 as a string; it is a number
        ("rate: 2.5e+2", "rate", 250.0),
        ("tag: 007", "tag", "007"),  # as typed, not the int 7
        ("tag: no", "tag", "no"),  # as typed, not YAML 1.1's False
        ("tag: 1.50", "tag", "1.50"),
        ("tag: '007'", "tag", "007"),
        ("flag: true", "flag", True),
        ("where: data/train", "where", Path("data/train")),
        ("maybe: null", "maybe", None),
        ("maybe: 4", "maybe", 4),
        ("anything: {a: [1, {b: 2}]}", "anything", {"a": [1, {"b": 2}]}),
    ],
)
def test_scalar_conversions(
    zoo: Callable[..., dict[str, Any]], line: str, name: str, expected: Any
):
    value = zoo(f"  {line}\n")[name]
    assert value == expected
    assert type(value) is type(expected)


def test_float_field_converts_int_exactly(zoo: Callable[..., dict[str, Any]]):
    assert isinstance(zoo("  rate: 2\n")["rate"], float)


def test_quoted_number_for_a_number_is_refused_with_the_fix(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  rate: '1e-3'\n") == [
        "zoo.yaml:5:9: task.rate: wrong type: expected a number, found '1e-3' (a string); "
        "remove the quotes: 1e-3"
    ]
    assert zoo_errors("  count: '12'\n") == [
        "zoo.yaml:5:10: task.count: wrong type: expected an integer, found '12' (a string); "
        "remove the quotes: 12"
    ]


def test_float_for_an_int_suggests_the_whole_number(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  count: 3.0\n") == [
        "zoo.yaml:5:10: task.count: wrong type: expected an integer, found 3.0 (a number); write 3"
    ]


def test_null_for_a_string_is_an_error_not_the_text_null(zoo_errors: Callable[..., list[str]]):
    (error,) = zoo_errors("  tag: null\n")
    assert error.startswith("zoo.yaml:5:8: task.tag: wrong type: expected a string, found null")


@pytest.mark.parametrize(
    ("line", "found"), [("flag: 1", "1 (an integer)"), ("flag: 'yes'", "'yes'")]
)
def test_bool_accepts_only_booleans(zoo_errors: Callable[..., list[str]], line: str, found: str):
    (error,) = zoo_errors(f"  {line}\n")
    assert error.startswith("zoo.yaml:5:9: task.flag: wrong type: expected true or false, found ")
    assert found in error


def test_path_takes_a_plain_number_as_typed_and_refuses_other_values(
    zoo: Callable[..., dict[str, Any]], zoo_errors: Callable[..., list[str]]
):
    """Like a `str`: ``where: 2024`` names a directory ``2024`` (``1e3`` stays ``1e3``)."""
    assert zoo("  where: 2024\n")["where"] == Path("2024")
    assert zoo("  where: 1e3\n")["where"] == Path("1e3")
    assert zoo_errors("  where: true\n") == [
        "zoo.yaml:5:10: task.where: wrong type: expected a path string, found true (a boolean)"
    ]


# --- enums and literals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "member"),
    [
        ("color: GREEN", zoo_types.Color.GREEN),  # by name
        ("color: green", zoo_types.Color.GREEN),  # by value
        ("color: 3", zoo_types.Color.BLUE),  # by a non-string value
        ("swapped: UP", zoo_types.Swapped.UP),  # a name wins over another member's value
        ("swapped: DOWN", zoo_types.Swapped.DOWN),
    ],
)
def test_enum_by_name_or_unambiguous_value(
    zoo: Callable[..., dict[str, Any]], line: str, member: Any
):
    name = line.split(":")[0]
    assert zoo(f"  {line}\n")[name] is member


def test_bad_enum_value_suggests_the_member_name(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  color: gren\n") == [
        "zoo.yaml:5:10: task.color: not a member of Color: expected one of 'RED', 'GREEN', "
        "'BLUE', found 'gren' (a string); did you mean 'GREEN'?"
    ]


def test_literal_values(zoo: Callable[..., dict[str, Any]]):
    assert zoo("  mode: slow\n")["mode"] == "slow"
    assert zoo("  mode: 3\n")["mode"] == 3


def test_bad_literal_value_lists_choices_and_suggests(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  mode: fsat\n") == [
        "zoo.yaml:5:9: task.mode: not an allowed value: expected one of 'fast', 'slow', 3, "
        "found 'fsat' (a string); did you mean 'fast'?"
    ]


def test_literal_int_is_not_matched_by_a_quoted_string(zoo_errors: Callable[..., list[str]]):
    (error,) = zoo_errors("  mode: '3'\n")
    assert "not an allowed value" in error and "found '3' (a string)" in error


# --- unions -----------------------------------------------------------------------------------


def test_union_first_alternative_that_accepts_wins(zoo: Callable[..., dict[str, Any]]):
    assert zoo("  either: 3\n")["either"] == 3
    assert zoo("  either: abc\n")["either"] == "abc"
    assert zoo("  either: null\n")["either"] is None
    sized = zoo("  sized: {size: 4}\n")["sized"]
    assert isinstance(sized, Call) and sized.target is zoo_types.Inner and sized.args == {"size": 4}


def test_union_error_lists_every_alternative(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  either: [1]\n") == [
        "zoo.yaml:5:11: task.either: matches none of the allowed types: "
        "expected a string, an integer or null, found a list"
    ]


def test_union_error_points_at_the_mistake_inside_the_one_alternative_meant(
    zoo_errors: Callable[..., list[str]],
):
    assert zoo_errors("  sized: {siz: 4}\n") == [
        "zoo.yaml:5:11: task.sized.siz: unknown argument of Inner; did you mean 'size'?"
    ]


def test_optional_reports_the_inner_types_own_error(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  maybe: x\n") == [
        "zoo.yaml:5:10: task.maybe: wrong type: expected an integer, found 'x' (a string)"
    ]


# --- containers -------------------------------------------------------------------------------


def test_containers_convert(zoo: Callable[..., dict[str, Any]]):
    args = zoo(
        "  numbers: [1, 2]\n"
        "  varied: [1, 2, 3]\n"
        "  pair: [1, a]\n"
        "  table: {a: 1, b: 2.5}\n"
        "  unique: [3, 1, 3]\n"
    )
    assert args["numbers"] == [1, 2]
    assert args["varied"] == (1, 2, 3)
    assert args["pair"] == (1, "a")
    assert args["table"] == {"a": 1.0, "b": 2.5}
    assert all(isinstance(v, float) for v in args["table"].values())
    assert args["unique"] == {1, 3}


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (
            "numbers: [1, x]",
            "zoo.yaml:5:16: task.numbers[1]: wrong type: expected an integer, found 'x' (a string)",
        ),
        (
            "varied: 3",
            "zoo.yaml:5:11: task.varied: wrong type: expected a list of integers, "
            "found 3 (an integer)",
        ),
        (
            "pair: [1]",
            "zoo.yaml:5:9: task.pair: wrong number of items: "
            "expected a list of 2 (an integer, a string), found a list of 1",
        ),
        (
            "pair: [1, b, c]",
            "zoo.yaml:5:9: task.pair: wrong number of items: "
            "expected a list of 2 (an integer, a string), found a list of 3",
        ),
        (
            "table: {a: 1, b: x}",
            "zoo.yaml:5:20: task.table.b: wrong type: expected a number, found 'x' (a string); "
            "write it like 0.001 or 1.0e-3",
        ),
        (
            "table: [1]",
            "zoo.yaml:5:10: task.table: wrong type: expected a mapping of names to numbers, "
            "found a list",
        ),
        (
            "unique: [1, x]",
            "zoo.yaml:5:15: task.unique[1]: wrong type: expected an integer, found 'x' (a string)",
        ),
    ],
)
def test_container_errors_point_at_the_item(
    zoo_errors: Callable[..., list[str]], line: str, error: str
):
    assert zoo_errors(f"  {line}\n") == [error]


# --- structured values ------------------------------------------------------------------------


def test_nested_dataclasses_become_calls(zoo: Callable[..., dict[str, Any]]):
    outer = zoo("  outer: {inner: {size: 3}, scale: 2}\n")["outer"]
    assert isinstance(outer, Call)
    assert outer.target is zoo_types.Outer and not outer.explicit_target
    assert outer.args["scale"] == 2.0
    inner = outer.args["inner"]
    assert inner.target is zoo_types.Inner and inner.args == {"size": 3}
    assert inner.path == ("task", "outer", "inner")


def test_nested_unknown_key_is_located(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  outer:\n    inner:\n      siz: 3\n") == [
        "zoo.yaml:7:7: task.outer.inner.siz: unknown argument of Inner; did you mean 'size'?"
    ]


def test_class_with_typed_init(zoo: Callable[..., dict[str, Any]]):
    tok = zoo("  tokenizer: {vocab: 100}\n")["tokenizer"]
    assert tok.target is zoo_types.Tokenizer and tok.args == {"vocab": 100}


def test_class_with_typed_init_checks_required_and_types(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  tokenizer: {lowercase: 1}\n") == [
        "zoo.yaml:5:3: task.tokenizer: missing required argument 'vocab' of Tokenizer; "
        "add 'vocab: 1'",
        "zoo.yaml:5:26: task.tokenizer.lowercase: wrong type: expected true or false, "
        "found 1 (an integer)",
    ]


def test_required_field_of_nested_dataclass(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  named: {size: 3}\n") == [
        "zoo.yaml:5:3: task.named: missing required argument 'name' of NeedsName; add 'name: text'"
    ]


def test_explicit_target_names_a_subclass(zoo: Callable[..., dict[str, Any]]):
    base = zoo("  base: {_target_: zoo_types:Wide, width: 4, extra: 2}\n")["base"]
    assert base.target is zoo_types.Wide and base.explicit_target
    assert base.args == {"width": 4, "extra": 2}


def test_explicit_target_that_is_not_a_subclass(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  base: {_target_: zoo_types:Unrelated}\n") == [
        "zoo.yaml:5:20: task.base._target_: 'zoo_types:Unrelated' is not a subclass of Base: "
        "expected Base or a subclass of it"
    ]


def test_callable_by_reference(zoo: Callable[..., dict[str, Any]]):
    assert zoo("  fn: math:sqrt\n")["fn"] is math.sqrt
    assert zoo("  fn: zoo_types:double\n")["fn"] is zoo_types.double
    assert zoo("  fn: zoo_types.double\n")["fn"] is zoo_types.double  # dotted form too


def test_callable_errors(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  fn: 3\n") == [
        "zoo.yaml:5:7: task.fn: wrong type: expected a 'module:name' reference to a callable, "
        "found 3 (an integer)"
    ]
    assert zoo_errors("  fn: zoo_types:doubel\n") == [
        "zoo.yaml:5:7: task.fn: module 'zoo_types' has no attribute 'doubel'; "
        "did you mean 'zoo_types:double'?"
    ]


def test_any_with_a_target_is_a_call(zoo: Callable[..., dict[str, Any]]):
    value = zoo("  anything: {_target_: zoo_types:Inner, size: 2}\n")["anything"]
    assert isinstance(value, Call) and value.target is zoo_types.Inner and value.explicit_target


def test_defaults_are_not_filled_in(zoo: Callable[..., dict[str, Any]]):
    """Only what the spec says is recorded; the callable's defaults apply where it runs."""
    assert zoo("  count: 1\n") == {"count": 1}


def test_kwargs_accept_new_names_typed_by_their_annotation(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
):
    body = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: zoo_types:with_kwargs\n"
    path = write_spec("kw.yaml", body + "  size: 2\n  extra: 3\n")
    call = load(path).task.call
    assert call is not None and call.args == {"size": 2, "extra": 3}
    bad = write_spec("kw.yaml", body + "  extra: x\n")
    assert load_errors(bad) == [
        "kw.yaml:5:10: task.extra: wrong type: expected an integer, found 'x' (a string)"
    ]


def test_required_task_arguments(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
):
    body = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: zoo_types:with_required\n"
    assert load_errors(write_spec("req.yaml", body)) == [
        "req.yaml:3:1: task: missing required argument 'model' of with_required; "
        "add 'model: {...}'",
        "req.yaml:3:1: task: missing required argument 'steps' of with_required; add 'steps: 1'",
    ]
    # An explicit _partial_ says the caller supplies the rest.
    partial = write_spec("req.yaml", body + "  _partial_: true\n")
    call = load(partial).task.call
    assert call is not None and call.partial and call.args == {}


# --- environment references -------------------------------------------------------------------


def test_env_reference_is_never_resolved_at_compile_time(
    zoo: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("ZOO_COUNT", "99")
    value = zoo("  count: ${oc.env:ZOO_COUNT,5}\n")["count"]
    assert value == EnvRef("${oc.env:ZOO_COUNT,5}", int)
    assert value.variables() == ["ZOO_COUNT"]


def test_env_reference_default_is_checked_against_the_annotation(
    zoo_errors: Callable[..., list[str]],
):
    assert zoo_errors("  count: ${oc.env:ZOO_COUNT,many}\n") == [
        "zoo.yaml:5:10: task.count: the default of '${oc.env:ZOO_COUNT,many}' does not fit: "
        "expected an integer, found 'many'; the job gets this default when ZOO_COUNT is not set"
    ]
    (error,) = zoo_errors("  color: ${oc.env:ZOO_COLOR,PURPLE}\n")
    assert "the default of '${oc.env:ZOO_COLOR,PURPLE}' does not fit" in error


def test_env_reference_cannot_fill_a_structured_argument(zoo_errors: Callable[..., list[str]]):
    assert zoo_errors("  numbers: ${oc.env:NUMS}\n") == [
        "zoo.yaml:5:12: task.numbers: an environment reference can only fill a scalar "
        "argument: expected a list of integers, found '${oc.env:NUMS}'"
    ]


def test_one_unresolvable_hint_leaves_the_others_checked(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
):
    """A ``TYPE_CHECKING``-only import makes one annotation unreadable, not all of them."""
    write_spec(
        "partly_typed.py",
        """
        from __future__ import annotations

        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            import not_importable_at_run_time


        def run(steps: int = 1, model: not_importable_at_run_time.Model | None = None) -> None:
            pass
        """,
    )
    body = "nemorun: 1\npythonpath: [.]\ntask:\n  _target_: partly_typed:run\n"
    path = write_spec("exp.yaml", body + "  steps: many\n  model: {anything: 1}\n")
    assert load_errors(path) == [
        "exp.yaml:5:10: task.steps: wrong type: expected an integer, found 'many' (a string)"
    ]
