"""No spelling of an environment reference is read while nemorun compiles: the value of the
build machine's variable never reaches an artifact, the entry point, the record or the logs."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult

Cli = Callable[..., CliResult]
HERE = Path(__file__).resolve().parent
SPEC = f"""\
nemorun: 1
name: sealed
pythonpath: [{HERE / "compiler"}]
task:
  _target_: tablelib:quiet
  cfg:
    plain: ${{oc.env:NEMORUN_TEST_SECRET}}
    inside: "pre_${{oc.env:NEMORUN_TEST_SECRET}}_post"
    defaulted: "${{oc.env:NEMORUN_TEST_SECRET,http://a:b}}"
    with_key: "${{oc.env:NEMORUN_TEST_SECRET}}/${{name}}"
  tag: "${{oc.env:NEMORUN_TEST_SECRET}}"
"""
REFUSED = [
    "cfg.x=${ oc.env:NEMORUN_TEST_SECRET}",
    "cfg.x='${oc.decode:${oc.env:NEMORUN_TEST_SECRET}}'",
    "cfg.x='${oc.select:nope,${oc.env:NEMORUN_TEST_SECRET}}'",
    "cfg.x='${oc.decode:\"${oc.env:NEMORUN_TEST_SECRET}\"}'",
]


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> str:
    value = "s3cr3t-" + secrets.token_hex(8)
    monkeypatch.setenv("NEMORUN_TEST_SECRET", value)
    monkeypatch.setenv("NEMORUN_HOME", str(workdir / "home"))
    return value


def files_holding(root: Path, text: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_a_run_never_holds_the_secret(cli: Cli, secret: str, workdir: Path) -> None:
    spec = workdir / "sealed.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = cli("run", str(spec))
    assert result.code == 0, result.err
    assert "received" in cli("logs", "sealed").out
    assert secret not in result.out + result.err
    home = workdir / "home"
    assert list(home.rglob("run.json")), "the run left no record"
    assert files_holding(home, secret) == []
    exported = cli("export", str(spec), "--format", "yaml")
    assert exported.code == 0 and secret not in exported.out


@pytest.mark.parametrize("override", REFUSED)
def test_every_other_spelling_is_refused_where_it_is_written(
    cli: Cli, secret: str, workdir: Path, override: str
) -> None:
    spec = workdir / "sealed.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    result = cli("run", str(spec), override)
    assert result.code == 2
    assert "would read the environment variable NEMORUN_TEST_SECRET" in result.err
    assert "override 1" in result.err
    assert secret not in result.out + result.err
    assert not (workdir / "home").exists() or files_holding(workdir / "home", secret) == []


@pytest.mark.parametrize(
    "value",
    [
        "${ oc.env:NEMORUN_TEST_SECRET}",
        "${oc.decode:${oc.env:NEMORUN_TEST_SECRET}}",
        "x_${oc.select:nope,${oc.env:NEMORUN_TEST_SECRET}}",
    ],
)
def test_in_a_spec_file_too(cli: Cli, secret: str, workdir: Path, value: str) -> None:
    spec = workdir / "sealed.yaml"
    spec.write_text(SPEC.replace("  tag: ", f"  tag: {value!r}\n  # "), encoding="utf-8")
    result = cli("compile", str(spec))
    assert result.code == 2
    assert "sealed.yaml:11:8:" in result.err and "task.tag" in result.err
    assert secret not in result.out + result.err


def test_a_quoted_default_reaches_a_command_without_its_quotes(cli: Cli, workdir: Path) -> None:
    spec = workdir / "q.yaml"
    spec.write_text(
        "nemorun: 1\nname: q\ntask: {command: 'echo \"[$X]\"'}\n"
        "executor: {env: {X: \"${oc.env:NEMORUN_TEST_UNSET,'a b'}\"}}\n",
        encoding="utf-8",
    )
    result = cli("run", str(spec))
    assert result.code == 0, result.err
    assert "[a b]" in cli("logs", "q").out
