"""Hostile and broken spec files: each is a located error (exit 2), never a traceback or a hang,
and never a value silently changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EXAMPLES, CliResult

Cli = Callable[..., CliResult]


def deep(kind: str, levels: int) -> str:
    if kind == "yaml":
        return (
            "nemorun: 1\ntask:\n  command: 'true'\n  env: " + "{a: " * levels + "1" + "}" * levels
        )
    if kind == "json":
        inner = '{"a": ' * levels + "1" + "}" * levels
        return '{"nemorun": 1, "task": {"command": "true", "env": ' + inner + "}}"
    return 'nemorun = 1\n[task]\ncommand = "true"\nenv = ' + "{a = " * levels + "1" + "}" * levels


def alias_bomb() -> str:
    lines = ["nemorun: 1", "a0: &a0 [x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    return "\n".join([*lines, "task: {command: 'true', env: {X: *a29}}"]) + "\n"


def ref_bomb() -> str:
    tree: dict[str, object] = {"nemorun": 1, "a0": ["x", "x"]}
    for i in range(1, 30):
        tree[f"a{i}"] = [{"_ref_": f"a{i - 1}"}, {"_ref_": f"a{i - 1}"}]
    tree["task"] = {"command": "true", "env": {"X": {"_ref_": "a29"}}}
    return json.dumps(tree)


QUICK = f"nemorun: 1\npythonpath: [{EXAMPLES}]\ntask:\n  _target_: trainlib:train\n"
V1, CMD = "nemorun: 1\n", "task: {command: 'true'}\n"
READ_HERE = "nemorun reads this setting itself"
CASES = [
    ("deep.yaml", deep("yaml", 600), "nests more than 100 levels"),
    ("deep.json", deep("json", 600), "nests more than 100 levels"),
    ("deep.toml", deep("toml", 600), "nests more than 100 levels"),
    ("bomb.yaml", alias_bomb(), "more than 200,000 key paths"),
    ("bomb.json", ref_bomb(), "more than 200,000 key paths"),
    (
        "big.yaml",
        QUICK + "  model: {}\n  optim: {}\n  steps: " + "9" * 5000 + "\n",
        "task.steps: cannot read this value",
    ),
    ("tag.yaml", V1 + "task: !foo {command: 'true'}\n", "tag.yaml:2:7: task: the YAML tag !foo"),
    ("tagseq.yaml", V1 + "task: {command: !!set [a]}\n", "the YAML tag"),
    (
        "date.toml",
        'nemorun = 1\n[task]\ncommand = "true"\nwhen = 1979-05-27\n',
        "date.toml:4:1: task.when: a TOML date",
    ),
    ("name.yaml", V1 + "name: ${oc.env:X}\n" + CMD, f"name.yaml:2:7: name: {READ_HERE}"),
    ("templates.yaml", V1 + "templates: ${oc.env:X}\n" + CMD, f"templates: {READ_HERE}"),
    ("script.yaml", V1 + "task: {script: '${oc.env:X}'}\n", f"task.script: {READ_HERE}"),
    (
        "command.yaml",
        V1 + "task: {command: 'echo ${oc.env:HOME}'}\n",
        "command.yaml:2:17: task.command: an environment reference cannot be part of a command",
    ),
    ("target.yaml", V1 + CMD + "executor: {target: 1}\n", "executor.target"),
    ("intkey.yaml", V1 + CMD + "1: 2\n", "unknown top-level key"),
    ("big.toml", 'nemorun = 1\n[task]\ncommand = "true"\nn = ' + "9" * 5000, "cannot read a value"),
    ("big.json", '{"nemorun": 1, "task": {"n": ' + "9" * 5000 + "}}", "cannot read a value"),
    (
        "nulpath.yaml",
        V1 + 'pythonpath: ["a\\0b"]\n' + CMD,
        "pythonpath[0]: a path cannot hold a NUL",
    ),
    ("nultpl.yaml", V1 + 'templates: "a\\0b"\n' + CMD, "templates: a path cannot hold a NUL"),
    (
        "nulext.yaml",
        V1 + 'extends: ["a\\0b.yaml"]\n' + CMD,
        "extends[0]: a file path cannot hold a NUL",
    ),
    (
        "envkey.yaml",
        V1 + CMD + 'executor: {env: {"A${oc.env:HOME}": 1}}\n',
        "a mapping key cannot be an environment reference",
    ),
    ("longext.yaml", V1 + "extends: " + "x" * 5000 + "\n" + CMD, "extends[0]: base spec"),
    (
        "lone.json",
        '{"nemorun": 1, "name": "a\\ud800", "task": {"command": "true"}}',
        "lone.json: name: a \\ud800-\\udfff escape that is half of a pair",
    ),
]


@pytest.mark.parametrize(("name", "text", "message"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["validate", "compile"])
def test_hostile_file_is_a_located_error(
    cli: Cli, workdir: Path, name: str, text: str, message: str, command: str
) -> None:
    (workdir / name).write_text(text, encoding="utf-8")
    result = cli(command, name)
    assert result.code == 2, result.err
    assert message in result.err
    assert "internal error" not in result.err and "Traceback" not in result.err


def test_a_yaml_date_reaches_the_job_as_the_text_written(cli: Cli, workdir: Path) -> None:
    (workdir / "d.yaml").write_text(
        QUICK + "  model: {}\n  optim: {}\n  steps: 1\n  tag: 2024-01-01\n", encoding="utf-8"
    )
    result = cli("compile", "d.yaml")
    assert result.code == 0, result.err
    assert "tag='2024-01-01'" in result.out


def test_a_very_long_run_name_still_runs(
    cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMORUN_HOME", str(workdir / "home"))
    for name in ("n" * 300, "n" * 299 + "m"):
        (workdir / "long.yaml").write_text(V1 + f"name: {name}\n" + CMD, encoding="utf-8")
        result = cli("run", "long.yaml")
        assert result.code == 0, result.err
    stems = {p.name for p in (workdir / "home").rglob("*.sh")}
    assert len(stems) == 2 and all(len(s) <= 63 for s in stems)
