"""Loading YAML and TOML: plain trees, the position of every key, shared aliases, syntax errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from nemorun.api import load
from nemorun.errors import SpecErrors
from nemorun.schemas.source import load_document

WriteSpec = Callable[[str, str], Path]


def errors_of(path: Path) -> list[str]:
    with pytest.raises(SpecErrors) as info:
        load_document(path)
    return [e.format() for e in info.value.errors]


# --- YAML -------------------------------------------------------------------------------------


def test_yaml_positions_of_keys_and_values(write_spec: WriteSpec):
    doc = load_document(
        write_spec(
            "exp.yaml",
            """
            nemorun: 1
            task:
              model:
                hidden_size: 64
              tags: [a, b]
            """,
        )
    )
    assert doc.tree == {"nemorun": 1, "task": {"model": {"hidden_size": 64}, "tags": ["a", "b"]}}
    size = doc.origins[("task", "model", "hidden_size")]
    assert (size.file, size.line, size.column) == ("exp.yaml", 4, 5)
    assert (size.value_line, size.value_column) == (4, 18)
    second_tag = doc.origins[("task", "tags", 1)]
    assert (second_tag.line, second_tag.column) == (5, 13)
    # A path with no position of its own reports its nearest ancestor's.
    assert doc.origin(("task", "model", "hidden_size", "deeper")) == size


def test_plain_scalars_keep_their_text_quoted_ones_do_not(write_spec: WriteSpec):
    doc = load_document(write_spec("exp.yaml", "tag: 007\nflag: no\nquoted: '007'\n"))
    assert doc.tree == {"tag": 7, "flag": "no", "quoted": "007"}  # YAML 1.2, not PyYAML's 1.1
    assert doc.origins[("tag",)].text == "007"
    assert doc.origins[("flag",)].text == "no"
    assert doc.origins[("quoted",)].text is None


# (plain scalar, what YAML 1.2's core schema reads; PyYAML's YAML 1.1 reading in the comment)
CORE_SCHEMA = [
    ("017", 17),  # 15: octal
    ("0o17", 15),  # text
    ("0x1F", 31),
    ("1_000", "1_000"),  # 1000
    ("1:30", "1:30"),  # 90: base 60
    ("1:00:00", "1:00:00"),  # 3600
    ("1e-3", 0.001),  # text: no dot
    ("2E3", 2000.0),
    ("+1", 1),
    ("-.5", -0.5),
    ("1.", 1.0),
    ("yes", "yes"),  # True
    ("off", "off"),  # False
    ("y", "y"),
    ("True", True),
    ("FALSE", False),
    ("~", None),
    ("Null", None),
    ("-.inf", float("-inf")),
    ("0b101", "0b101"),  # 5
    ("2024-01-02", "2024-01-02"),  # a date: kept as text, as before
    ("1.10", 1.1),
]


@pytest.mark.parametrize(("text", "value"), CORE_SCHEMA, ids=[t for t, _ in CORE_SCHEMA])
def test_plain_scalars_are_read_as_yaml_1_2_reads_them(
    write_spec: WriteSpec, text: str, value: object
) -> None:
    """What TOML, JSON, the command line and YAML 1.2 agree on; the typed text stays beside it
    for a `str` argument."""
    doc = load_document(write_spec("exp.yaml", f"v: {text}\nq: '{text}'\n"))
    assert doc.tree["v"] == value and type(doc.tree["v"]) is type(value)
    assert doc.tree["q"] == text
    assert doc.origins[("v",)].text == text


def test_an_explicit_tag_still_reads_as_tagged(write_spec: WriteSpec) -> None:
    doc = load_document(write_spec("exp.yaml", "a: !!str 017\nb: !!str yes\n"))
    assert doc.tree == {"a": "017", "b": "yes"}


def test_yaml_alias_is_one_shared_object(write_spec: WriteSpec):
    doc = load_document(
        write_spec(
            "exp.yaml",
            """
            a: &shared {x: 1, y: [1, 2]}
            b: *shared
            """,
        )
    )
    assert doc.tree["a"] is doc.tree["b"]
    # Paths under the second reference are located too (at the shared definition).
    assert doc.origins[("b", "x")].line == 1


def test_merge_keys_work(write_spec: WriteSpec):
    doc = load_document(write_spec("exp.yaml", "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n"))
    assert doc.tree["c"] == {"x": 1, "y": 3}


def test_merge_key_overridden_by_own_key_is_located_at_the_own_key(write_spec: WriteSpec):
    doc = load_document(write_spec("exp.yaml", "base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n"))
    assert doc.origins[("c", "y")].line == 4
    assert doc.origins[("c", "x")].line == 1


def test_keys_that_yaml_would_read_as_booleans_stay_as_written(write_spec: WriteSpec):
    """Environment variable names like ``ON`` or ``NO`` are names, not booleans."""
    doc = load_document(write_spec("exp.yaml", "env: {ON: '1', no: x, 1.5: y, 2: z}\n"))
    assert doc.tree["env"] == {"ON": "1", "no": "x", "1.5": "y", 2: "z"}
    assert doc.origins[("env", "ON")].column == 7


def test_duplicate_yaml_key_is_an_error(write_spec: WriteSpec):
    path = write_spec("exp.yaml", "task:\n  steps: 1\n  steps: 2\n")
    assert errors_of(path) == [
        "exp.yaml:3:3: task.steps: duplicate key; remove one of the two entries"
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "nemorun: 1\ntask:\n  model: [1, 2\n",
            "exp.yaml:4:1: YAML syntax error: did not find expected ',' or ']' "
            "(while parsing a flow sequence that starts at line 3, column 10)",
        ),
        (
            "nemorun: 1\ntask:\n  _target_: m:f\n   steps: 3\n",
            "exp.yaml:4:9: YAML syntax error: mapping values are not allowed in this context; "
            "check the indentation (a key lines up with its siblings), "
            "or quote a value that contains ': '",
        ),
        (
            "nemorun: 1\ntask:\n\tsteps: 3\n",
            "exp.yaml:3:1: YAML syntax error: found character that cannot start any token; "
            "indent with spaces: YAML does not allow tabs",
        ),
        (
            "nemorun: 1\ntask:\n  tag: 'abc\n",
            "exp.yaml:4:1: YAML syntax error: found unexpected end of stream "
            "(while scanning a quoted scalar that starts at line 3, column 8)",
        ),
        (
            "nemorun: 1\n---\nnemorun: 1\n",
            "exp.yaml:2:1: YAML syntax error: a spec file holds one YAML document, and this "
            "starts a second one; remove the '---' line (or the text after it)",
        ),
    ],
)
def test_yaml_syntax_errors_are_located(write_spec: WriteSpec, text: str, error: str):
    assert errors_of(write_spec("exp.yaml", text)) == [error]


def test_missing_file_and_unknown_suffix(workdir: Path):
    assert errors_of(workdir / "nope.yaml") == ["nope.yaml: no such spec file"]
    (workdir / "exp.ini").write_text("x=1\n")
    assert errors_of(workdir / "exp.ini") == [
        "exp.ini: unknown spec format: expected a .yaml, .yml, .toml or .json file, found '.ini'"
    ]


def test_recursive_alias_is_an_error_not_a_crash(write_spec: WriteSpec):
    path = write_spec("exp.yaml", "nemorun: 1\nx: &a\n  y: *a\n")
    assert errors_of(path) == [
        "exp.yaml:3:3: x.y: this alias refers to a node that contains it; a spec cannot be a "
        "cycle; copy the values instead of using the alias here"
    ]


# --- JSON -------------------------------------------------------------------------------------


def test_json_values_follow_json_with_yaml_positions(write_spec: WriteSpec):
    text = '{\n  "nemorun": 1,\n  "task": {"steps": 3, "lr": 1e-3, "odd": "a\x7fb\\u0085"}\n}\n'
    doc = load_document(write_spec("exp.json", text))
    # 1e-3 is a number in JSON (YAML 1.1 would read a string); DEL and NEL are just characters.
    assert doc.tree == {"nemorun": 1, "task": {"steps": 3, "lr": 0.001, "odd": "a\x7fb\x85"}}
    steps = doc.origins[("task", "steps")]
    assert (steps.line, steps.column) == (3, 12)


def test_json_syntax_error(write_spec: WriteSpec):
    assert errors_of(write_spec("exp.json", '{"nemorun": 1,\n "a": [1,}')) == [
        "exp.json:2:10: JSON syntax error: Expecting value"
    ]


# --- TOML -------------------------------------------------------------------------------------

TOML = """
nemorun = 1
name = "t"

[task]
_target_ = "trainlib:train"
steps = 3
tags = [
  "a",
  "b",
]
model.hidden_size = 4
"quoted key" = 1
optim = { lr = 0.1, name = "sgd" }

[task.data]
batch_size = 8  # a comment

[[later]]
x = 1

[[later]]
x = 2
"""


def test_toml_key_lines_are_recovered(write_spec: WriteSpec):
    doc = load_document(write_spec("exp.toml", TOML))
    assert doc.tree["task"]["model"] == {"hidden_size": 4}

    def where(*path: str | int) -> tuple[int | None, int | None]:
        origin = doc.origin(path)
        assert origin is not None
        return origin.line, origin.column

    assert where("name") == (2, 1)
    assert where("task") == (4, 1)
    assert where("task", "steps") == (6, 1)
    assert where("task", "tags") == (7, 1)
    assert where("task", "model", "hidden_size") == (11, 1)  # dotted key
    assert where("task", "quoted key") == (12, 1)
    assert where("task", "optim", "lr") == (13, 1)  # inside an inline table: its line
    assert where("task", "data", "batch_size") == (16, 1)
    assert where("later", 1, "x") == (22, 1)  # array of tables, second entry
    assert doc.origins[("task", "steps")].value_column == 9


def test_error_in_a_toml_spec_points_at_its_line(
    write_spec: WriteSpec, load_errors: Callable[..., list[str]]
):
    path = write_spec(
        "exp.toml",
        """
        nemorun = 1
        pythonpath = ["{examples}"]

        [task]
        _target_ = "trainlib:train"
        steps = "many"

        [task.model]
        hiden_size = 3

        [task.optim]
        lr = 0.1
        """,
    )
    assert load_errors(path) == [
        "exp.toml:6:9: task.steps: wrong type: expected an integer, found 'many' (a string)",
        "exp.toml:9:1: task.model.hiden_size: unknown argument of ModelConfig; "
        "did you mean 'hidden_size'?",
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("nemorun = 1\nsteps = = 3\n", "exp.toml:2:9: TOML syntax error: Invalid value"),
        (
            "nemorun = 1\n[task\n",
            "exp.toml:2:6: TOML syntax error: Expected ']' at the end of a table declaration",
        ),
        (
            "nemorun = 1\nnemorun = 2\n",
            "exp.toml:2:1: TOML syntax error: Cannot overwrite a value (the key is set twice); "
            "remove one of the two entries",
        ),
        ("nemorun = 1\nx = [1, 2\n", "exp.toml:2:10: TOML syntax error: Unclosed array"),
    ],
)
def test_toml_syntax_errors_are_located(write_spec: WriteSpec, text: str, error: str):
    assert errors_of(write_spec("exp.toml", text)) == [error]


def test_a_valid_toml_spec_validates(write_spec: WriteSpec):
    path = write_spec(
        "exp.toml",
        """
        nemorun = 1
        pythonpath = ["{examples}"]

        [task]
        _target_ = "trainlib:train"
        tag = "007"

        [task.model]
        hidden_size = 3
        activation = "TANH"

        [task.optim]
        lr = 1
        """,
    )
    call = load(path).task.call
    assert call is not None
    assert call.args["tag"] == "007"
    assert call.args["optim"].args == {"lr": 1.0}
    assert call.args["model"].args["activation"].name == "TANH"
