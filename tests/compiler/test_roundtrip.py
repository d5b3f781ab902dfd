"""Round trips are lossless: spec → graph → export → load → the same graph, in every format.

Value trees are generated over every supported argument type (`typezoo`). Each example is written
as a YAML spec (shared sub-configs as ``&m`` / ``*m``), loaded, checked against the graph the
values should give, exported to yaml, toml, json and python, read back, and compared with ``==``
(which also compares the DAG) and with ``is`` for every shared node.
"""

from __future__ import annotations

import enum
import math
import pathlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fiddle as fdl
import pytest
import yaml
from conftest import import_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TESTS_DIR = Path(__file__).resolve().parents[1]
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

import typezoo  # noqa: E402

from nemorun import runtime  # noqa: E402
from nemorun.api import load  # noqa: E402
from nemorun.compiler.export import export  # noqa: E402
from nemorun.compiler.graph import spec_graphs, task_graph  # noqa: E402
from nemorun.errors import SpecErrors, format_path  # noqa: E402
from nemorun.schemas.hints import inspect_callable  # noqa: E402

FORMATS = ("yaml", "toml", "json", "python")
SUFFIX = {"yaml": ".yaml", "toml": ".toml", "json": ".json", "python": ".py"}
SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- the generated model: nodes that become both a source spec and the expected graph ---------


@dataclass(eq=False)
class Node:
    """A config to build: ``cls(**args)``; the same Node object at two places is shared."""

    cls: Any
    args: dict[str, Any] = field(default_factory=dict)
    explicit_target: bool = False


@dataclass(frozen=True)
class EnvPath:
    """An ``Optional[Path]`` argument read from the environment: ``${oc.env:VAR,default}``."""

    template: str


def spec_value(value: Any, memo: dict[int, Any]) -> Any:
    """How a user writes ``value`` in a YAML spec (shared nodes stay one shared dict)."""
    if isinstance(value, Node):
        if id(value) not in memo:
            out: dict[str, Any] = {}
            memo[id(value)] = out
            if value.explicit_target:
                out["_target_"] = f"typezoo:{value.cls.__qualname__}"
            for key, item in value.args.items():
                out[key] = spec_value(item, memo)
        return memo[id(value)]
    if isinstance(value, EnvPath):
        return value.template
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, pathlib.PurePath):
        return escape_interpolation(str(value))
    if isinstance(value, str):
        return escape_interpolation(value)
    if isinstance(value, (set, frozenset)):
        return [spec_value(v, memo) for v in sorted(value, key=repr)]
    if isinstance(value, (list, tuple)):
        return [spec_value(v, memo) for v in value]
    if isinstance(value, dict):
        return {k: spec_value(v, memo) for k, v in value.items()}
    if callable(value):
        return f"typezoo:{value.__qualname__}"
    return value


def graph_value(value: Any, memo: dict[int, Any], root: bool = False) -> Any:
    """The Fiddle value the spec should compile to."""
    if isinstance(value, Node):
        if id(value) not in memo:
            cls = fdl.Partial if root else fdl.Config
            memo[id(value)] = cls(
                value.cls, **{k: graph_value(v, memo) for k, v in value.args.items()}
            )
        return memo[id(value)]
    if isinstance(value, EnvPath):
        return fdl.Config(runtime.env_value, template=value.template, to=Path, optional=True)
    if isinstance(value, list):
        return [graph_value(v, memo) for v in value]
    if isinstance(value, tuple):
        return tuple(graph_value(v, memo) for v in value)
    if isinstance(value, dict):
        return {k: graph_value(v, memo) for k, v in value.items()}
    return value


def escape_interpolation(text: str) -> str:
    """A literal ``${`` in a spec is written ``\\${`` (and the backslashes before it doubled)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("${", i):
            j = len(out)
            while j > 0 and out[j - 1] == "\\":
                j -= 1
            out[j:] = ["\\"] * (2 * (len(out) - j))
            out.append("\\${")
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


# --- strategies ----------------------------------------------------------------------------------

HOSTILE = [
    "'",
    '"',
    "\\",
    "\n",
    "\r\n",
    "\t",
    " ",
    "#",
    "# not a comment",
    "-",
    "- item",
    "${",
    "${x}",
    "${task.steps}",
    "\\${",
    "$",
    "}",
    ":",
    ": ",
    "{",
    "[",
    "]",
    ",",
    "&a",
    "*a",
    "!tag",
    "%",
    "@",
    "`",
    "|",
    ">",
    "?",
    "~",
    "null",
    "true",
    "no",
    "yes",
    "on",
    "007",
    "1e3",
    "0x1F",
    "1_000",
    "1:20",
    ".inf",
    "2001-12-14",
    "=",
    "<<",
    "ünïcödé",
    "日本語",
    "🙂",
    "\u2028",
    "\x85",
    "\x7f",
    "\x00",
    "\x1b",
    "\ufeff",
    '"""',
    "'''",
]

RESERVED_KEYS = {"_target_", "_partial_", "_ref_"}


def _no_env_reference(text: str) -> bool:
    # "${oc.env:" always means an environment reference in a spec; a literal one cannot be written.
    return "${oc.env:" not in text


texts = (
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=6)), max_size=5)
    .map("".join)
    .filter(_no_env_reference)
)
keys = texts.filter(lambda k: k not in RESERVED_KEYS)
ints = st.one_of(st.integers(-(2**63), 2**63 - 1), st.integers())
finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1e-300, -1e300, 5e-324, 1.7976931348623157e308, 1e16, -2.5e-7]),
)
# YAML, TOML and Python can say infinity; JSON cannot and must refuse it (see `unsayable`).
floats = st.one_of(finite_floats, st.sampled_from([math.inf, -math.inf]))
paths = texts.map(Path)
env_paths = st.builds(
    lambda name, default: EnvPath(
        "${oc.env:" + name + ("" if default is None else f",{default}") + "}"
    ),
    st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,8}\Z"),
    st.none()
    | st.text(st.characters(exclude_characters="}$", exclude_categories=("Cs",)), max_size=8),
)
kwarg_names = st.one_of(
    st.from_regex(r"\A[a-z_][a-z0-9_]{0,6}\Z"),
    st.sampled_from(["class", "lambda", "a-b", "with space", "ünï"]),
).filter(lambda k: k not in ("size", "label", *RESERVED_KEYS))

any_values = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, floats, texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def leaves(draw: st.DrawFn, in_any: bool = False) -> Node:
    heavy = draw(st.booleans())
    args: dict[str, Any] = {"name": draw(texts)}
    if draw(st.booleans()):
        args["weight"] = draw(floats)
    if draw(st.booleans()):
        args["color"] = draw(st.sampled_from(typezoo.Color))
    if heavy and draw(st.booleans()):
        args["mass"] = draw(ints)
    cls = typezoo.HeavyLeaf if heavy else typezoo.Leaf
    return Node(cls, args, explicit_target=heavy or in_any or draw(st.booleans()))


def _some(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """A random subset of ``fields`` (the rest keep their defaults), in random order."""
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    return {name: draw(fields[name]) for name in chosen}


SHARE_PLACES = ("left", "right", "leaves", "by_name", "maybe_leaf", "leaf_or_number", "bundle")


@st.composite
def zoo_specs(draw: st.DrawFn) -> Node:
    """A `typezoo.zoo_task` call; one Leaf shared between the places drawn, maybe a Bundle too."""
    shared = draw(leaves())
    places = draw(st.sets(st.sampled_from(SHARE_PLACES)))
    scalars = Node(
        typezoo.Scalars,
        {
            "i": draw(ints),
            "f": draw(floats),
            "s": draw(texts),
            "b": draw(st.booleans()),
            "p": draw(paths),
            "color": draw(st.sampled_from(typezoo.Color)),
            "level": draw(st.sampled_from(typezoo.Level)),
            "mode": draw(st.sampled_from(["train", "eval", "test"])),
            "rank": draw(st.sampled_from([1, 2, 3])),
        },
    )
    bundle = None
    if draw(st.booleans()):
        first = shared if "bundle" in places else draw(leaves())
        bundle_args: dict[str, Any] = {"first": first}
        if draw(st.booleans()):
            bundle_args["second"] = draw(st.one_of(st.none(), leaves()))
        bundle = Node(typezoo.Bundle, bundle_args, explicit_target=draw(st.booleans()))
    container_fields: dict[str, st.SearchStrategy[Any]] = {
        "ints": st.lists(ints, max_size=3),
        "floats": st.lists(floats, max_size=3).map(tuple),
        "pair": st.tuples(texts, ints),
        "table": st.dictionaries(keys, floats, max_size=3),
        "tags": st.sets(texts, max_size=3),
        "frozen": st.frozensets(ints, max_size=3),
        "paths": st.lists(paths, max_size=2),
        "colors": st.lists(st.sampled_from(typezoo.Color), max_size=3),
        "color_set": st.sets(st.sampled_from(typezoo.Color), max_size=2),
        "leaves": st.lists(leaves(), max_size=2),
        "by_name": st.dictionaries(keys, leaves(), max_size=2),
        "nested": st.lists(st.lists(ints, max_size=2), max_size=2),
    }
    containers = _some(draw, container_fields)
    if "leaves" in places:
        items = containers.setdefault("leaves", [])
        items.insert(draw(st.integers(0, len(items))), shared)
    if "by_name" in places:
        containers.setdefault("by_name", {})[draw(keys)] = shared
    if bundle is not None and draw(st.booleans()):
        containers["bundle"] = bundle
    option_fields: dict[str, st.SearchStrategy[Any]] = {
        "maybe_int": st.one_of(st.none(), ints),
        "maybe_text": st.one_of(st.none(), texts),
        "maybe_leaf": st.one_of(st.none(), leaves()),
        "maybe_path": st.one_of(st.none(), paths, env_paths),
        "number_or_text": st.one_of(ints, texts),
        "leaf_or_number": st.one_of(floats, leaves()),
        "anything": st.one_of(any_values, leaves(in_any=True)),
        "fn": st.sampled_from([typezoo.square, typezoo.negate]),
    }
    options = _some(draw, option_fields)
    for place in ("maybe_leaf", "leaf_or_number"):
        if place in places:
            options[place] = shared
    if bundle is not None and (draw(st.booleans()) or "bundle" not in containers):
        options["bundle"] = bundle
    plain_args: dict[str, Any] = {"size": draw(ints)}
    if draw(st.booleans()):
        plain_args["label"] = draw(texts)
    plain_args.update(draw(st.dictionaries(kwarg_names, floats, max_size=3)))
    task_args: dict[str, Any] = {
        "scalars": scalars,
        "containers": Node(typezoo.Containers, containers, draw(st.booleans())),
        "options": Node(typezoo.Options, options, draw(st.booleans())),
        "plain": Node(typezoo.Plain, plain_args, draw(st.booleans())),
        "left": shared if "left" in places else draw(leaves()),
        "right": shared if "right" in places else draw(leaves()),
    }
    if draw(st.booleans()):
        task_args["steps"] = draw(ints)
    order = draw(st.permutations(list(task_args)))
    return Node(typezoo.zoo_task, {k: task_args[k] for k in order}, explicit_target=True)


# --- helpers ----------------------------------------------------------------------------------


class _SourceDumper(yaml.SafeDumper):
    ANCHOR_TEMPLATE = "m%d"


def _quoted_if_breaks(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # PyYAML writes NEL, LS, PS and CR unescaped in its other styles, and reads them back changed.
    style = '"' if any(c in data for c in "\r\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_SourceDumper.add_representer(str, _quoted_if_breaks)


def write_source(directory: Path, task: Node | dict[str, Node], description: str) -> Path:
    """The YAML spec a user would write for ``task``, or for tasks by name (shared sub-configs
    as anchors, also between tasks)."""
    tree: dict[str, Any] = {
        "nemorun": 1,
        "description": escape_interpolation(description),
        "pythonpath": [str(TESTS_DIR)],
    }
    memo: dict[int, Any] = {}
    if isinstance(task, Node):
        tree["task"] = spec_value(task, memo)
    else:
        tree["tasks"] = {name: {"task": spec_value(node, memo)} for name, node in task.items()}
    path = directory / "source.yaml"
    path.write_text(
        yaml.dump(tree, Dumper=_SourceDumper, sort_keys=False, allow_unicode=True),
        encoding="utf-8",
    )
    return path


def round_trip(spec: Any, fmt: str, directory: Path) -> tuple[Any, Any, str]:
    """Export ``spec`` as ``fmt`` into ``directory``, read it back: (graph, spec or None, text)."""
    text = export(spec, fmt, directory)
    path = directory / f"exported{SUFFIX[fmt]}"
    path.write_text(text, encoding="utf-8")
    if fmt == "python":
        return import_file(path).build(), None, text
    again = load(path)
    return task_graph(again), again, text


def first_difference(a: Any, b: Any, path: tuple[Any, ...] = ()) -> str | None:
    """The first place where two graphs differ, for a readable failure message."""
    if isinstance(a, fdl.Buildable) and isinstance(b, fdl.Buildable):
        if type(a) is not type(b) or fdl.get_callable(a) != fdl.get_callable(b):
            return f"{format_path(path)}: {a!r} != {b!r}"
        for name in {*a.__arguments__, *b.__arguments__}:
            missing = object()
            x, y = a.__arguments__.get(name, missing), b.__arguments__.get(name, missing)
            if x is missing or y is missing:
                return f"{format_path((*path, name))}: {x!r} != {y!r}"
            found = first_difference(x, y, (*path, name))
            if found:
                return found
        return None
    if isinstance(a, (list, tuple)) and type(a) is type(b) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, (*path, i))
            if found:
                return found
        return None
    if isinstance(a, dict) and isinstance(b, dict) and list(a) == list(b):
        for key in a:
            found = first_difference(a[key], b[key], (*path, key))
            if found:
                return found
        return None
    if a != b or type(a) is not type(b):
        return f"{format_path(path)}: {a!r} != {b!r}"
    return None


def assert_equal_graphs(actual: Any, expected: Any) -> None:
    assert actual == expected, first_difference(actual, expected)


def shared_groups(graph: Any) -> list[list[tuple[Any, ...]]]:
    """Every path to each buildable reached more than once, grouped by node."""
    paths: dict[int, list[tuple[Any, ...]]] = {}

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        if isinstance(value, fdl.Buildable):
            paths.setdefault(id(value), []).append(path)
            for name, arg in value.__arguments__.items():
                walk(arg, (*path, name))
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, (*path, i))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key))

    walk(graph, ())
    return [found for found in paths.values() if len(found) > 1]


def at(graph: Any, path: tuple[Any, ...]) -> Any:
    node = graph
    for part in path:
        node = getattr(node, part) if isinstance(node, fdl.Buildable) else node[part]
    return node


def assert_same_sharing(graph1: Any, graph2: Any) -> None:
    groups = shared_groups(graph1)
    # Compared as sets: TOML writes tables after plain values and Fiddle orders the arguments of
    # a Config built in Python by the signature, so the order of arguments may change.
    assert {frozenset(g) for g in groups} == {frozenset(g) for g in shared_groups(graph2)}
    for group in groups:
        first = at(graph2, group[0])
        for path in group[1:]:
            assert at(graph2, path) is first, f"{format_path(path)} is no longer shared"


def unsayable(graph: Any, fmt: str) -> list[str]:
    """Where ``fmt`` must refuse a value: TOML a None that is not the argument's default,
    JSON an infinite float."""
    found: list[str] = []
    seen: set[int] = set()

    def walk(value: Any, path: tuple[Any, ...], default: Any) -> None:
        if isinstance(value, fdl.Buildable):
            if id(value) in seen:
                return
            seen.add(id(value))
            schema = inspect_callable(fdl.get_callable(value))
            for name, arg in value.__arguments__.items():
                param = schema.params.get(name)
                walk(arg, (*path, name), param.default if param else object())
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, (*path, i), object())
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, (*path, key), object())
        elif isinstance(value, (set, frozenset)):
            for item in value:
                walk(item, path, object())
        elif fmt == "toml" and value is None and default is not None:
            found.append(format_path(path))  # TOML has no null
        elif fmt == "json" and isinstance(value, float) and math.isinf(value):
            found.append(format_path(path))  # JSON has no infinity

    walk(graph, ("task",), object())
    return found


# --- the properties -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(task=zoo_specs(), description=texts)
def test_round_trip(
    fmt: str, task: Node, description: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp(fmt)
    spec = load(write_source(directory, task, description))
    graph = task_graph(spec)
    # The source spec means what the generated values say.
    assert_equal_graphs(graph, graph_value(task, {}, root=True))
    assert spec.description == description
    if refused := unsayable(graph, fmt):
        with pytest.raises(SpecErrors) as info:
            export(spec, fmt, directory)
        assert sorted(format_path(e.path) for e in info.value.errors) == sorted(refused)
        what = "TOML has no null" if fmt == "toml" else "JSON has no "
        assert all(e.message.startswith(what) for e in info.value.errors)
        return
    graph2, spec2, text = round_trip(spec, fmt, directory)
    assert_equal_graphs(graph2, graph)
    assert_same_sharing(graph, graph2)
    if spec2 is not None:
        assert spec2.description == description
        # A second export of the loaded export is the same text: the format is a fixed point.
        assert export(spec2, fmt, directory) == text


@st.composite
def multi_task_specs(draw: st.DrawFn) -> dict[str, Node]:
    """Two or three `zoo_specs` tasks by name; a leaf of the first maybe shared with the others."""
    count = draw(st.integers(2, 3))
    names = draw(st.permutations(["train", "eval", "a", "b_2"]))[:count]
    tasks = [draw(zoo_specs()) for _ in names]
    shared = tasks[0].args["left"]
    for task in tasks[1:]:
        if draw(st.booleans()):
            task.args[draw(st.sampled_from(["left", "right"]))] = shared
    return dict(zip(names, tasks))


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(tasks=multi_task_specs())
def test_round_trip_of_several_tasks(
    fmt: str, tasks: dict[str, Node], tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp(fmt)
    spec = load(write_source(directory, tasks, "tasks"))
    graphs = spec_graphs(spec)
    memo: dict[int, Any] = {}
    assert_equal_graphs(graphs, {n: graph_value(t, memo, root=True) for n, t in tasks.items()})
    if any(unsayable(graph, fmt) for graph in graphs.values()):
        with pytest.raises(SpecErrors):
            export(spec, fmt, directory)
        return
    text = export(spec, fmt, directory)
    # Exporting again is the same text: sharing is the spec's, not where objects happened to be.
    assert all(export(spec, fmt, directory) == text for _ in range(3))
    path = directory / f"exported{SUFFIX[fmt]}"
    path.write_text(text, encoding="utf-8")
    if fmt == "python":
        module = import_file(path)
        for name, graph in graphs.items():
            built = getattr(module, f"build_{name}")()
            assert_equal_graphs(built, graph)
            assert_same_sharing(graph, built)
        return
    graphs2 = spec_graphs(load(path))
    assert_equal_graphs(graphs2, graphs)
    assert_same_sharing(graphs, graphs2)


def small_zoo(**args: Any) -> Node:
    """A `typezoo.zoo_task` call with every required argument, updated with ``args``."""
    scalars = {"i": 1, "f": 0.5, "s": "s", "b": True, "p": Path("p")}
    scalars.update(color=typezoo.Color.RED, level=typezoo.Level.LOW, mode="train", rank=1)
    task_args: dict[str, Any] = {
        "scalars": Node(typezoo.Scalars, scalars),
        "containers": Node(typezoo.Containers),
        "options": Node(typezoo.Options),
        "plain": Node(typezoo.Plain, {"size": 1}),
        "left": Node(typezoo.Leaf, {"name": "left"}),
        "right": Node(typezoo.Leaf, {"name": "right"}),
    }
    return Node(typezoo.zoo_task, {**task_args, **args}, explicit_target=True)


@pytest.mark.parametrize("fmt", FORMATS)
def test_keyword_arguments_that_are_not_identifiers(fmt: str, tmp_path: Path) -> None:
    extra = {"class": 1.0, "a-b": 2.0, "with space": 3.0, "ünï": 4.0, "lambda": 5.0}
    task = small_zoo(plain=Node(typezoo.Plain, {"size": 1, **extra}))
    spec = load(write_source(tmp_path, task, "kwargs"))
    graph = task_graph(spec)
    graph2, _, text = round_trip(spec, fmt, tmp_path)
    assert_equal_graphs(graph2, graph)
    assert graph2.plain.__arguments__ == {"size": 1, **extra}
    if fmt == "python":
        assert "**{'class': 1.0}," in text
