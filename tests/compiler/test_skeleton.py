"""``nemorun new``: a spec read off a signature validates once its ``???`` are filled in, its
defaults reach the job as the callable's own defaults, and bad references are located errors.

Regenerate the golden files with ``NEMORUN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler -k
golden`` (and review the diff).
"""

from __future__ import annotations

import enum
import json
import pathlib
import sys
import tempfile
import textwrap
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, ROOT, ZOO, CliResult, assert_golden
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nemorun import api
from nemorun.compiler.hint_text import type_text
from nemorun.compiler.skeleton import Required, new_skeleton
from nemorun.errors import SpecErrors
from nemorun.schemas.hints import MADE_WHEN_CALLED, MISSING, inspect_callable
from nemorun.schemas.values import Call

TESTS = ROOT / "tests"
SEARCH = (EXAMPLES, TESTS, ZOO)
Cli = Callable[..., CliResult]

# Every zoo callable: (reference, how many values are left to fill in).
ZOO_CALLABLES = [
    ("trainlib:train", 0),
    ("typezoo:zoo_task", 12),
    ("typezoo:Scalars", 9),
    ("typezoo:Containers", 0),
    ("typezoo:Options", 0),
    ("typezoo:Plain", 1),
    ("typezoo:Bundle", 1),
    ("typezoo:show", 1),
    ("values_zoo:take", 0),
    ("values_zoo:distill", 0),
    ("values_zoo:bounded", 0),
    ("values_zoo:read", 0),
    ("values_zoo:sizes", 0),
    ("values_zoo:weighted", 0),
    ("values_zoo:sink", 1),
    ("values_zoo:newtypes", 0),
    ("values_zoo:limited", 0),
    ("values_zoo:pick", 0),
]


def filler(annotation: Any) -> str:
    """An override value that fits ``annotation`` (the zoo's required types)."""
    annotation = typing.get_args(annotation)[0] if _is_optional(annotation) else annotation
    if typing.get_origin(annotation) is typing.Literal:
        return str(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return next(iter(annotation.__members__))
    simple = {int: "3", float: "0.5", str: "filled", bool: "true", pathlib.Path: "/tmp/x"}
    return simple[annotation]


def _is_optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def fill(required: tuple[Required, ...]) -> list[str]:
    return [f"{'.'.join(map(str, r.path))}={filler(r.annotation)}" for r in required]


@pytest.mark.parametrize("fmt", ["yaml", "toml"])
@pytest.mark.parametrize(("reference", "count"), ZOO_CALLABLES)
def test_new_validates_once_every_required_value_is_filled_in(
    workdir: Path, reference: str, count: int, fmt: str
) -> None:
    skeleton = new_skeleton(reference, fmt, None, workdir, SEARCH)
    assert len(skeleton.required) == count
    path = workdir / f"spec.{fmt}"
    path.write_text(api.new(reference, fmt, None, workdir, SEARCH), encoding="utf-8")
    spec = api.load(path, fill(skeleton.required))
    api.compile(spec)
    call = spec.tasks["task"].call
    assert call is not None
    assert_defaults(call)
    if count:  # as written, each ??? is an error that names its key
        with pytest.raises(SpecErrors) as info:
            api.load(path)
        names = {".".join(map(str, r.path)) for r in skeleton.required}
        found = {e.format().split(": ")[1] for e in info.value.errors}
        assert found == names
        assert all("required value not filled in" in e.message for e in info.value.errors)


def assert_defaults(call: Call) -> None:
    """Each argument the spec gives ``call`` with a written default is that default, as the
    callable would have it; nested calls likewise."""
    for name, param in inspect_callable(call.target).params.items():
        if name not in call.args:
            continue
        value = call.args[name]
        if isinstance(value, Call):
            assert_defaults(value)
        elif param.default is not MISSING and param.default is not MADE_WHEN_CALLED:
            assert value == param.default, name


def test_a_required_value_left_as_placeholder_is_reported_by_name(cli: Cli, workdir: Path) -> None:
    assert cli("new", "typezoo:Plain", "-p", str(TESTS), "-o", "plain.yaml").code == 0
    result = cli("validate", "plain.yaml")
    assert result.code == 2
    assert result.error_lines == [
        "plain.yaml:17:9: task.size: required value not filled in: expected an integer; "
        "replace '???' with a value, e.g. 1"
    ]


@pytest.mark.parametrize(
    ("reference", "fmt", "golden"),
    [
        ("trainlib:train", "yaml", "new-train.yaml"),
        ("trainlib:train", "toml", "new-train.toml"),
        ("typezoo:zoo_task", "yaml", "new-zoo-task.yaml"),
    ],
)
def test_new_output_golden(reference: str, fmt: str, golden: str) -> None:
    assert_golden(golden, api.new(reference, fmt, None, ROOT / "configs", SEARCH))


def test_nested_classes_expand_until_they_come_back_to_themselves(workdir: Path) -> None:
    (workdir / "loops.py").write_text(
        textwrap.dedent(
            """
            from __future__ import annotations
            from dataclasses import dataclass

            @dataclass
            class Node:
                value: int = 1
                next: Node | None = None
                child: Node | int = 0

            def walk(root: Node, spare: Node) -> None:
                pass
            """
        ),
        encoding="utf-8",
    )
    text = api.new("loops:walk", "yaml", None, workdir)
    assert text.count("value: 1") == 2  # root and spare, each expanded once
    assert "next: null" in text and "child: 0" in text
    assert "Fill in" not in text


def test_a_dataclass_instance_default_is_expanded_with_its_own_values(workdir: Path) -> None:
    (workdir / "inst.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import dataclass, field

            @dataclass
            class Chain:
                name: str
                size: int = 1
                next: "Chain" = None
                extra: dict = field(default_factory=dict)

            def link(head: Chain = Chain("first", 2), tail: Chain = None) -> None:
                pass
            """
        ),
        encoding="utf-8",
    )
    skeleton = new_skeleton("inst:link", "yaml", None, workdir)
    assert skeleton.required == ()
    text = api.new("inst:link", "yaml", None, workdir)
    assert "  head:\n    # str\n    name: first\n    # int\n    size: 2\n" in text
    assert "    extra: {}\n" in text
    # None where the hint says Chain: validation would refuse it, so it is not written
    none = "None by default, which does not fit its own type hint"
    assert f"    # next: left out, {none}\n" in text and f"  # tail: left out, {none}\n" in text
    (workdir / "inst.yaml").write_text(text, encoding="utf-8")
    call = api.load(workdir / "inst.yaml").tasks["task"].call
    assert call is not None and isinstance(call.args["head"], Call)
    assert call.args["head"].args == {"name": "first", "size": 2, "extra": {}}


def test_defaults_no_spec_can_write_are_comments_and_the_spec_still_validates(
    workdir: Path,
) -> None:
    (workdir / "odd.py").write_text(
        textwrap.dedent(
            """
            import threading
            from dataclasses import dataclass, field

            def make() -> list:
                return [1]

            @dataclass
            class Settings:
                lock: object = field(default_factory=threading.Lock)
                made: list = field(default_factory=make)
                seen: list = field(default_factory=list)

            def job(s: Settings, fn=lambda x: x, wrong: int = "oops", *args, **kwargs) -> None:
                pass
            """
        ),
        encoding="utf-8",
    )
    path = workdir / "odd.yaml"
    path.write_text(api.new("odd:job", "yaml", None, workdir), encoding="utf-8")
    text = path.read_text()
    assert "# lock: left out, made when called, by its default_factory" in text
    assert "seen: []" in text
    assert " at 0x" not in text  # no address in a spec
    assert "# fn: left out, <function <lambda>> by default" in text
    assert "# wrong: left out, 'oops' by default, which does not fit its own type hint" in text
    assert "# *args cannot be given in a spec" in text
    assert "any other keyword is passed on (**kwargs)" in text
    api.load(path)


def test_types_are_written_as_a_reader_writes_them() -> None:
    from typezoo import Color, Leaf

    assert type_text(int | None) == "int | None"
    assert type_text(typing.Optional[Leaf]) == "Leaf | None"  # noqa: UP045
    assert type_text(typing.Literal[Color.RED, "x"]) == "Literal[Color.RED, 'x']"
    assert type_text(Callable[[float], float]) == "Callable[[float], float]"
    assert type_text(tuple[float, ...]) == "tuple[float, ...]"
    assert type_text(typing.Annotated[int, object()]) == "int"


# --- the job receives the defaults ----------------------------------------------------------------


@pytest.mark.usefixtures("home")
def test_a_new_spec_runs_and_the_job_gets_the_defaults(cli: Cli, workdir: Path) -> None:
    assert cli("new", "trainlib:train", "-p", str(EXAMPLES), "-o", "train.yaml").code == 0
    assert cli("validate", "train.yaml").code == 0
    result = cli("run", "train.yaml")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "[train] point=0 model=64x2 RELU optim=sgd lr=0.05 data=/tmp/data"
    assert "[train] step 100 loss" in result.out  # steps=100, log_every=20


@pytest.mark.usefixtures("home")
@pytest.mark.parametrize("fmt", ["yaml", "toml"])
def test_filled_in_and_hostile_defaults_reach_the_job_exactly(
    cli: Cli, workdir: Path, fmt: str
) -> None:
    (workdir / "greet.py").write_text(
        textwrap.dedent(
            """
            from pathlib import Path
            from typing import Literal

            def greet(
                name: str,
                times: int = 2,
                where: Path = Path("out dir"),
                country: str = "no",
                code: str = "0o17",
                note: str = "${not.an.interpolation}",
                mode: Literal["a", "b"] = "b",
                ratio: float = 1e-8,
                extra: str | None = None,
            ) -> None:
                print(repr((name, times, where, country, code, note, mode, ratio, extra)))
            """
        ),
        encoding="utf-8",
    )
    spec = workdir / f"greet.{fmt}"
    assert cli("new", "greet:greet", "-o", str(spec)).code == 0
    text = spec.read_text()
    spec.write_text(text.replace("???", "Ada"))
    result = cli("run", str(spec))
    assert result.code == 0, result.err
    expected = ("Ada", 2, Path("out dir"), "no", "0o17", "${not.an.interpolation}", "b", 1e-8)
    assert result.out.splitlines()[0] == repr((*expected, None))


# --- round trips ----------------------------------------------------------------------------------


PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=2),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(value=PLAIN, fmt=st.sampled_from(["yaml", "toml"]))
@example(value={"${a}": "${b}", "null": "1e3"}, fmt="yaml")
@example(value={"${a}": ["${oc.env:HOME}", "\\${x}"]}, fmt="toml")
@example(value="???", fmt="yaml")
@example(value={"_call_": None}, fmt="yaml")
def test_any_plain_default_loads_back_as_itself(value: Any, fmt: str) -> None:
    module = types.ModuleType("new_defaults")

    def task(value: Any = None) -> None:
        pass

    task.__defaults__ = (value,)
    module.task = task  # type: ignore[attr-defined]
    sys.modules["new_defaults"] = module
    try:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / f"spec.{fmt}"
            path.write_text(api.new("new_defaults:task", fmt), encoding="utf-8")
            check_default(path, value, fmt)
    finally:
        del sys.modules["new_defaults"]


def check_default(path: Path, value: Any, fmt: str) -> None:
    call = api.load(path).tasks["task"].call
    assert isinstance(call, Call)
    if "# value: left out" in path.read_text():
        # TOML has no null; '???' is a value still to fill in; ${oc.env:…} a reference;
        # a mapping keyed _target_ or _call_ names code to import
        assert (
            (fmt == "toml" and _holds("", value))
            or value == "???"
            or _holds("${oc.env:", value)
            or "_target_" in repr(value)
            or "_call_" in repr(value)
        )
        assert "value" not in call.args
    else:
        assert call.args["value"] == value


def _holds(text: str, value: Any) -> bool:
    """True when ``value`` holds None (``text`` empty) or a string holding ``text``."""
    if isinstance(value, dict):
        return any(_holds(text, k) or _holds(text, v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds(text, v) for v in value)
    return value is None if not text else isinstance(value, str) and text in value


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["nosuch_module:f"],
            "cannot import module 'nosuch_module'; check the spelling, or make "
            "'nosuch_module' importable: run from the directory that holds it, list that "
            "directory under 'pythonpath:', or set PYTHONPATH",
        ),
        (["trainlib:nope", "-p", str(EXAMPLES)], "module 'trainlib' has no attribute 'nope'"),
        (
            ["os:sep"],
            "'os:sep' cannot be called: expected a function or class, found str",
        ),
        (
            ["trainlib:train", "-p", str(EXAMPLES), "--target", "slurn"],
            "--target: unknown target: expected one of local, slurm, docker, skypilot, ray, "
            "kubernetes, found 'slurn'; did you mean 'slurm'?",
        ),
        (
            ["trainlib:train", "-o", "exists.yaml"],
            "-o: exists.yaml already exists; pass --force to replace it, or choose another file",
        ),
    ],
)
def test_bad_input_is_a_located_error_and_exit_2(
    cli: Cli, workdir: Path, argv: list[str], error: str
) -> None:
    (workdir / "exists.yaml").write_text("keep me\n")
    result = cli("new", *argv)
    assert (result.code, result.error_lines) == (2, [error])
    assert (workdir / "exists.yaml").read_text() == "keep me\n"


@pytest.mark.parametrize("target", ["slurm", "docker", "skypilot"])
def test_a_spec_for_another_target_validates_for_it(cli: Cli, workdir: Path, target: str) -> None:
    result = cli("new", "trainlib:train", "-p", str(EXAMPLES), "-t", target, "-o", "t.yaml")
    assert result.code == 0
    assert f"  target: {target}\n" in (workdir / "t.yaml").read_text()
    validated = cli("validate", "t.yaml")
    assert validated.code == 0, validated.err
    assert validated.out == f"t.yaml: ok (trainlib.loop:train; target {target})\n"


def test_force_replaces_the_output(cli: Cli, workdir: Path) -> None:
    (workdir / "train.toml").write_text("old\n")
    result = cli("new", "trainlib:train", "-p", str(EXAMPLES), "-o", "train.toml", "--force")
    assert result.code == 0
    assert (workdir / "train.toml").read_text().startswith("# A spec for trainlib:train")
    assert "[task.model]" in (workdir / "train.toml").read_text()


def test_new_with_modeline_points_editors_at_the_schema_it_writes(cli: Cli, workdir: Path) -> None:
    result = cli("new", "trainlib:train", "-p", str(EXAMPLES), "-o", "cfg/t.yaml", "--modeline")
    assert result.code == 0, result.err
    text = (workdir / "cfg" / "t.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./.nemorun/t.yaml.schema.json"
    schema = json.loads((workdir / "cfg" / ".nemorun" / "t.yaml.schema.json").read_text())
    assert "steps" in json.dumps(schema)
    assert cli("validate", "cfg/t.yaml").code == 0
    refused = cli("new", "trainlib:train", "-p", str(EXAMPLES), "--modeline")
    assert refused.code == 2 and "--modeline needs -o FILE" in refused.err
