"""The Python API does what the command line does: each test does a command's work through
`nemorun` and checks what the job, the file or the record receives, and that the CLI prints
the same thing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import nemorun
from nemorun.launchers.base import JobState

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
EXAMPLES = ROOT / "examples"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs recorded under a home of the test's own, launched from ``tmp_path``."""
    monkeypatch.setenv("NEMORUN_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def test_import_nemorun_loads_no_api_until_a_name_is_used() -> None:
    code = (
        "import sys, nemorun; before = set(sys.modules); nemorun.load; "
        "print(sorted(m for m in before if m.startswith('nemorun')), 'nemorun.api' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["['nemorun']", "True"]


def test_every_name_the_package_lists_is_there_and_documented() -> None:
    listed = set(nemorun.__all__) - {"__version__"}
    assert {"load", "compile", "export", "schema", "migrate", "import_config", "launch"} <= listed
    assert {"run", "runs", "open_run", "rerun", "diff", "SpecErrors"} <= listed
    assert listed <= set(dir(nemorun))
    assert listed == set(nemorun._HOME_OF)  # the static list (for tools) and the lazy table agree
    for name in sorted(listed):
        value = getattr(nemorun, name)
        assert value.__doc__, name
        if callable(value) and not isinstance(value, type):
            assert f"{name}(" in nemorun.__doc__, f"the module docstring does not list {name}"
    with pytest.raises(AttributeError):
        nemorun.nothing_here  # noqa: B018


def test_load_compile_and_run_the_artifact(tmp_path: Path, cli: Callable[..., object]) -> None:
    spec = nemorun.load(QUICKSTART, ["optim.lr=0.01,0.02", "steps=2"], target="slurm")
    assert (spec.target, spec.num_points()) == ("slurm", 2)
    assert [p.describe() for p in nemorun.points(spec)] == ["optim.lr=0.01", "optim.lr=0.02"]
    sbatch = nemorun.compile(spec, "slurm").tasks[0].artifacts.main.text
    assert "#SBATCH --array=0-1" in sbatch
    printed = cli("compile", str(QUICKSTART), "optim.lr=0.01,0.02", "steps=2", "--target", "slurm")
    assert printed.out == sbatch  # type: ignore[attr-defined]

    local = nemorun.load(QUICKSTART, ["optim.lr=0.01,0.02", "steps=2"])
    build = nemorun.compile(local)
    written = build.write(tmp_path / "build")
    assert tmp_path / "build" / "quickstart.sh" in written
    ran = subprocess.run(
        ["bash", str(tmp_path / "build" / "quickstart.sh"), "1"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.splitlines()[0].startswith(
        "[train] point=1 model=32x2 RELU optim=sgd lr=0.02"
    )


def test_load_for_a_target_keeps_the_warnings_on_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        QUICKSTART.read_text().replace("../examples", str(EXAMPLES))
        + "executor: {target: slurm, partition: debug}\n"
    )
    spec = nemorun.load(path, target="local")
    assert spec.target == "local"
    assert spec.warnings == [
        "executor.partition is an option of slurm; target local does not use it"
    ]


def test_bad_input_raises_the_errors_the_cli_prints(cli: Callable[..., object]) -> None:
    overrides = ["model.hiden_size=3", "optim.name=adamw"]
    with pytest.raises(nemorun.SpecErrors) as info:
        nemorun.load(QUICKSTART, overrides)
    printed = cli("validate", str(QUICKSTART), *overrides)
    assert [e.format() for e in info.value.errors] == printed.error_lines  # type: ignore[attr-defined]
    assert len(info.value.errors) == 2


def test_export_python_runs_the_task_as_the_spec_says(tmp_path: Path) -> None:
    spec = nemorun.load(QUICKSTART, ["steps=3", "optim.lr=0.125"])
    module = tmp_path / "out" / "quick.py"
    module.parent.mkdir()
    module.write_text(nemorun.export(spec, "python", module.parent))
    ran = subprocess.run([sys.executable, str(module)], capture_output=True, text=True, check=True)
    assert "lr=0.125" in ran.stdout.splitlines()[0]
    again = tmp_path / "out" / "quick.yaml"
    again.write_text(nemorun.export(spec, "yaml", again.parent))
    assert yaml.safe_load(again.read_text())["task"]["steps"] == 3
    assert nemorun.load(again).tree["task"]["optim"]["lr"] == 0.125


def test_schema_is_what_the_cli_prints(cli: Callable[..., object]) -> None:
    schema = nemorun.schema(nemorun.load(QUICKSTART))
    model = schema["$defs"]["trainlib.loop.ModelConfig"]["properties"]
    names = model["activation"]["anyOf"][0]["enum"]  # by name or by value, as validate reads it
    assert names == ["RELU", "GELU", "TANH", "relu", "gelu", "tanh"]
    printed = cli("schema", str(QUICKSTART))
    assert json.loads(printed.out) == schema  # type: ignore[attr-defined]


def test_migrate_and_import_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(
        "_partial_: true\n_target_: trainlib.loop.train\nsteps: 7\n"
        "model: {_target_: trainlib.loop.ModelConfig, hidden_size: 16}\n"
    )
    migration = nemorun.migrate(old)
    assert [s for s in migration.steps if "format 0" in s]
    assert yaml.safe_load(migration.text)["task"]["steps"] == 7
    assert old.read_text().startswith("_partial_")  # nothing written

    (tmp_path / "api_session_configs.py").write_text(
        textwrap.dedent(
            """
            import fiddle as fdl
            from trainlib import ModelConfig, OptimConfig, train

            def small():
                model = fdl.Config(ModelConfig, hidden_size=5)
                return fdl.Partial(train, model=model, optim=fdl.Config(OptimConfig, lr=0.5))
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.syspath_prepend(str(tmp_path))
    text = nemorun.import_config("api_session_configs:small", "toml", tmp_path)
    imported = tmp_path / "small.toml"
    imported.write_text(text)
    task = nemorun.load(imported).tree["task"]
    assert (task["model"], task["optim"]) == ({"hidden_size": 5}, {"lr": 0.5})


def test_a_run_from_launch_to_rerun_and_diff(home: Path, tmp_path: Path) -> None:
    spec = tmp_path / "quick.yaml"
    spec.write_text(QUICKSTART.read_text().replace("../examples", str(EXAMPLES)))
    first = nemorun.run(spec, ["steps=2", "log_every=1"])
    assert first.state() is JobState.COMPLETED
    lines = [line for _, line in nemorun.open_run(first.id).logs()]
    assert lines[0].startswith("[train] point=0 model=32x2 RELU optim=sgd lr=0.05")

    listed = nemorun.runs(name="quickstart")
    assert [(r.id, r.status) for r in listed] == [(first.id, "completed")]
    assert listed.warnings == ()

    again = nemorun.rerun("quickstart", ["optim.lr=0.25"], wait=True)
    assert again.record.data["rerun_of"] == first.id
    assert next(line for _, line in again.logs()).endswith("lr=0.25 data=/tmp/data")
    assert [r.id for r in nemorun.runs()] == [again.id, first.id]

    found = nemorun.diff(first.id, again.id)
    assert [c.describe() for c in found.changes] == ["~ task.optim.lr: 0.05 → 0.25"]
    assert "+  optim:" not in found.unified() and "+    lr: 0.25" in found.unified()


def test_open_run_cancels_a_point_and_rerun_runs_only_that_one(home: Path, tmp_path: Path) -> None:
    (tmp_path / "sleeper.py").write_text(
        "import time\n\ndef nap(seconds: float) -> None:\n"
        "    time.sleep(seconds)\n    print(f'slept {seconds}')\n"
    )
    spec = tmp_path / "sleepy.yaml"
    spec.write_text("nemorun: 1\nname: sleepy\npythonpath: [.]\ntask: {_target_: sleeper:nap}\n")
    run = nemorun.launch(spec, ["seconds=0,60"], max_parallel=2)
    opened = nemorun.open_run("sleepy")
    assert opened.id == run.id
    _wait_for(lambda: [s.state for s in opened.status()] == [JobState.COMPLETED, JobState.RUNNING])
    assert [s.state for s in opened.cancel()] == [JobState.COMPLETED, JobState.CANCELLED]
    assert [r.id for r in nemorun.runs(status="cancelled")] == [run.id]

    again = nemorun.rerun(opened, ["seconds=0,0.5"], failed=True, wait=True)
    assert [job.points for job in again.record.jobs] == [(1,)]
    assert [line for _, line in again.logs()] == ["slept 0.5"]
    assert again.state() is JobState.COMPLETED


def _wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    import time

    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
