"""launch, run, ls, status, logs, cancel, rerun and diff through the command line, on the local
target, each test with its own ``NEMORUN_HOME``; plus compiling for a run and several tasks."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
Cli = Callable[..., CliResult]

FLAKY = """
import pathlib


def work(point: int, fail_if: str) -> None:
    print(f"point {point} runs")
    if point == 1 and pathlib.Path(fail_if).exists():
        raise SystemExit(7)
"""


pytestmark = pytest.mark.usefixtures("home")  # runs recorded in the test's own directory


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def ls(cli: Cli, *args: str) -> list[dict[str, str]]:
    result = cli("ls", "--json", *args)
    assert result.code == 0, result.err
    runs: list[dict[str, str]] = json.loads(result.out)
    return runs


# --- run / launch -------------------------------------------------------------------------------


def test_run_trains_the_quickstart_and_its_output_is_in_logs(cli: Cli) -> None:
    result = cli("run", QUICKSTART)
    assert result.code == 0, result.err
    assert "[train] step 60 loss" in result.out
    [run] = ls(cli)
    assert run["name"] == "quickstart" and run["status"] == "completed"
    assert run["target"] == "local" and run["created"].endswith("Z")
    logs = cli("logs", "quickstart")
    assert logs.code == 0
    assert logs.out.splitlines()[0].startswith("[train] point=0 model=32x2 RELU")
    assert "[train] step 60 loss" in logs.out


def test_a_failing_task_makes_run_exit_1_and_its_status_failed(cli: Cli, workdir: Path) -> None:
    spec = write(workdir / "bad.yaml", "nemorun: 1\nname: bad\ntask: {command: 'exit 9'}\n")
    result = cli("run", str(spec))
    assert result.code == 1
    assert "failed: 1 of 1 not completed" in result.err and "exit code 9" in result.err
    status = cli("status", "bad")
    assert status.code == 0
    head, columns, job = status.out.splitlines()
    assert head.startswith("run ") and head.split()[2:5] == ["bad", "local", "failed"]
    assert columns.split() == ["JOB", "POINT", "STATE", "REASON"]
    assert job.split()[1:] == ["0", "failed", "exit", "code", "9"]
    assert [r["name"] for r in ls(cli, "--status", "failed")] == ["bad"]
    assert ls(cli, "--status", "completed") == []


def test_launch_prints_the_run_id_and_returns_at_once(cli: Cli, workdir: Path) -> None:
    spec = write(workdir / "slow.yaml", "nemorun: 1\ntask: {command: 'sleep 1; echo late'}\n")
    result = cli("launch", str(spec))
    assert result.code == 0
    run_id = result.out.strip()
    assert re.fullmatch(r"\d{8}-\d{6}-slow-[0-9a-f]{6}", run_id)
    assert ls(cli)[0]["status"] in ("pending", "running")
    follow = cli("logs", run_id[:20], "-f")  # a unique prefix
    assert follow.out == "late\n"
    assert ls(cli)[0]["status"] == "completed"


def test_launch_wait_on_a_sweep_streams_each_point_and_plain_progress(
    cli: Cli, workdir: Path
) -> None:
    result = cli(
        "launch",
        QUICKSTART,
        "steps=1",
        "log_every=1",
        "seed=1,2,3",
        "--wait",
        "--max-parallel",
        "2",
    )
    assert result.code == 0, result.err
    for point in range(3):
        assert f"[{point}] [train] point={point}" in result.out
        assert f"nemorun: {ls(cli)[0]['jobs'][0]}_{point} completed" in result.err


def test_cancel_stops_a_launched_run(cli: Cli, workdir: Path) -> None:
    spec = write(workdir / "long.yaml", "nemorun: 1\nname: long\ntask: {command: 'sleep 30'}\n")
    assert cli("launch", str(spec)).code == 0
    result = cli("cancel", "long")
    assert result.code == 0 and result.out.endswith(": cancelled\n")
    assert ls(cli)[0]["status"] == "cancelled"


def test_bad_input_is_exit_2_and_leaves_no_record(cli: Cli, workdir: Path, home: Path) -> None:
    result = cli("run", QUICKSTART, "optim.lr=fast")
    assert result.code == 2 and "optim.lr" in result.err
    assert cli("launch", QUICKSTART, "--target", "nowhere").code == 2
    assert cli("launch", QUICKSTART, "--max-parallel", "0").code == 2
    docker = cli("launch", QUICKSTART, "--target", "docker", "--max-parallel", "2")
    assert docker.code == 2 and "--max-parallel applies to the local, slurm and kubernetes" in (
        docker.err
    )
    assert ls(cli) == []
    assert not (home / "nemorun-runs").exists() or not any((home / "nemorun-runs").iterdir())


def test_a_target_that_cannot_load_is_a_clear_error(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from nemorun import registry

    broken = dataclasses.replace(
        registry.get_target("slurm"), launch="nemorun_no_such_module:SlurmTarget"
    )
    monkeypatch.setitem(globals(), "BROKEN_SLURM", broken)
    monkeypatch.setitem(registry.BUILTIN, "slurm", f"{__name__}:BROKEN_SLURM")
    result = cli("launch", QUICKSTART, "--target", "slurm")
    assert result.code == 1
    assert result.err == (
        "error: the launch half of target 'slurm' (nemorun_no_such_module:SlurmTarget) cannot "
        "be loaded: ModuleNotFoundError: No module named 'nemorun_no_such_module'\n"
    )
    assert "Traceback" not in result.err


def test_run_names_can_be_ambiguous_prefixes(cli: Cli, workdir: Path) -> None:
    spec = write(workdir / "t.yaml", "nemorun: 1\nname: twice\ntask: {command: 'true'}\n")
    ids = [cli("launch", str(spec)).out.strip() for _ in range(2)]
    result = cli("status", ids[0][:8])
    assert result.code == 2
    assert f"matches 2 runs: {ids[1]}, {ids[0]}" in result.err
    assert cli("status", "twice").out.startswith(f"run {ids[1]} ")  # the newest of the name
    assert cli("status", "nothing-like-it").code == 2


# --- rerun / diff -------------------------------------------------------------------------------


def test_rerun_from_elsewhere_gives_byte_identical_artifacts(
    cli: Cli, workdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = write(
        workdir / "specs" / "base.yaml",
        f"""
        nemorun: 1
        pythonpath: [{ROOT / "examples"}]
        task: {{_target_: trainlib:train, model: {{}}, optim: {{lr: 0.1}}, log_every: 1}}
        executor: {{env: {{WHERE: "${{oc.env:HOME,/}}"}}}}
        """,
    )
    spec = write(
        workdir / "specs" / "exp.yaml",
        "nemorun: 1\nname: again\nextends: [base.yaml]\ntask: {steps: 2}\n",
    )
    first = cli("launch", "specs/exp.yaml", "seed=1,2", "--max-parallel", "2", "--wait")
    assert first.code == 0, first.err
    original = first.out.splitlines()[0]
    spec.unlink()  # the record alone is enough
    base.unlink()
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.chdir(elsewhere)
    second = cli("rerun", original, "--wait")
    assert second.code == 0, second.err
    copy = second.out.splitlines()[0]
    runs = workdir / "home" / "nemorun-runs"
    a, b = runs / original / "artifacts", runs / copy / "artifacts"
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) == ["again.sh", "entry.py", "tasks.json"]
    for name in names:
        before = (a / name).read_text().replace(original, "RUN")
        after = (b / name).read_text().replace(copy, "RUN")
        assert before == after, name
    assert "specs/exp.yaml" in (b / "again.sh").read_text()  # named as when first launched
    record = json.loads((runs / copy / "run.json").read_text())
    assert record["rerun_of"] == original and record["cwd"] == str(workdir)


def test_rerun_failed_runs_only_the_failed_points(cli: Cli, workdir: Path) -> None:
    write(workdir / "flaky.py", FLAKY)
    flag = workdir / "fail-now"
    flag.touch()
    spec = write(
        workdir / "flaky.yaml",
        f"""
        nemorun: 1
        name: flaky
        pythonpath: ["."]
        task: {{_target_: flaky:work, fail_if: "{flag}"}}
        sweep: {{point: [0, 1, 2]}}
        """,
    )
    assert cli("run", str(spec)).code == 1
    flag.unlink()
    result = cli("rerun", "flaky", "--failed", "--wait")
    assert result.code == 0, result.err
    assert result.out.splitlines()[1:] == ["point 1 runs"]
    status = cli("status", "flaky", "--json")
    jobs = json.loads(status.out)["jobs"]
    assert [(j["point"], j["state"]) for j in jobs] == [(1, "completed")]
    assert cli("rerun", "flaky", "--failed").code == 2  # nothing failed in the newest run


PAUSING = """
import pathlib
import time


def work(point: int, flags: str) -> None:
    print(f"point {point} runs", flush=True)
    if point == 1 and pathlib.Path(flags, "fail").exists():
        raise SystemExit(7)
    while point == 2 and pathlib.Path(flags, "hold").exists():
        time.sleep(0.05)
"""


def wait_for_states(cli: Cli, run: str, wanted: dict[int, str]) -> list[tuple[int, str]]:
    """The (point, state) rows of ``run`` once every point of ``wanted`` is in its state."""
    deadline = time.monotonic() + 60
    while True:
        jobs = json.loads(cli("status", run, "--json").out)["jobs"]
        rows = [(j["point"], j["state"]) for j in jobs]
        if all((p, s) in rows for p, s in wanted.items()) or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_rerun_failed_also_runs_the_cancelled_and_never_started_points(
    cli: Cli, workdir: Path
) -> None:
    write(workdir / "pausing.py", PAUSING)
    flags = workdir / "flags"
    flags.mkdir()
    (flags / "fail").touch()
    (flags / "hold").touch()
    spec = write(
        workdir / "pausing.yaml",
        f"""
        nemorun: 1
        name: pausing
        pythonpath: ["."]
        task: {{_target_: pausing:work, flags: "{flags}"}}
        sweep: {{point: [0, 1, 2, 3]}}
        """,
    )
    first = cli("launch", str(spec), "--max-parallel", "1").out.strip()
    # One at a time: 0 completes, 1 fails, 2 is held running, 3 waits: then cancel.
    wanted = {0: "completed", 1: "failed", 2: "running", 3: "pending"}
    assert wait_for_states(cli, first, wanted) == sorted(wanted.items())
    assert cli("cancel", first).code == 0
    rows = [(0, "completed"), (1, "failed"), (2, "cancelled"), (3, "cancelled")]
    assert wait_for_states(cli, first, dict(rows)) == rows
    (flags / "fail").unlink()
    (flags / "hold").unlink()
    result = cli("rerun", first, "--failed", "--wait")
    assert result.code == 0, result.err
    ran = sorted(re.findall(r"point (\d) runs", result.out))
    assert ran == ["1", "2", "3"]
    jobs = json.loads(cli("status", "pausing", "--json").out)["jobs"]
    assert [(j["point"], j["state"]) for j in jobs] == [
        (1, "completed"),
        (2, "completed"),
        (3, "completed"),
    ]
    help_text = cli("rerun", "--help").out
    assert "failed, cancelled, or never started" in " ".join(help_text.split())


def test_cancel_one_point_of_a_sweep(cli: Cli, workdir: Path) -> None:
    write(workdir / "pausing.py", PAUSING)
    flags = workdir / "flags"
    flags.mkdir()
    (flags / "hold").touch()
    spec = write(
        workdir / "held.yaml",
        f"""
        nemorun: 1
        name: held
        pythonpath: ["."]
        task: {{_target_: pausing:work, flags: "{flags}"}}
        sweep: {{point: [0, 2, 3]}}
        """,
    )
    run = cli("launch", str(spec), "--max-parallel", "1").out.strip()
    # One at a time: point 1 (the value 2) is held running, point 2 (the value 3) waits.
    deadline = time.monotonic() + 60
    while "point 2 runs" not in cli("logs", run).out:
        assert time.monotonic() < deadline, "point 1 never ran"
        time.sleep(0.05)
    assert wait_for_states(cli, run, {1: "running"})[1] == (1, "running")
    result = cli("cancel", run, "--point", "1", "--point", "2")
    assert result.code == 0, result.err
    job = ls(cli)[0]["jobs"][0]
    assert result.out == f"{job}_1  point 1: cancelled\n{job}_2  point 2: cancelled\n"
    status = cli("status", run)
    assert re.search(rf"^{job}_0 +0 +completed *$", status.out, re.M), status.out
    assert re.search(rf"^{job}_1 +1 +cancelled +cancelled$", status.out, re.M), status.out
    assert re.search(rf"^{job}_2 +2 +cancelled +cancelled$", status.out, re.M), status.out
    logs = cli("logs", run).out
    assert "point 0 runs" in logs and "point 2 runs" in logs and "point 3 runs" not in logs
    refused = cli("cancel", run, "--point", "7")
    assert refused.code == 2
    assert refused.error_lines == [
        f"run {run} has no point 7: expected one of its points: 0, 1, 2"
    ], refused.err
    assert "--point N" in cli("cancel", "--help").out


def test_diff_shows_what_changed_between_runs_and_specs(cli: Cli, workdir: Path) -> None:
    spec = write(workdir / "d.yaml", "nemorun: 1\nname: d\ntask: {command: 'true'}\n")
    one = cli("launch", str(spec)).out.strip()
    two = cli("launch", str(spec), "task.command=date").out.strip()
    result = cli("diff", one, two)
    assert result.code == 0
    assert result.out == '~ task.command: "true" → "date"\n'
    unified = cli("diff", one, two, "-u")
    assert f"--- run {one}\n+++ run {two}\n" in unified.out
    assert "-  command: 'true'\n+  command: date\n" in unified.out
    same = cli("diff", one, "d.yaml")
    assert same.out.startswith("no difference")
    # `run` records the default target explicitly; that is not a change of the spec.
    assert cli("run", str(spec)).code == 0
    ran = ls(cli)[0]["id"]
    assert cli("diff", ran, "d.yaml").out.startswith("no difference")
    assert cli("diff", one, "missing.yaml").code == 2


# --- compile: several tasks, and for a run ------------------------------------------------------

TASKS = """
nemorun: 1
name: pipe
pythonpath: [{examples}]
tasks:
  train:
    task: {{_target_: trainlib:train, model: {{}}, optim: {{}}, steps: 2}}
    after: [prep]
    executor: {{target: slurm, partition: debug}}
  prep:
    task: {{command: "echo prep"}}
sweep:
  tasks.train.task.seed: [1, 2]
"""


def test_a_multi_task_spec_compiles_one_directory_per_task(cli: Cli, workdir: Path) -> None:
    spec = write(workdir / "pipe.yaml", TASKS.format(examples=ROOT / "examples"))
    refused = cli("compile", str(spec))
    assert refused.code == 2
    assert "several tasks (train, prep)" in refused.err and "-o DIR" in refused.err
    result = cli("compile", str(spec), "-o", "out")
    assert result.code == 0, result.err
    manifest = json.loads((workdir / "out" / "tasks.json").read_text())
    assert [(t["name"], t["target"], t["mains"], t["points"]) for t in manifest["tasks"]] == [
        ("prep", "local", ["prep/prep.sh"], 1),
        ("train", "slurm", ["train/train.sbatch"], 2),
    ]
    sbatch = (workdir / "out" / "train" / "train.sbatch").read_text()
    assert "#SBATCH --job-name=pipe-train\n" in sbatch
    assert "#SBATCH --partition=debug\n" in sbatch and "#SBATCH --array=0-1\n" in sbatch
    prep = subprocess.run(
        ["bash", str(workdir / "out" / "prep" / "prep.sh")], capture_output=True, text=True
    )
    assert prep.stdout == "prep\n"


def test_tasks_of_one_run_must_share_a_target(cli: Cli, workdir: Path) -> None:
    spec = write(workdir / "pipe.yaml", TASKS.format(examples=ROOT / "examples"))
    result = cli("launch", str(spec))
    assert result.code == 2
    assert "the tasks of one run go to one target; here: train → slurm, prep → local" in result.err


def test_compiled_for_a_run_slurm_logs_go_to_the_run_directory(workdir: Path) -> None:
    from nemorun.api import load_for_target
    from nemorun.compiler.driver import compile_spec
    from nemorun.compiler.job import RunContext

    spec, _ = load_for_target(QUICKSTART, ["seed=1,2"], "slurm")
    run = RunContext("20261121-101500-quickstart-abcdef", Path("/runs/100%/r"))
    artifacts = compile_spec(spec, run=run)
    text = artifacts.main.text
    assert "#SBATCH --output=/runs/100%%/r/logs/quickstart-%A_%a.out\n" in text
    assert "#SBATCH --error=/runs/100%%/r/logs/quickstart-%A_%a.err\n" in text
    assert "export NEMORUN_RUN_ID=20261121-101500-quickstart-abcdef\n" in text
    assert "export NEMORUN_RUN_DIR=/runs/100%/r\n" in text
    assert artifacts.logs == {
        "output": "/runs/100%%/r/logs/quickstart-%A_%a.out",
        "error": "/runs/100%%/r/logs/quickstart-%A_%a.err",
    }
    plain = compile_spec(spec)
    assert "NEMORUN_RUN_ID" not in plain.main.text and plain.logs == {}


def test_logs_job_picks_one_point_or_task_and_ls_filters(cli: Cli, workdir: Path) -> None:
    result = cli("launch", QUICKSTART, "steps=1", "log_every=1", "seed=1,2", "--wait")
    assert result.code == 0, result.err
    [run] = ls(cli)
    job = run["jobs"][0]
    one = cli("logs", run["id"], "--job", "1")
    assert (
        one.out.splitlines()[0]
        == "[train] point=1 model=32x2 RELU optim=sgd lr=0.05 data=/tmp/data"
    )
    assert "==>" not in one.out  # one point: no header
    assert cli("logs", run["id"], "--job", f"{job}_0").out.startswith("[train] point=0")
    assert "==> point 1:" in cli("logs", run["id"], "--job", "task").out
    missing = cli("logs", run["id"], "--job", "7")
    assert missing.code == 2 and f"{job} (task, points 0-1)" in missing.err
    assert [r["id"] for r in ls(cli, "--name", "quickstart", "--target", "local")] == [run["id"]]
    assert ls(cli, "--name", "other") == [] and ls(cli, "--target", "slurm") == []
    table = cli("ls").out.splitlines()
    assert table[0].split() == ["ID", "NAME", "TARGET", "CREATED", "STATUS"]
    assert table[1].split()[0::4] == [run["id"], "completed"]


def test_on_a_terminal_a_sweep_shows_one_redrawn_progress_line() -> None:
    import io

    from nemorun.cli.launching import Display as _Display
    from nemorun.launchers.base import JobState, JobStatus
    from nemorun.launchers.launch import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    display = _Display(err, 3)
    states = [JobState.COMPLETED, JobState.RUNNING, JobState.PENDING]
    statuses = tuple(JobStatus(f"1_{i}", s, point=i) for i, s in enumerate(states))
    display.progress(Progress(statuses, statuses))
    display.done()
    assert err.getvalue() == (
        "[1 completed · 1 running · 1 pending] of 3 points"
        "\r\x1b[K[1 completed · 1 running · 1 pending] of 3 points\n"
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_packager_git_runs_the_snapshot_with_its_uncommitted_change(
    cli: Cli, workdir: Path, home: Path
) -> None:
    repo = workdir / "repo"
    write(repo / "pkg" / "hello.py", "def hello() -> None:\n    print('committed')\n")
    spec = write(
        repo / "exp.yaml",
        """
        nemorun: 1
        name: packaged
        packager: git
        pythonpath: [pkg]
        task: {_target_: 'hello:hello'}
        """,
    )
    git_env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "first"]):
        subprocess.run(["git", *args], cwd=repo, env=git_env, check=True)
    # An uncommitted change ships too (as the recorded patch).
    write(repo / "pkg" / "hello.py", "def hello() -> None:\n    print('uncommitted')\n")
    result = cli("run", str(spec))
    assert result.code == 0, result.err
    assert "uncommitted" in result.out
    [run] = ls(cli)
    run_dir = next(p for p in home.rglob(run["id"]) if p.is_dir())
    package = json.loads((run_dir / "code" / "package.json").read_text())
    assert package["dirty"] is True
    artifact = next((run_dir / "artifacts").glob("*.sh")).read_text()
    assert str(run_dir / "code" / "tree" / "pkg") in artifact
    assert str(repo / "pkg") not in artifact
