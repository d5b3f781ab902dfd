"""What the task receives for plain YAML scalars and whole interpolations, by the hint.

YAML 1.2 readings (what TOML, JSON, the command line and current YAML libraries agree on): a
value written in the file and the same value given as an override reach the job alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import fiddle as fdl
import pytest

from nemorun.api import load
from nemorun.compiler.graph import task_graph


@pytest.fixture
def job(write_spec: Callable[[str, str], Path]) -> Callable[..., dict[str, Any]]:
    def run(line: str, *overrides: str) -> dict[str, Any]:
        text = f"nemorun: 1\npythonpath: [{{zoo}}]\ntask:\n  _target_: values_zoo:take\n  {line}\n"
        spec = load(write_spec("exp.yaml", text), overrides)
        got: dict[str, Any] = fdl.build(task_graph(spec))()
        return got

    return run


# (line under task:, argument, what the job receives)
RECEIVED = [
    ("untyped: 1e-3", "untyped", 0.001),
    ("untyped: 1:30", "untyped", "1:30"),
    ("untyped: 017", "untyped", 17),
    ("untyped: yes", "untyped", "yes"),
    ("untyped: 1_000", "untyped", "1_000"),
    ("warmup: 2e3", "warmup", 2000.0),  # through **extra, untyped
    ("count: 017", "count", 17),
    ("count: 0x10", "count", 16),
    ("ratio: 5e-4", "ratio", 0.0005),
    ("text: 1e-3", "text", "1e-3"),  # a str gets the text as typed
    ("text: 007", "text", "007"),
    ("text: off", "text", "off"),
    ("either: 1:30", "either", "1:30"),
    ("either: 2", "either", 2),
    ("interval: 1:00:00", "interval", timedelta(hours=1)),
    ("interval: 50", "interval", 50),
    ("folder: 1e3", "folder", Path("1e3")),  # a path is the text as typed, like a str
    ("folder: 2024", "folder", Path("2024")),
    ("text: ${task.steps}\n  steps: 100", "text", "100"),  # the value, not its spelling
    ("either: ${task.steps}\n  steps: 100", "either", 100),
    ("untyped: ${task.steps}\n  steps: 100", "untyped", 100),
]


@pytest.mark.parametrize(("line", "name", "value"), RECEIVED, ids=[r[0] for r in RECEIVED])
def test_the_job_receives(
    job: Callable[..., dict[str, Any]], line: str, name: str, value: object
) -> None:
    got = job(line)[name]
    assert got == value and type(got) is type(value)


# (argument, text): the same text in the file and as an override reaches the job alike
ALIKE = [("untyped", "1e-3"), ("ratio", "1e-3"), ("count", "17"), ("either", "2")]


@pytest.mark.parametrize(("name", "text"), ALIKE)
def test_file_and_override_agree(job: Callable[..., dict[str, Any]], name: str, text: str) -> None:
    from_file = job(f"{name}: {text}")[name]
    from_override = job("steps: 1", f"task.{name}={text}")[name]
    assert from_file == from_override and type(from_file) is type(from_override)


def test_a_yaml_1_1_boolean_spelling_is_refused_with_the_fix(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
) -> None:
    text = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: siglib:fit_flag\n  flag: on\n"
    spec = write_spec("exp.yaml", text)
    assert load_errors(spec) == [
        "exp.yaml:5:9: task.flag: wrong type: expected true or false, found 'on' (a string); "
        "write true"
    ]


def test_an_alias_under_two_class_hints_makes_each_its_own_class(
    write_spec: Callable[[str, str], Path],
) -> None:
    text = (
        "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:distill\n"
        "  student: &m {hidden: 32}\n  teacher: *m\n"
    )
    got = fdl.build(task_graph(load(write_spec("exp.yaml", text))))()
    assert type(got["student"]).__name__ == "Student" and got["student"].hidden == 32
    assert type(got["teacher"]).__name__ == "Teacher" and got["teacher"].hidden == 32


def test_a_number_out_of_its_bounds_is_not_read_as_text_by_a_str_alternative(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
) -> None:
    head = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:bounded\n"
    assert load_errors(write_spec("exp.yaml", head + "  workers: 0\n")) == [
        "exp.yaml:5:12: task.workers: out of range: expected at least 1, found 0 (an integer)"
    ]
    got = fdl.build(task_graph(load(write_spec("exp.yaml", head + "  workers: auto\n"))))()
    assert got == {"workers": "auto"}


def test_text_that_looks_like_a_reference_runs_no_code(
    write_spec: Callable[[str, str], Path], workdir: Path
) -> None:
    """An untyped ``split: train:val`` is data: validating never imports a ``train`` module."""
    (workdir / "train.py").write_text("open('IMPORTED', 'w').write('ran')\n")
    text = (
        "nemorun: 1\npythonpath: [{zoo}, .]\ntask:\n  _target_: values_zoo:take\n"
        "  untyped: 'train:val'\n"
    )
    got = fdl.build(task_graph(load(write_spec("exp.yaml", text))))()
    assert got["untyped"] == "train:val"
    assert not (workdir / "IMPORTED").exists()


def test_a_default_factory_is_not_run_while_validating(
    write_spec: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its default is made when the job calls the class (here it reads the environment)."""
    monkeypatch.delenv("VALUES_ZOO_DATA_ROOT", raising=False)
    head = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:read\n"
    graph = task_graph(load(write_spec("exp.yaml", head + "  data: {root: /x}\n")))
    assert fdl.build(graph)()["data"].root == "/x"
    graph = task_graph(load(write_spec("exp.yaml", head + "  data: {size: 2}\n")))
    monkeypatch.setenv("VALUES_ZOO_DATA_ROOT", "/from/env")
    assert fdl.build(graph)()["data"].root == "/from/env"


@pytest.mark.parametrize("text", ["1e3", "0o17", "0x1F", "017", "1.", ".inf", "~", "True", "yes"])
def test_quoted_text_survives_a_yaml_export(
    write_spec: Callable[[str, str], Path], workdir: Path, text: str
) -> None:
    """Text that YAML 1.2 would read as a number, a boolean or null is written quoted."""
    from nemorun.compiler.export import export

    head = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:take\n"
    spec = load(write_spec("exp.yaml", head + f"  untyped: '{text}'\n"))
    (workdir / "again.yaml").write_text(export(spec, "yaml", workdir), encoding="utf-8")
    got = fdl.build(task_graph(load(workdir / "again.yaml")))()
    assert got["untyped"] == text


def test_a_set_of_built_objects_is_a_located_error(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
) -> None:
    """Not an internal error at compile: a set cannot hold Fiddle configs."""
    head = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:sizes\n"
    [error] = load_errors(write_spec("exp.yaml", head + "  s: [[1, 2], [3, 4]]\n"))
    assert error.startswith("exp.yaml:5:6: task.s: a set cannot hold objects that the job builds")
    got = fdl.build(task_graph(load(write_spec("exp.yaml", head + "  plain: [1, 2, 1]\n"))))()
    assert got["plain"] == frozenset({1, 2})


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_enum_keys_survive_every_export(
    write_spec: Callable[[str, str], Path], workdir: Path, fmt: str
) -> None:
    from nemorun.compiler.export import export

    head = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:weighted\n"
    spec = load(write_spec("exp.yaml", head + "  weights: {TRAIN: 1, val: 2}\n"))
    (workdir / f"again.{fmt}").write_text(export(spec, fmt, workdir), encoding="utf-8")
    got = fdl.build(task_graph(load(workdir / f"again.{fmt}")))()
    assert {type(k).__name__ + "." + k.name: v for k, v in got["weights"].items()} == {
        "Split.TRAIN": 1.0,
        "Split.VAL": 2.0,
    }


def test_keywords_forwarded_to_a_named_base_are_checked_against_that_base(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
) -> None:
    """``Sink.__init__(self, *args, **kwargs)`` in a class whose next base is another one."""
    head = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:sink\n"
    spec = write_spec("exp.yaml", head + "  out: {_target_: values_zoo:MySink, verbose: true}\n")
    assert load_errors(spec) == [
        "exp.yaml:5:3: task.out: missing required argument 'save_dir' of MySink; "
        "add 'save_dir: text'",
        "exp.yaml:5:38: task.out.verbose: unknown argument of MySink",
    ]
    good = head + "  out: {_target_: values_zoo:MySink, save_dir: /logs}\n"
    got = fdl.build(task_graph(load(write_spec("exp.yaml", good))))()
    assert got["out"].save_dir == "/logs"


def test_newtype_and_initvar(write_spec: Callable[[str, str], Path]) -> None:
    head = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:newtypes\n"
    text = head + "  uid: 3\n  scaled: {x: 2, scale: 3}\n"
    got = fdl.build(task_graph(load(write_spec("exp.yaml", text))))()
    assert got["uid"] == 3 and got["scaled"].x == 6


def test_an_env_reference_under_an_optional_bounded_int(
    write_spec: Callable[[str, str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    head = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:limited\n"
    graph = task_graph(load(write_spec("exp.yaml", head + "  n: ${oc.env:VZ_N,3}\n")))
    monkeypatch.delenv("VZ_N", raising=False)
    assert fdl.build(graph)() == {"n": 3}
    monkeypatch.setenv("VZ_N", "7")
    assert fdl.build(graph)() == {"n": 7}


def test_an_enum_member_in_a_literal_by_name_or_value(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
) -> None:
    head = "nemorun: 1\npythonpath: [{zoo}]\ntask:\n  _target_: values_zoo:pick\n"
    for text in ("TRAIN", "train"):
        got = fdl.build(task_graph(load(write_spec("exp.yaml", head + f"  split: {text}\n"))))()
        assert type(got["split"]).__name__ == "Split" and got["split"].name == "TRAIN"
    assert load_errors(write_spec("exp.yaml", head + "  split: TRIAN\n")) == [
        "exp.yaml:5:10: task.split: not an allowed value: expected one of 'TRAIN', 'all', found "
        "'TRIAN' (a string); did you mean 'TRAIN'?"
    ]
