"""The Fiddle graph of a validated spec: its shape, sharing, provenance and environment reads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import fiddle as fdl
import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = ROOT / "tests"
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import typezoo  # noqa: E402

from nemorun import runtime  # noqa: E402
from nemorun.api import load  # noqa: E402
from nemorun.compiler.graph import env_config, is_env_config, task_graph  # noqa: E402
from nemorun.schemas.convert import EnvRef  # noqa: E402

REQUIRED = """
  scalars: {i: 1, f: 0.5, s: s, b: true, p: p, color: RED, level: LOW, mode: train, rank: 1}
  containers: {}
  plain: {size: 1}
"""


def spec_file(directory: Path, text: str, name: str = "spec.yaml") -> Path:
    path = directory / name
    body = textwrap.dedent(text).lstrip("\n").replace("{tests}", str(TESTS_DIR))
    required = textwrap.indent(textwrap.dedent(REQUIRED).strip(), "  ").lstrip()
    path.write_text(body.replace("{required}", required), "utf-8")
    return path


def labels(buildable: Any) -> dict[str, str]:
    """The provenance label each argument was last set under."""
    history = buildable.__argument_history__
    return {name: entries[-1].location.filename for name, entries in history.items()}


def test_quickstart_graph(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    spec = load("configs/quickstart.yaml")
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import trainlib
    finally:
        sys.path.remove(str(ROOT / "examples"))
    expected = fdl.Partial(
        trainlib.train,
        model=fdl.Config(trainlib.ModelConfig, hidden_size=32),
        optim=fdl.Config(trainlib.OptimConfig, lr=0.05),
        steps=60,
    )
    graph = task_graph(spec)
    assert graph == expected
    assert type(graph.model) is fdl.Config
    assert labels(graph) == {
        "__fn_or_cls__": "configs/quickstart.yaml:7",  # the task mapping itself
        "model": "configs/quickstart.yaml:9",
        "optim": "configs/quickstart.yaml:11",
        "steps": "configs/quickstart.yaml:13",
    }
    assert labels(graph.model) == {
        "__fn_or_cls__": "configs/quickstart.yaml:9",
        "hidden_size": "configs/quickstart.yaml:10",
    }


def test_override_provenance(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    graph = task_graph(load("configs/quickstart.yaml", ["steps=10", "optim.lr=1e-3"]))
    assert graph.steps == 10 and graph.optim.lr == 1e-3
    assert labels(graph)["steps"] == "override: steps=10"
    assert labels(graph.optim)["lr"] == "override: optim.lr=1e-3"


@pytest.mark.parametrize("how", ["alias", "ref"])
def test_shared_sub_config_is_one_node(how: str, tmp_path: Path) -> None:
    if how == "alias":
        text = """
        nemorun: 1
        pythonpath: [{tests}]
        task:
          _target_: typezoo:zoo_task
          {required}
          left: &m {name: shared}
          right: *m
          options: {maybe_leaf: *m}
        """
    else:
        text = """
        nemorun: 1
        pythonpath: [{tests}]
        task:
          _target_: typezoo:zoo_task
          {required}
          left: {name: shared}
          right: {_ref_: task.left}
          options: {maybe_leaf: {_ref_: task.right}}
        """
    graph = task_graph(load(spec_file(tmp_path, text)))
    assert graph.left is graph.right is graph.options.maybe_leaf
    built = fdl.build(graph).keywords
    assert built["left"] is built["right"] is built["options"].maybe_leaf


def test_graph_values_have_their_hinted_types(tmp_path: Path) -> None:
    graph = task_graph(
        load(
            spec_file(
                tmp_path,
                """
                nemorun: 1
                pythonpath: [{tests}]
                task:
                  _target_: typezoo:zoo_task
                  scalars: {i: 1, f: 2, s: "007", b: false, p: /x, color: BLUE, level: 3,
                            mode: eval, rank: 3}
                  containers:
                    floats: [1, 2.5]
                    pair: [a, 1]
                    tags: [x, y, x]
                    frozen: [1, 2]
                    paths: [/a]
                    color_set: [RED]
                    leaves: [{name: a}, {_target_: typezoo:HeavyLeaf, name: h, mass: 2}]
                  options: {fn: typezoo:negate, leaf_or_number: 3, anything: {a: [1]}}
                  plain: {size: 1, extra: 2.5}
                  left: {name: l}
                  right: {name: r}
                """,
            )
        )
    )
    assert graph.scalars.f == 2.0 and isinstance(graph.scalars.f, float)
    assert graph.scalars.p == Path("/x")
    assert graph.scalars.color is typezoo.Color.BLUE and graph.scalars.level is typezoo.Level.HIGH
    assert graph.containers.floats == (1.0, 2.5) and graph.containers.pair == ("a", 1)
    assert graph.containers.tags == {"x", "y"} and graph.containers.frozen == frozenset({1, 2})
    assert graph.containers.color_set == {typezoo.Color.RED}
    assert fdl.get_callable(graph.containers.leaves[1]) is typezoo.HeavyLeaf
    assert graph.options.fn is typezoo.negate and graph.options.leaf_or_number == 3.0
    assert graph.plain.extra == 2.5


def test_script_and_command_tasks(tmp_path: Path) -> None:
    spec = load(
        spec_file(
            tmp_path,
            """
            nemorun: 1
            tasks:
              a:
                task: {command: "echo hi"}
              b:
                task: {command: [echo, hi]}
              c:
                task: {script: run.sh, args: [--x]}
            """,
        )
    )
    graphs = {name: task_graph(spec, task) for name, task in spec.tasks.items()}
    assert graphs["a"] == fdl.Partial(subprocess.run, "echo hi", shell=True, check=True)
    assert graphs["b"] == fdl.Partial(subprocess.run, ["echo", "hi"], shell=False, check=True)
    assert graphs["c"] == fdl.Partial(subprocess.run, ["bash", "run.sh", "--x"], check=True)
    assert set(labels(graphs["a"]).values()) == {f"{tmp_path / 'spec.yaml'}:4"}


# --- environment references ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "kwargs"),
    [
        (str, {}),
        (Path, {"to": Path}),
        (int, {"to": int}),
        (int | None, {"to": int, "optional": True}),
        (bool, {"to": bool}),
        (typezoo.Level, {"to": typezoo.Level}),
        (typezoo.Literal[1, 2, 3], {"choices": (1, 2, 3)}),
        (typezoo.Literal["a", "b"] | None, {"choices": ("a", "b"), "optional": True}),
        (int | str, {"to": (int, str)}),
        (float | typezoo.Level, {"to": (float, typezoo.Level)}),
        (typezoo.Any, {}),
    ],
)
def test_env_config_follows_the_hint(annotation: Any, kwargs: dict[str, Any]) -> None:
    config = env_config(EnvRef("${oc.env:X,1}", annotation))
    assert is_env_config(config)
    assert config.__arguments__ == {"template": "${oc.env:X,1}", **kwargs}


def test_env_refs_in_the_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = task_graph(
        load(
            spec_file(
                tmp_path,
                """
                nemorun: 1
                pythonpath: [{tests}]
                task:
                  _target_: typezoo:show
                  value: ${oc.env:ZOO_DIR,/tmp/d}
                  label: at-${oc.env:ZOO_HOST,here}
                  rank: ${oc.env:ZOO_RANK,2}
                """,
            )
        )
    )
    assert graph.value == fdl.Config(
        runtime.env_value, template="${oc.env:ZOO_DIR,/tmp/d}", to=Path
    )
    assert graph.label == fdl.Config(runtime.env_value, template="at-${oc.env:ZOO_HOST,here}")
    monkeypatch.delenv("ZOO_DIR", raising=False)
    monkeypatch.delenv("ZOO_HOST", raising=False)
    monkeypatch.setenv("ZOO_RANK", "3")
    built = fdl.build(graph)
    assert built.keywords == {"value": Path("/tmp/d"), "label": "at-here", "rank": 3}


@pytest.mark.parametrize(
    ("text", "kwargs", "value"),
    [
        ("yes", {"to": bool}, True),
        ("OFF", {"to": bool}, False),
        ("", {"to": int, "optional": True}, None),
        ("None", {"to": int, "optional": True}, None),
        ("12", {"to": (int, str)}, 12),
        ("x12", {"to": (int, str)}, "x12"),
        ("MID", {"to": (float, typezoo.Level)}, typezoo.Level.MID),
        ("2", {"choices": (1, 2, 3)}, 2),
        ("b", {"choices": ("a", "b")}, "b"),
        ("-1e-3", {"to": float}, -0.001),
        ("/a b", {"to": Path}, Path("/a b")),
    ],
)
def test_env_value_converts(
    text: str, kwargs: dict[str, Any], value: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_V", text)
    result = runtime.env_value("${oc.env:ZOO_V}", **kwargs)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("text", "kwargs", "message"),
    [
        ("maybe", {"to": bool}, "expected true or false, got 'maybe'"),
        ("x", {"to": int}, "expected an integer, got 'x'"),
        ("LOUD", {"to": typezoo.Level}, "expected one of LOW, MID, HIGH, got 'LOUD'"),
        ("4", {"choices": (1, 2, 3)}, "expected one of 1, 2, 3, got '4'"),
    ],
)
def test_env_value_errors_name_the_reference(
    text: str, kwargs: dict[str, Any], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_V", text)
    with pytest.raises(ValueError, match="^" + r"\$\{oc\.env:ZOO_V\}: " + message):
        runtime.env_value("${oc.env:ZOO_V}", **kwargs)


def test_env_value_without_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZOO_MISSING", raising=False)
    with pytest.raises(KeyError, match="'ZOO_MISSING' is not set and has no default"):
        runtime.env_value("${oc.env:ZOO_MISSING}")
    assert runtime.env_expand("a-${oc.env:ZOO_MISSING, b }-c") == "a-b-c"
