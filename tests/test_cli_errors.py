"""Bad input through the real command line: one located line per mistake, exit code 2, and
never a traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

WriteSpec = Callable[[str, str], Path]
Cli = Callable[..., Any]  # the `cli` fixture of conftest.py, returning a `CliResult`

GOOD = """
nemorun: 1
name: quick
pythonpath: [{examples}]
task:
  _target_: trainlib:train
  model: {hidden_size: 8}
  optim: {lr: 0.1}
  steps: 10
"""

NEMORUN = Path(sys.executable).parent / "nemorun"


def assert_bad_input(result: Any, *lines: str) -> None:
    """Exit code 2, exactly ``lines`` as the errors, a count when several, no traceback."""
    assert result.code == 2, result.err
    assert result.error_lines == list(lines)
    assert "Traceback" not in result.err
    assert result.out == ""
    if len(lines) > 1:
        assert result.err.rstrip().endswith(f"{len(lines)} errors")


def test_every_error_of_a_spec_is_printed(write_spec: WriteSpec, cli: Cli):
    write_spec(
        "exp.yaml",
        """
        nemorun: 1
        pythonpath: [{examples}]
        task:
          _target_: trainlib:train
          model: {hiden_size: 8}
          optim: {lr: fast}
          steps: many
        """,
    )
    assert_bad_input(
        cli("validate", "exp.yaml"),
        "exp.yaml:5:11: task.model.hiden_size: unknown argument of ModelConfig; "
        "did you mean 'hidden_size'?",
        "exp.yaml:6:15: task.optim.lr: wrong type: expected a number, found 'fast' (a string); "
        "write it like 0.001 or 1.0e-3",
        "exp.yaml:7:10: task.steps: wrong type: expected an integer, found 'many' (a string)",
    )


def test_missing_required_argument(write_spec: WriteSpec, cli: Cli):
    write_spec(
        "exp.yaml", "nemorun: 1\npythonpath: [{examples}]\ntask:\n  _target_: trainlib:train\n"
    )
    assert_bad_input(
        cli("validate", "exp.yaml"),
        "exp.yaml:3:1: task: missing required argument 'model' of train; add 'model: {...}'",
        "exp.yaml:3:1: task: missing required argument 'optim' of train; add 'optim: {...}'",
    )


@pytest.mark.parametrize(
    ("edit", "error"),
    [
        (
            ("activation: TANH", "activation: tanhh"),
            "exp.yaml:6:39: task.model.activation: not a member of Activation: expected one of "
            "'RELU', 'GELU', 'TANH', found 'tanhh' (a string); did you mean 'TANH'?",
        ),
        (
            ("optim: {lr: 0.1}", "optim: {name: Adam}"),
            "exp.yaml:7:17: task.optim.name: not an allowed value: expected one of 'sgd', 'adam', "
            "found 'Adam' (a string); did you mean 'adam'?",
        ),
        (
            ("steps: 10", "steps: [10]"),
            "exp.yaml:8:10: task.steps: wrong type: expected an integer, found a list",
        ),
        (
            ("name: quick", "nmae: quick"),
            "exp.yaml:2:1: nmae: unknown top-level key: expected one of nemorun, name, "
            "description, extends, task, tasks, executor, launcher, sweep, packager, pythonpath, "
            "templates, tracking; "
            "did you mean 'name'?",
        ),
        (
            ("trainlib:train", "trainlib:trian"),
            "exp.yaml:5:13: task._target_: module 'trainlib' has no attribute 'trian'; "
            "did you mean 'trainlib:train'?",
        ),
        (
            ("trainlib:train", "trainlibb:train"),
            "exp.yaml:5:13: task._target_: cannot import module 'trainlibb'; check the spelling, "
            "or make 'trainlibb' importable: run from the directory that holds it, list that "
            "directory under 'pythonpath:', or set PYTHONPATH",
        ),
        (
            ("nemorun: 1", "nemorun: 99"),
            "exp.yaml:1:10: nemorun: spec format 99 is newer than this nemorun understands "
            "(formats 0 to 1); upgrade nemorun ('pip install -U nemorun') to read it",
        ),
        (
            ("nemorun: 1\n", ""),
            "exp.yaml:1:1: missing 'nemorun:' key (the spec format version); "
            "add 'nemorun: 1' as the first line",
        ),
        (
            ("optim: {lr: 0.1}", "optim: {lr: 0.1"),
            "exp.yaml:8:8: YAML syntax error: did not find expected ',' or '}' "
            "(while parsing a flow mapping that starts at line 7, column 10)",
        ),
    ],
)
def test_one_mistake_one_located_line(
    write_spec: WriteSpec, cli: Cli, edit: tuple[str, str], error: str
):
    text = GOOD.replace("model: {hidden_size: 8}", "model: {hidden_size: 8, activation: TANH}")
    write_spec("exp.yaml", text.replace(*edit))
    assert_bad_input(cli("validate", "exp.yaml"), error)


def test_bad_toml(write_spec: WriteSpec, cli: Cli):
    write_spec("exp.toml", 'nemorun = 1\n[task]\n_target_ = "trainlib:train"\nsteps = = 3\n')
    assert_bad_input(cli("validate", "exp.toml"), "exp.toml:4:9: TOML syntax error: Invalid value")


def test_toml_validation_error_is_on_the_right_line(write_spec: WriteSpec, cli: Cli):
    write_spec(
        "exp.toml",
        """
        nemorun = 1
        pythonpath = ["{examples}"]

        [task]
        _target_ = "trainlib:train"

        [task.model]
        hiden_size = 3

        [task.optim]
        lr = 0.1
        """,
    )
    assert_bad_input(
        cli("validate", "exp.toml"),
        "exp.toml:8:1: task.model.hiden_size: unknown argument of ModelConfig; "
        "did you mean 'hidden_size'?",
    )


def test_module_that_raises_on_import(write_spec: WriteSpec, cli: Cli):
    write_spec("explodes_on_import.py", "import os\n\n\nraise ValueError('bad config dir')\n")
    write_spec("exp.yaml", "nemorun: 1\npythonpath: [.]\ntask:\n  _target_: explodes_on_import:f\n")
    assert_bad_input(
        cli("validate", "exp.yaml"),
        "exp.yaml:4:13: task._target_: importing 'explodes_on_import' raised ValueError: "
        "bad config dir (at explodes_on_import.py:4)",
    )


def test_nemo_run_yaml_points_at_migrate(write_spec: WriteSpec, cli: Cli):
    write_spec(
        "old.yaml",
        "_target_: trainlib.train\n_partial_: true\nmodel:\n  _target_: trainlib.ModelConfig\n",
    )
    assert_bad_input(
        cli("validate", "old.yaml"),
        "old.yaml:1:1: this looks like a NeMo-Run YAML file (spec format 0), not a nemorun spec; "
        "convert it once with 'nemorun migrate old.yaml --in-place'",
    )


def test_override_errors_name_the_override(write_spec: WriteSpec, cli: Cli):
    write_spec("exp.yaml", GOOD)
    assert_bad_input(
        cli("validate", "exp.yaml", "steps=3", "model.hiden_size=3"),
        "override 2 'model.hiden_size=3': task.model.hiden_size: unknown argument of "
        "ModelConfig; did you mean 'hidden_size'?",
    )
    assert_bad_input(
        cli("validate", "exp.yaml", "tag=#x"),
        "override 1 'tag=#x': cannot parse: token recognition error at: '#'; if the value is "
        "text, quote it, and the whole override for the shell: \"tag='#x'\"",
    )


def test_missing_spec_file(workdir: Path, cli: Cli):
    assert_bad_input(cli("validate", "nope.yaml"), "nope.yaml: no such spec file")


def test_valid_spec_with_overrides_and_sweep(write_spec: WriteSpec, cli: Cli):
    write_spec("exp.yaml", GOOD)
    result = cli("validate", "exp.yaml", "optim.lr=1e-4,1e-3", "task.tag=007")
    assert result.code == 0, result.err
    assert result.out.startswith("exp.yaml: ok (trainlib")
    assert result.out.endswith(":train; target local, 2 sweep points)\n")


def test_options_and_overrides_in_any_order(write_spec: WriteSpec, cli: Cli):
    write_spec("exp.yaml", GOOD)
    first = cli("export", "exp.yaml", "--format", "toml", "steps=3")
    second = cli("export", "exp.yaml", "steps=3", "--format", "toml")
    assert first.code == second.code == 0, first.err + second.err
    assert first.out == second.out
    assert "steps = 3" in first.out


# --- the installed command, in its own process ------------------------------------------------


def run_nemorun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEMORUN), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_installed_command_reports_every_error(write_spec: WriteSpec, workdir: Path):
    write_spec(
        "exp.yaml",
        """
        nemorun: 1
        pythonpath: [{examples}]
        task:
          _target_: trainlib:train
          model: {hiden_size: 8}
          optim: {name: adm}
        """,
    )
    proc = run_nemorun("validate", "exp.yaml", "executor.nodes=two", cwd=workdir)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "error: exp.yaml:5:11: task.model.hiden_size: unknown argument of ModelConfig; "
        "did you mean 'hidden_size'?",
        "error: exp.yaml:6:17: task.optim.name: not an allowed value: expected one of 'sgd', "
        "'adam', found 'adm' (a string); did you mean 'adam'?",
        "error: override 1 'executor.nodes=two': executor.nodes: wrong type: expected an "
        "integer, found 'two' (a string)",
        "3 errors",
    ]


def test_installed_command_bad_yaml_and_options_after_overrides(
    write_spec: WriteSpec, workdir: Path
):
    write_spec("bad.yaml", "nemorun: 1\ntask:\n  model: [1, 2\n")
    proc = run_nemorun("export", "bad.yaml", "steps=1", "--format", "json", cwd=workdir)
    assert proc.returncode == 2
    assert proc.stderr == (
        "error: bad.yaml:4:1: YAML syntax error: did not find expected ',' or ']' "
        "(while parsing a flow sequence that starts at line 3, column 10)\n"
    )


# Every place a target is named goes through one lookup: the same error, with a suggestion.
TARGET_TYPO_SPECS = {
    "flag": GOOD + "executor: {partition: debug}\n",
    "executor": GOOD + "executor:\n  target: slurn\n",
    "task executor": """
nemorun: 1
pythonpath: [{examples}]
tasks:
  prep:
    task: {command: 'true'}
  train:
    task: {command: 'true'}
    executor:
      target: slurn
""",
}
TARGET_TYPO_ERRORS = {
    "flag": "--target: unknown target: expected one of local, slurm, docker, skypilot, ray, "
    "kubernetes, found 'slurn'; did you mean 'slurm'?",
    "executor": "exp.yaml:10:11: executor.target: unknown target: expected one of local, "
    "slurm, docker, skypilot, ray, kubernetes, found 'slurn'; did you mean 'slurm'?",
    "task executor": "exp.yaml:9:15: tasks.train.executor.target: unknown target: expected "
    "one of local, slurm, docker, skypilot, ray, kubernetes, found 'slurn'; did you mean "
    "'slurm'?",
}


@pytest.mark.parametrize(
    ("command", "where"),
    [
        (command, where)
        for command in ("validate", "compile", "launch", "run")
        for where in TARGET_TYPO_SPECS
        if not (command == "run" and where == "flag")  # run has no --target: it runs here
    ],
)
def test_a_misspelt_target_is_bad_input_everywhere(
    write_spec: WriteSpec,
    cli: Cli,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    where: str,
):
    monkeypatch.setenv("NEMORUN_HOME", str(workdir / "home"))
    write_spec("exp.yaml", TARGET_TYPO_SPECS[where])
    flag = ["--target", "slurn"] if where == "flag" else []
    assert_bad_input(cli(command, "exp.yaml", *flag), TARGET_TYPO_ERRORS[where])
    assert not (workdir / "home").exists()  # refused before any run is created
