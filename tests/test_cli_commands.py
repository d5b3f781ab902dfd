"""schema, migrate and import through the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import nemorun as run_cli

from nemorun.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

NEMO_RUN_YAML = """\
_partial_: true
_target_: trainlib.loop.train
model:
  _target_: trainlib.loop.ModelConfig
  hidden_size: 1024
optim:
  _target_: trainlib.loop.OptimConfig
  lr: 0.0003
steps: 1000
"""


@pytest.fixture
def examples_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))


def test_schema_is_json_schema_that_accepts_the_examples(capsys: pytest.CaptureFixture[str]):
    assert main(["schema", str(ROOT / "configs/quickstart.yaml")]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for name in ("quickstart.yaml", "pretrain.yaml", "finetune.toml"):
        path = ROOT / "configs" / name
        tree = yaml.safe_load(path.read_text()) if path.suffix == ".yaml" else None
        if tree is None:
            import tomllib

            tree = tomllib.loads(path.read_text())
        errors = [e.message for e in validator.iter_errors(tree)]
        assert errors == [], name


def test_schema_carries_docstrings_and_types(capsys: pytest.CaptureFixture[str]):
    assert main(["schema", str(ROOT / "configs/quickstart.yaml")]) == 0
    schema = json.loads(capsys.readouterr().out)
    task = schema["properties"]["task"]["properties"]
    assert task["steps"]["description"] == "Number of optimisation steps."
    model = schema["$defs"]["trainlib.loop.ModelConfig"]["properties"]
    assert model["hidden_size"]["description"] == "Width of the hidden layer."
    # by name or by value, or read where the job runs
    activation = model["activation"]["anyOf"]
    assert activation[0]["enum"] == ["RELU", "GELU", "TANH", "relu", "gelu", "tanh"]
    assert activation[1]["pattern"] == "\\$\\{.*\\}"
    optim = schema["$defs"]["trainlib.loop.OptimConfig"]["properties"]
    assert optim["name"]["anyOf"][0]["enum"] == ["sgd", "adam"]
    assert (
        optim["betas"]["anyOf"][0]["prefixItems"]
        == [{"anyOf": [{"type": "number"}, {"type": "string", "pattern": "\\$\\{.*\\}"}]}] * 2
    )
    bad = {"nemorun": 1, "task": {"_target_": "trainlib:train", "model": {"hiden_size": 3}}}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(bad))
    assert any("hiden_size" in e.message for e in errors)


def test_migrate_nemo_run_yaml_then_validate(
    tmp_path: Path, examples_on_path: None, capsys: pytest.CaptureFixture[str]
):
    old = tmp_path / "old.yaml"
    old.write_text(NEMO_RUN_YAML)
    assert main(["validate", str(old)]) == 2
    assert "nemorun migrate" in capsys.readouterr().err
    assert main(["migrate", str(old), "--in-place"]) == 0
    assert "format 0" in capsys.readouterr().err
    tree = yaml.safe_load(old.read_text())
    assert tree == {
        "nemorun": 1,
        "task": {
            "_target_": "trainlib.loop:train",
            "model": {"_target_": "trainlib.loop:ModelConfig", "hidden_size": 1024},
            "optim": {"_target_": "trainlib.loop:OptimConfig", "lr": 0.0003},
            "steps": 1000,
        },
    }
    assert main(["validate", str(old)]) == 0
    # a current spec is left alone
    assert main(["migrate", str(old)]) == 0
    out = capsys.readouterr()
    assert out.out.endswith(old.read_text()) and "already in the current format" in out.err


def test_import_function_returning_fiddle_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "myconfigs.py").write_text(
        textwrap.dedent(
            """
            import fiddle as fdl
            from trainlib import ModelConfig, OptimConfig, train

            def pretrain():
                model = fdl.Config(ModelConfig, hidden_size=7)
                return fdl.Partial(train, model=model, optim=fdl.Config(OptimConfig, lr=0.5))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    out = tmp_path / "imported.yaml"
    assert main(["import", "myconfigs:pretrain", "-o", str(out)]) == 0
    tree = yaml.safe_load(out.read_text())
    assert tree["task"] == {
        "_target_": "trainlib.loop:train",
        "model": {"hidden_size": 7},
        "optim": {"lr": 0.5},
    }
    import nemorun
    from nemorun.compiler.graph import task_graph

    spec = nemorun.load(out)
    graph = task_graph(spec)
    assert graph.model.hidden_size == 7 and graph.optim.lr == 0.5


def test_an_imported_spec_validates_and_runs_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``name`` and ``pythonpath`` are written: the spec needs no PYTHONPATH and no cwd."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "wideconfigs.py").write_text(
        textwrap.dedent(
            """
            import dataclasses

            import fiddle as fdl
            from trainlib import ModelConfig, OptimConfig, train

            @dataclasses.dataclass
            class WideModel(ModelConfig):
                hidden_size: int = 128

            def pretrain():
                model = fdl.Config(WideModel, hidden_size=7, layers=3)
                optim = fdl.Config(OptimConfig, lr=0.5)
                return fdl.Partial(train, model=model, optim=optim, steps=2, tag="imported")
            """
        )
    )
    monkeypatch.chdir(code)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    out = tmp_path / "specs" / "sub" / "imported.yaml"
    assert main(["import", "wideconfigs:pretrain", "-o", str(out)]) == 0
    tree = yaml.safe_load(out.read_text())
    assert tree["name"] == "pretrain"
    # The task's code (trainlib) and the config's own class (wideconfigs); nemorun and fiddle are
    # installed, so they are not listed.
    assert tree["pythonpath"] == [os.path.relpath(EXAMPLES, out.parent), "../../code"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NEMORUN_HOME": str(tmp_path / "home")}
    for command in ("validate", "run"):
        result = run_cli(command, str(out), cwd=elsewhere, env=env)
        assert result.returncode == 0, result.stderr
    assert "[imported] point=0 model=7x3 RELU optim=sgd lr=0.5" in result.stdout


def test_import_errors_are_bad_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notfiddle.py").write_text("def make_config():\n    return 3\n")
    assert main(["import", "notfiddle:make_config"]) == 2
    assert "did not return a Fiddle config" in capsys.readouterr().err
    assert main(["import", "notfiddle:make_confg"]) == 2
    assert "did you mean 'notfiddle:make_config'" in capsys.readouterr().err


def test_console_script_help_and_unknown_command():
    exe = Path(sys.executable).parent / "nemorun"
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "validate" in result.stdout
    for command in ("validate", "export", "schema", "migrate", "import"):
        result = subprocess.run([str(exe), command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0 and f"nemorun {command}" in result.stdout
    result = subprocess.run([str(exe), "valdate", "x.yaml"], capture_output=True, text=True)
    assert result.returncode == 2 and "did you mean 'validate'" in result.stderr
    result = subprocess.run([str(exe), "export", "x.yaml", "--format", "xml"], capture_output=True)
    assert result.returncode == 2


def test_validate_takes_several_specs(capsys: pytest.CaptureFixture[str], monkeypatch):
    monkeypatch.chdir(ROOT)
    configs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").iterdir())
    assert main(["validate", *configs]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == configs
    assert main(["validate", "configs/quickstart.yaml", "configs/finetune.toml", "steps=x"]) == 2
    err = capsys.readouterr().err
    assert err.count("task.steps: wrong type") == 2 and "2 of 2 specs have errors" in err


def test_loading_a_spec_writes_no_bytecode_beside_the_users_code(tmp_path: Path) -> None:
    """Compile is pure: importing the task's module (and what it imports, its TYPE_CHECKING
    names included) leaves the user's directory as it was, from the CLI and from Python; nemorun
    keeps its own bytecode cache."""
    code = tmp_path / "code"
    (code / "mylib").mkdir(parents=True)
    (code / "mylib" / "__init__.py").write_text("")
    (code / "mylib" / "parts.py").write_text("class Part:\n    pass\n")
    (code / "mytask.py").write_text(
        "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
        "import mylib\nif TYPE_CHECKING:\n    from mylib.parts import Part\n\n"
        "def train(steps: int = 1, part: Part | None = None) -> None:\n    print(steps)\n"
    )
    spec = tmp_path / "exp.yaml"
    spec.write_text("nemorun: 1\npythonpath: [code]\ntask: {_target_: mytask:train, steps: 3}\n")
    script = (
        "import sys, nemorun\nfrom nemorun.cli import main\n"
        f"nemorun.load({str(spec)!r})\nsys.exit(main(['validate', {str(spec)!r}]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in code.rglob("__pycache__")) == []
    assert sorted(p.name for p in code.rglob("*.pyc")) == []
