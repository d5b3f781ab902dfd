"""Exports by example: the specs in configs/, running the Python export, provenance comments,
environment references, and what each format cannot say (TOML null, JSON infinity, ``_ref_``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import fiddle as fdl
import libcst as cst
import pytest
from conftest import import_file

ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = ROOT / "tests"
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

from nemorun.api import load  # noqa: E402
from nemorun.compiler.export import export  # noqa: E402
from nemorun.compiler.graph import task_graph  # noqa: E402
from nemorun.errors import SpecErrors, format_path  # noqa: E402

CONFIGS = sorted(p for p in (ROOT / "configs").iterdir() if p.suffix in (".yaml", ".toml"))
SPEC_FORMATS = ("yaml", "toml", "json")
SUFFIX = {"yaml": ".yaml", "toml": ".toml", "json": ".json", "python": ".py"}
ENV_VARS = ("DATA_DIR", "ZOO_COUNT", "ZOO_LEVEL", "ZOO_FLAG", "ZOO_RANK", "ZOO_EITHER", "ZOO_RATIO")


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from the repository root, so provenance reads ``configs/quickstart.yaml:10``."""
    monkeypatch.chdir(ROOT)
    return ROOT


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def zoo_spec(directory: Path, *parts: str, name: str = "spec.yaml") -> Path:
    """A YAML spec calling into ``typezoo``; ``parts`` make up the body of ``task:``."""
    body = "\n".join(textwrap.dedent(part).strip() for part in parts)
    head = f"nemorun: 1\npythonpath: [{TESTS_DIR}]\ntask:\n"
    return write(directory, name, head + textwrap.indent(body, "  "))


REQUIRED = """
    _target_: typezoo:zoo_task
    scalars: {i: 1, f: 0.5, s: s, b: true, p: p, color: RED, level: LOW, mode: train, rank: 1}
    plain: {size: 1}
    left: {name: left}
    right: {name: right}
"""
SCALARS = REQUIRED + "    containers: {}\n"


def exported(spec: Any, fmt: str, directory: Path, name: str = "exported") -> Path:
    path = directory / f"{name}{SUFFIX[fmt]}"
    path.write_text(export(spec, fmt, directory), encoding="utf-8")
    return path


def run_python(
    path: Path, env: dict[str, str], *pythonpath: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``path`` with plain Python, in a clean environment plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if k not in ENV_VARS and k != "PYTHONPATH"}
    clean["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    return subprocess.run(
        [sys.executable, str(path)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --- the example specs ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", SPEC_FORMATS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_config_round_trips(config: Path, fmt: str, tmp_path: Path, in_root: Path) -> None:
    spec = load(config.relative_to(ROOT))
    again = load(exported(spec, fmt, tmp_path))
    assert [(a.path, a.values) for a in again.axes] == [(a.path, a.values) for a in spec.axes]
    assert again.num_points() == spec.num_points()
    for point in spec.points():
        assert task_graph(again.at_point(point)) == task_graph(spec.at_point(point))
    for field in ("name", "description", "target", "executor", "launcher", "packager"):
        assert getattr(again, field) == getattr(spec, field), field
    assert again.pythonpath == spec.pythonpath


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_config_exports_to_python(config: Path, tmp_path: Path, in_root: Path) -> None:
    spec = load(config.relative_to(ROOT))
    if spec.is_sweep():
        with pytest.raises(SpecErrors) as info:
            export(spec, "python")
        message = str(info.value)
        assert "a Python export holds one run, and this spec sweeps task.optim.lr" in message
        assert "export --format yaml to keep the sweep" in message
        return
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        module = import_file(exported(spec, "python", tmp_path))
        assert module.build() == task_graph(spec)
    finally:
        sys.path.remove(str(ROOT / "examples"))


def test_sweep_spec_keeps_its_sweep(tmp_path: Path, in_root: Path) -> None:
    spec = load("configs/pretrain.yaml")
    for fmt in SPEC_FORMATS:
        text = export(spec, fmt, tmp_path)
        assert "optim.lr" in text
        assert load(exported(spec, fmt, tmp_path)).num_points() == 3


def test_one_point_of_a_sweep_exports_to_python(tmp_path: Path, in_root: Path) -> None:
    # What the error message suggests: drop the sweep, set the value.
    spec = load("configs/pretrain.yaml", ["~sweep", "optim.lr=3e-4"])
    text = export(spec, "python")
    assert "lr=0.0003,  # override: optim.lr=3e-4" in text
    assert "# Overrides: ~sweep optim.lr=3e-4" in text
    assert "(extends configs/base.yaml)" in text


# --- the Python export --------------------------------------------------------------------------


def test_python_export_of_quickstart_runs(tmp_path: Path, in_root: Path) -> None:
    path = exported(load("configs/quickstart.yaml", ["steps=10"]), "python", tmp_path)
    result = run_python(path, {}, ROOT / "examples")
    assert result.returncode == 0, result.stderr
    losses = [line for line in result.stdout.splitlines() if re.search(r"step \d+ loss ", line)]
    assert losses and losses[-1].startswith("[train] step 10 loss ")


@pytest.mark.parametrize("where", ["stdout", "-o"])
def test_python_export_runs_with_plain_python_from_any_directory(
    where: str, tmp_path: Path, in_root: Path
) -> None:
    """No PYTHONPATH: the module carries the spec's pythonpath, relative to its own file."""
    out_dir = tmp_path / "out" / "deeper"
    out_dir.mkdir(parents=True)
    module = out_dir / "quickstart.py"
    spec = str(ROOT / "configs" / "quickstart.yaml")
    argv = [sys.executable, "-m", "nemorun.cli", "export", spec, "steps=3", "--format", "python"]
    nemorun_env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if where == "-o":
        made = subprocess.run([*argv, "-o", str(module)], env=nemorun_env, check=False)
    else:  # written relative to the current directory, where the module is then saved
        with module.open("w", encoding="utf-8") as handle:
            made = subprocess.run(argv, env=nemorun_env, cwd=out_dir, stdout=handle, check=False)
    assert made.returncode == 0
    plain_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd, path in [(tmp_path, module.relative_to(tmp_path)), (elsewhere, module)]:
        result = subprocess.run(
            [sys.executable, str(path)],
            cwd=cwd,
            env=plain_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("[train] point=0 model=32x2 RELU optim=sgd lr=0.05")
        assert "[train] step 3 loss " in result.stdout


def _comments_by_argument(text: str) -> dict[str, list[str | None]]:
    """Every keyword argument in the module → the comments after it, in order."""
    found: dict[str, list[str | None]] = {}

    class Visitor(cst.CSTVisitor):
        def visit_Arg(self, node: cst.Arg) -> None:
            if node.keyword is None:
                return
            comment = None
            comma = node.comma
            if isinstance(comma, cst.Comma):
                ws = comma.whitespace_after
                if isinstance(ws, cst.ParenthesizedWhitespace) and ws.first_line.comment:
                    comment = ws.first_line.comment.value
            found.setdefault(node.keyword.value, []).append(comment)

    cst.parse_module(text).visit(Visitor())
    return found


def test_python_export_carries_provenance(in_root: Path) -> None:
    text = export(load("configs/quickstart.yaml", ["steps=10"]), "python")
    comments = _comments_by_argument(text)
    assert comments == {
        "model": ["# configs/quickstart.yaml:9"],
        "hidden_size": ["# configs/quickstart.yaml:10"],
        "optim": ["# configs/quickstart.yaml:11"],
        "lr": ["# configs/quickstart.yaml:12"],
        "steps": ["# override: steps=10"],
    }
    assert "hidden_size=32,  # configs/quickstart.yaml:10\n" in text
    assert "steps=10,  # override: steps=10\n" in text


def test_every_argument_has_a_provenance_comment(in_root: Path) -> None:
    for config in ("configs/base.yaml", "configs/finetune.toml"):
        comments = _comments_by_argument(export(load(config, ["seed=3"]), "python"))
        for found in comments.values():  # env_value(template=…, to=…) included
            assert all(c and re.fullmatch(r"# (configs/\S+:\d+|override: .+)", c) for c in found)
        assert comments["seed"] == ["# override: seed=3"]


def test_python_export_layout(tmp_path: Path) -> None:
    spec = load(
        zoo_spec(
            tmp_path,
            REQUIRED,
            """
            options:
              anything: [1, two, {three: 3}]
            containers:
              leaves: [{name: a}, {name: b, weight: 2.0}]
              by_name: {x: {name: x}}
              tags: [b, a, c]
              frozen: [3, 1, 2]
              color_set: [GREEN, RED]
              floats: [.inf, -.inf, 1.0e-300]
              ints: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22]
            """,
        )
    )
    text = export(spec, "python")
    module = import_file(write(tmp_path, "exported.py", text))
    assert module.build() == task_graph(spec)
    lines = text.splitlines()
    assert all(line == line.rstrip() for line in lines), "trailing whitespace"
    assert all((len(line) - len(line.lstrip(" "))) % 4 == 0 for line in lines)
    # Containers of configs, and long ones, put one item on each line; short ones stay inline.
    assert "            leaves=[\n                fdl.Config(\n" in text
    assert "            by_name={\n                'x': fdl.Config(\n" in text
    assert "            ints=[\n                1,\n" in text
    assert "tags={'a', 'b', 'c'},  #" in text
    assert "frozen=frozenset({1, 2, 3}),  #" in text
    assert "color_set={typezoo.Color.GREEN, typezoo.Color.RED},  #" in text
    assert "floats=(float('inf'), float('-inf'), 1e-300),  #" in text
    assert "anything=[1, 'two', {'three': 3}],  #" in text
    # The spec's pythonpath (relative to the module's directory, here the current one) comes
    # first; Path values use the pathlib imported for it.
    tests = os.path.relpath(TESTS_DIR, Path.cwd())
    imports = lines[lines.index("import pathlib") : lines.index("import typezoo") + 1]
    assert imports == [
        "import pathlib",
        "import sys",
        "",
        "# The spec's pythonpath, relative to this file: where the task's code is.",
        "_HERE = pathlib.Path(__file__).resolve().parent",
        "sys.path[:0] = [",
        f"    str(_HERE / {tests!r}),",
        "]",
        "",
        "import fiddle as fdl",
        "import typezoo",
    ]


def test_python_export_of_several_tasks(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "multi.yaml",
        f"""
        nemorun: 1
        pythonpath: [{ROOT / "examples"}]
        tasks:
          prep:
            task: {{command: 'echo \\${{ZOO_WHO:-nobody}} prep-ran'}}
          train:
            task:
              _target_: trainlib:train
              model: {{hidden_size: 8}}
              optim: {{lr: 0.1}}
              steps: 3
              log_every: 1
            after: [prep]
        """,
    )
    spec = load(path)
    text = export(spec, "python")
    assert "def build_prep() -> fdl.Partial:" in text
    assert f"'echo ${{ZOO_WHO:-nobody}} prep-ran',  # {path}:5" in text
    assert "nemorun/compiler/graph.py" not in text  # provenance is the spec, not our code
    result = run_python(write(tmp_path, "multi.py", text), {}, ROOT / "examples")
    assert result.returncode == 0, result.stderr
    assert result.stdout.index("nobody prep-ran") < result.stdout.index("step 3 loss")
    for fmt in SPEC_FORMATS:
        again = load(exported(spec, fmt, tmp_path))
        assert again.tasks["prep"].command == spec.tasks["prep"].command
        assert spec.tasks["prep"].command.command == "echo ${ZOO_WHO:-nobody} prep-ran"
        assert again.tasks["train"].after == ["prep"]
        assert task_graph(again, again.tasks["train"]) == task_graph(spec, spec.tasks["train"])


# --- environment references ---------------------------------------------------------------------

ENV_TASK = """
    _target_: typezoo:show
    value: ${oc.env:DATA_DIR,/tmp/data}
    label: run-${oc.env:ZOO_LABEL,a}
    count: ${oc.env:ZOO_COUNT,3}
    level: ${oc.env:ZOO_LEVEL,MID}
    flag: ${oc.env:ZOO_FLAG,no}
    rank: ${oc.env:ZOO_RANK,2}
    either: ${oc.env:ZOO_EITHER,12}
    ratio: ${oc.env:ZOO_RATIO,0.5}
"""


@pytest.mark.parametrize("fmt", SPEC_FORMATS)
def test_env_references_stay_references(fmt: str, tmp_path: Path) -> None:
    spec = load(zoo_spec(tmp_path, ENV_TASK))
    text = export(spec, fmt, tmp_path)
    for template in re.findall(r"\$\{oc\.env:[^}]*\}", ENV_TASK):
        assert template in text
    assert "run-${oc.env:ZOO_LABEL,a}" in text
    assert task_graph(load(exported(spec, fmt, tmp_path))) == task_graph(spec)


def test_python_export_reads_the_environment_when_built(tmp_path: Path) -> None:
    path = exported(load(zoo_spec(tmp_path, ENV_TASK)), "python", tmp_path)
    text = path.read_text()
    assert "template='${oc.env:DATA_DIR,/tmp/data}'" in text
    default = run_python(path, {}, TESTS_DIR)
    assert default.returncode == 0, default.stderr
    assert default.stdout.strip() == (
        "run-a: value=PosixPath('/tmp/data') count=3 level=<Level.MID: 2> flag=False rank=2"
        " either=12 ratio=0.5"
    )
    env = {
        "DATA_DIR": "/data/x",
        "ZOO_LABEL": "b",
        "ZOO_COUNT": "null",
        "ZOO_LEVEL": "HIGH",
        "ZOO_FLAG": "on",
        "ZOO_RANK": "3",
        "ZOO_EITHER": "twelve",
        "ZOO_RATIO": "-1e-3",
    }
    changed = run_python(path, env, TESTS_DIR)
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == (
        "run-b: value=PosixPath('/data/x') count=None level=<Level.HIGH: 3> flag=True rank=3"
        " either='twelve' ratio=-0.001"
    )


def test_python_export_of_base_reads_data_dir(tmp_path: Path, in_root: Path) -> None:
    spec = load("configs/base.yaml", ["steps=2", "log_every=1"])
    path = exported(spec, "python", tmp_path)
    for env, shown in (({}, "data=/tmp/data"), ({"DATA_DIR": "/mnt/d"}, "data=/mnt/d")):
        result = run_python(path, env, ROOT / "examples")
        assert result.returncode == 0, result.stderr
        assert shown in result.stdout.splitlines()[0]


# --- what a format cannot say -------------------------------------------------------------------


def test_toml_refuses_a_none_that_is_not_the_default(tmp_path: Path) -> None:
    spec = load(zoo_spec(tmp_path, SCALARS, "options: {maybe_text: null, anything: [1, null]}"))
    with pytest.raises(SpecErrors) as info:
        export(spec, "toml", tmp_path)
    assert [format_path(e.path) for e in info.value.errors] == [
        "task.options.maybe_text",
        "task.options.anything[1]",
    ]
    message = str(info.value)
    assert "task.options.maybe_text: TOML has no null, and this None is not the default" in message
    assert "export as yaml or json" in message
    for fmt in ("yaml", "json", "python"):
        export(spec, fmt, tmp_path)  # the others can say it


def test_toml_leaves_out_a_none_equal_to_the_default(tmp_path: Path) -> None:
    spec = load(zoo_spec(tmp_path, SCALARS, "options: {maybe_int: null, maybe_leaf: null}"))
    text = export(spec, "toml", tmp_path)
    assert "maybe_int" not in text and "maybe_leaf" not in text
    graph = task_graph(spec)
    again = task_graph(load(exported(spec, "toml", tmp_path)))
    assert again == graph
    assert "maybe_int" in graph.options.__arguments__
    assert "maybe_int" not in again.options.__arguments__


def test_json_refuses_infinity(tmp_path: Path) -> None:
    spec = load(zoo_spec(tmp_path, SCALARS.replace("f: 0.5", "f: -.inf"), "options: {}"))
    with pytest.raises(SpecErrors) as info:
        export(spec, "json", tmp_path)
    assert str(info.value).startswith("task.scalars.f: JSON has no -inf")
    for fmt in ("yaml", "toml"):
        assert task_graph(load(exported(spec, fmt, tmp_path))).scalars.f == float("-inf")


def test_json_numbers_and_characters_mean_the_same_to_the_yaml_loader(tmp_path: Path) -> None:
    written = r'"\N \L \x7F \0 \uFFFE end"'  # YAML escapes of NEL, LS, DEL, NUL, U+FFFE
    spec = load(
        zoo_spec(tmp_path, SCALARS, f"options: {{anything: [1.0e-05, 1.0e+300, {written}]}}")
    )
    text = "\x85 \u2028 \x7f \x00 \ufffe end"
    assert task_graph(spec).options.anything == [1e-05, 1e300, text]
    json_text = export(spec, "json", tmp_path)
    assert "1.0e-05" in json_text and "1.0e+300" in json_text
    assert "\\u0085 \\u2028 \\u007f \\u0000 \\ufffe end" in json_text
    again = task_graph(load(exported(spec, "json", tmp_path)))
    assert again.options.anything == [1e-05, 1e300, text]


def test_strings_that_look_like_interpolations_stay_strings(tmp_path: Path) -> None:
    literal = r"${task.steps} \${x} $ {"
    written = r"'\${task.steps} \\\${x} $ {'"  # a literal ${ is written \${
    spec = load(zoo_spec(tmp_path, SCALARS.replace("s: s", f"s: {written}"), "options: {}"))
    assert task_graph(spec).scalars.s == literal
    for fmt in SPEC_FORMATS:
        assert task_graph(load(exported(spec, fmt, tmp_path))).scalars.s == literal
    assert r"s: \${task.steps} \\\${x} $ {" in export(spec, "yaml", tmp_path)


def test_a_shared_node_first_met_under_a_dotted_key(tmp_path: Path) -> None:
    spec = load(
        zoo_spec(
            tmp_path,
            """
            _target_: typezoo:zoo_task
            scalars: {i: 1, f: 0.5, s: s, b: true, p: p, color: RED, level: LOW, mode: train,
                      rank: 1}
            containers: {by_name: {"a.b": &m {name: shared}, "": *m, ok: *m}}
            plain: {size: 1}
            options: {}
            left: *m
            right: *m
            """,
        )
    )
    graph = task_graph(spec)
    for fmt in ("json", "toml"):
        text = export(spec, fmt, tmp_path)
        assert "task.containers.by_name.ok" in text  # the first place a _ref_ can name
        again = task_graph(load(exported(spec, fmt, tmp_path)))
        assert again == graph
        shared = again.containers.by_name["ok"]
        assert again.containers.by_name["a.b"] is shared and again.containers.by_name[""] is shared
        assert again.left is shared and again.right is shared


def test_a_shared_node_no_ref_can_name(tmp_path: Path) -> None:
    spec = load(
        zoo_spec(
            tmp_path,
            """
            _target_: typezoo:zoo_task
            scalars: {i: 1, f: 0.5, s: s, b: true, p: p, color: RED, level: LOW, mode: train,
                      rank: 1}
            containers: {by_name: {"a.b": &m {name: shared}, "c.d": *m}}
            plain: {size: 1}
            options: {}
            left: {name: l}
            right: {name: r}
            """,
        )
    )
    for fmt in ("json", "toml"):
        with pytest.raises(SpecErrors, match=r"task\.containers\.by_name\.a\.b: this sub-config"):
            export(spec, fmt, tmp_path)
    again = task_graph(load(exported(spec, "yaml", tmp_path)))
    assert again.containers.by_name["a.b"] is again.containers.by_name["c.d"]


def test_yaml_anchors_are_named_after_their_key(tmp_path: Path) -> None:
    spec = load(
        zoo_spec(
            tmp_path,
            """
            _target_: typezoo:zoo_task
            scalars: {i: 1, f: 0.5, s: "*id001 &id001", b: true, p: p, color: RED, level: LOW,
                      mode: train, rank: 1}
            containers: {leaves: [{name: a}, &m {name: shared}]}
            plain: {size: 1}
            left: *m
            right: *m
            options: {maybe_leaf: &n {name: other}, leaf_or_number: *n}
            """,
        )
    )
    text = export(spec, "yaml", tmp_path)
    assert "  - &leaves_1\n" in text and "  left: *leaves_1\n" in text
    assert "maybe_leaf: &maybe_leaf\n" in text and "leaf_or_number: *maybe_leaf\n" in text
    again = task_graph(load(exported(spec, "yaml", tmp_path)))
    assert again.scalars.s == "*id001 &id001"
    assert again.left is again.right is again.containers.leaves[1]


def test_graph_of_a_loaded_export_is_a_fixed_point(tmp_path: Path) -> None:
    spec = load(zoo_spec(tmp_path, SCALARS, "options: {fn: typezoo:negate}"))
    for fmt in SPEC_FORMATS:
        first = exported(spec, fmt, tmp_path, "first")
        second = exported(load(first), fmt, tmp_path, "second")
        assert first.read_text() == second.read_text()
    assert isinstance(task_graph(spec), fdl.Partial)


def test_python_export_imports_what_only_a_set_names(tmp_path: Path) -> None:
    write(tmp_path, "zoo_shades.py", "import enum\n\nclass Shade(enum.Enum):\n    DARK = 1\n")
    write(
        tmp_path,
        "zoo_paint.py",
        """
        from zoo_shades import Shade

        def paint(shades: set[Shade]) -> None:
            print(sorted(s.name for s in shades))
        """,
    )
    spec_path = write(
        tmp_path,
        "s.yaml",
        "nemorun: 1\npythonpath: [.]\ntask: {_target_: zoo_paint:paint, shades: [DARK]}\n",
    )
    text = export(load(spec_path), "python")
    assert "import zoo_shades\n" in text
    result = run_python(write(tmp_path, "s.py", text), {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['DARK']\n"


def test_python_export_of_tasks_whose_modules_share_a_name(tmp_path: Path) -> None:
    for package in ("zoo_pa", "zoo_pb"):
        (tmp_path / package).mkdir()
        write(tmp_path / package, "__init__.py", "")
        write(
            tmp_path / package,
            "train.py",
            f"def main(n: int) -> None:\n    print('{package}', n)\n",
        )
    spec_path = write(
        tmp_path,
        "two.yaml",
        """
        nemorun: 1
        pythonpath: [.]
        tasks:
          a: {task: {_target_: "zoo_pa.train:main", n: 1}}
          b: {task: {_target_: "zoo_pb.train:main", n: 2}}
        """,
    )
    text = export(load(spec_path), "python")
    assert "from zoo_pa import train\n" in text and "from zoo_pb import train as train_2\n" in text
    result = run_python(write(tmp_path, "two.py", text), {}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "zoo_pa 1\nzoo_pb 2\n"
