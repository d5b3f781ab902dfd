"""The slurm target: parsing (no cluster needed), then real jobs on the test cluster.

The cluster tests need the cluster of ``tests/infra/slurm.sh`` (``bash tests/infra/slurm.sh
start``) and skip, saying so, without its mark (see tests/conftest.py): they never touch another
Slurm. They only ever cancel the jobs they submitted. The last test restarts the (marked) cluster
without accounting and restores it, so it runs last in this file (``test_zz_…``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from conftest import nemorun

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.manifest import MANIFEST, Manifest, TaskEntry, read_manifest
from nemorun.compiler.tasks import compile_tasks
from nemorun.files import write_atomic
from nemorun.launchers import slurm_query
from nemorun.launchers.base import JobRef, JobState, JobStatus, LaunchError, RunHandle
from nemorun.launchers.slurm import SlurmTarget
from nemorun.launchers.slurm_script import (
    fill_offsets,
    read_script,
    resolve_log,
    sbatch_directives,
)
from nemorun.launchers.slurm_states import (
    array_indices,
    expand_job_id,
    job_state,
    parse_sacct,
    parse_scontrol,
    parse_squeue,
    slurm_state,
)

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "configs" / "quickstart.yaml"
SLURM_SH = ROOT / "tests" / "infra" / "slurm.sh"


# --- parsing: no cluster ----------------------------------------------------------------------


def test_array_ranges() -> None:
    assert array_indices("0-3%2") == [0, 1, 2, 3]
    assert array_indices("0-0") == [0]
    assert array_indices("1,3,5-7") == [1, 3, 5, 6, 7]
    assert array_indices("0-15:4") == [0, 4, 8, 12]
    for bad in ("", "a-b", "3-1", "%2"):
        with pytest.raises(ValueError):
            array_indices(bad)


def test_job_ids_expand_pending_ranges() -> None:
    assert expand_job_id("386") == [("386", None)]
    assert expand_job_id("385_4") == [("385", 4)]
    assert expand_job_id("385_[2-5%2]") == [("385", i) for i in (2, 3, 4, 5)]
    assert expand_job_id("385_[1,7]") == [("385", 1), ("385", 7)]
    assert expand_job_id("386.batch") == []


def test_states_map() -> None:
    assert slurm_state("CANCELLED by 0") == "CANCELLED"
    expected = {
        "PENDING": JobState.PENDING,
        "REQUEUED": JobState.PENDING,
        "CONFIGURING": JobState.PENDING,
        "RUNNING": JobState.RUNNING,
        "COMPLETING": JobState.RUNNING,
        "COMPLETED": JobState.COMPLETED,
        "FAILED": JobState.FAILED,
        "TIMEOUT": JobState.FAILED,
        "OUT_OF_MEMORY": JobState.FAILED,
        "NODE_FAIL": JobState.FAILED,
        "BOOT_FAIL": JobState.FAILED,
        "DEADLINE": JobState.FAILED,
        "PREEMPTED": JobState.FAILED,
        "CANCELLED": JobState.CANCELLED,
        "WHATEVER": JobState.UNKNOWN,
    }
    for word, state in expected.items():
        assert job_state(slurm_state(word)) is state, word


# Real outputs of Slurm 22.05 (the test cluster), for jobs 385 (array 0-5%2), 386 (exit 3),
# 387 (afterok:386) and 388 (afterok:386, --kill-on-invalid-dep=yes).
SACCT = """\
386|386|FAILED|3:0|None|node1
387|387|PENDING|0:0|DependencyNeverSatisfied|None assigned
388|388|CANCELLED|0:0|Dependency|None assigned
385_0|389|COMPLETED|0:0|None|node1
385_1|390|COMPLETED|0:0|None|node1
385_[2-5%2]|385|PENDING|0:0|JobArrayTaskLimit|None assigned
"""
SQUEUE = """\
388|388|CANCELLED|DependencyNeverSatisfied|0|
385_0|389|COMPLETED|None|0|node1|
386|386|FAILED|NonZeroExitCode|768|node1|
385_4|385|PENDING|JobArrayTaskLimit|0||
387|387|PENDING|DependencyNeverSatisfied|0||
385_2|392|RUNNING|None|0|node2|
"""
SCONTROL = (
    "JobId=385 ArrayJobId=385 ArrayTaskId=4-5%2 ArrayTaskThrottle=2 JobName=exp "
    "JobState=PENDING Reason=JobArrayTaskLimit Dependency=(null) ExitCode=0:0 NodeList= "
    "StdOut=/tmp/exp-385_4294967294.out\n"
    "JobId=390 ArrayJobId=385 ArrayTaskId=1 ArrayTaskThrottle=2 JobName=exp "
    "JobState=FAILED Reason=NonZeroExitCode ExitCode=3:0 NodeList=node[1-2] BatchHost=node1\n"
)


def test_parse_sacct() -> None:
    seen = {s.id: s for s in parse_sacct(SACCT)}
    assert set(seen) == {"386", "387", "388", *(f"385_{i}" for i in range(6))}
    assert (seen["386"].state, seen["386"].exit_code, seen["386"].node) == ("FAILED", 3, "node1")
    assert seen["387"].reason == "DependencyNeverSatisfied"
    assert seen["387"].node is None
    assert seen["385_1"].raw_id == "390"
    assert seen["385_3"].state == "PENDING"
    assert seen["385_3"].raw_id is None  # a range's id is not the element's own


def test_parse_squeue() -> None:
    seen = {s.id: s for s in parse_squeue(SQUEUE)}
    assert seen["388"].reason == "DependencyNeverSatisfied"
    assert (seen["386"].exit_code, seen["386"].signal) == (3, None)  # raw wait status 768
    assert seen["385_4"].raw_id is None  # pending elements share the array's id
    assert (seen["385_2"].raw_id, seen["385_2"].node) == ("392", "node2")


def test_parse_scontrol() -> None:
    seen = {s.id: s for s in parse_scontrol(SCONTROL)}
    assert set(seen) == {"385_4", "385_5", "385_1"}
    assert seen["385_5"].reason == "JobArrayTaskLimit"
    assert (seen["385_1"].state, seen["385_1"].exit_code) == ("FAILED", 3)
    assert (seen["385_1"].raw_id, seen["385_1"].node) == ("390", "node1")


def test_parsers_split_lines_and_words_as_slurm_does() -> None:
    """Only "\\n" ends a line and only ASCII white space a word: a job name or a quoted value may
    hold "\\x85", "\\u2028" or "\\v" (Python's splitlines and isspace break at them)."""
    record = (
        "JobId=7 JobName=a\u2028b\x85c UserId=root(0) JobState=FAILED Reason=NonZeroExitCode "
        "ExitCode=3:0 NodeList=node1 BatchHost=node1\n"
    )
    assert [(s.id, s.state, s.exit_code) for s in parse_scontrol(record)] == [("7", "FAILED", 3)]
    script = "#!/bin/bash\n#SBATCH --comment='a\x0bb\u2028c' --job-name='x\x85y'\necho\n"
    assert sbatch_directives(script) == {"comment": "a\x0bb\u2028c", "job-name": "x\x85y"}


def test_sbatch_directives() -> None:
    script = textwrap.dedent(
        """\
        #!/bin/bash
        #SBATCH --job-name='my job'
        #SBATCH -o 'logs/%x-%j.out' --array 0-4%2
        #SBATCH --exclusive
        #SBATCH --comment='a\\\\b'
        # a comment
        echo hi
        #SBATCH --partition=ignored
        """
    )
    options = sbatch_directives(script)
    assert options == {
        "job-name": "my job",
        "output": "logs/%x-%j.out",
        "array": "0-4%2",
        "exclusive": None,
        "comment": "a\\b",
    }


def test_split_array_offsets(tmp_path: Path) -> None:
    """Each part of a split sweep says its first point; part 0's is 0."""
    run = compiled_run(
        tmp_path, QUICKSTART, "optim.lr=0.1,0.2,0.3,0.4,0.5", "executor.max_array_size=2"
    )
    files = sorted(p.name for p in run.artifacts_dir.glob("*.sbatch"))
    assert files == ["quickstart.0.sbatch", "quickstart.1.sbatch", "quickstart.2.sbatch"]
    infos = [read_script(f, (run.artifacts_dir / f).read_text()) for f in files]
    fill_offsets(infos)
    assert [i.points for i in infos] == [(0, 1), (2, 3), (4,)]
    # Scripts that do not say it: the offsets follow from the part numbers and sizes.
    bare = [read_script(f, "#!/bin/bash\n#SBATCH --array=0-1\n") for f in files]
    bare[2] = read_script(files[2], "#!/bin/bash\n#SBATCH --array=0-0\n")
    fill_offsets(bare)
    assert [i.points for i in bare] == [(0, 1), (2, 3), (4,)]


def test_log_patterns() -> None:
    assert resolve_log("%x-%A_%a.out", job="12", index=3, name="q") == "q-12_3.out"
    assert resolve_log("%x-%j.out", job="12", name="q") == "q-12.out"
    # An element's %j is its own id, unknown until it started.
    assert resolve_log("%j.out", job="12", index=3) == "%j.out"
    assert resolve_log("%j.out", job="12", index=3, wildcard=True) == "*.out"
    assert resolve_log("%j.out", job="12", index=3, raw_id="15") == "15.out"
    assert resolve_log("%4a-%N-%%.log", job="12", index=3, node="node1") == "0003-node1-%.log"
    # A run's log directory holding a % is written doubled (as sbatch reads it).
    assert resolve_log("/runs/50%%/logs/q-%j.out", job="12") == "/runs/50%/logs/q-12.out"


# --- the cluster --------------------------------------------------------------------------------


@pytest.fixture
def target(slurm_cluster: dict[str, str]) -> SlurmTarget:
    """The target, on the test cluster (``slurm_cluster`` in tests/conftest.py skips without)."""
    return SlurmTarget()


@pytest.fixture
def runs() -> Iterator[list[RunHandle]]:
    """Runs a test submits; whatever is left of their jobs is cancelled afterwards (only
    theirs: other sessions may use the cluster at the same time)."""
    made: list[RunHandle] = []
    yield made
    ids = [j.id for run in made for j in run.jobs]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=60)


def compiled_run(
    directory: Path, spec: Path, *overrides: str, name: str = "run", tasks: bool = False
) -> RunHandle:
    """A run directory holding the compiled slurm artifacts of ``spec``, as the launch layer
    writes them (``Artifacts.write`` into ``RUN/artifacts``)."""
    loaded, warnings = load_for_target(spec, overrides, "slurm")
    run = RunHandle(f"test-{uuid.uuid4().hex[:8]}", name, directory / name, "slurm")
    compile_tasks(loaded, "slurm", warnings=warnings).write(run.artifacts_dir)
    return run


def command_spec(directory: Path, name: str, command: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        f"nemorun: 1\nname: {name}\ntask: {{command: {command!r}}}\nexecutor: {{target: slurm}}\n"
    )
    return path


def task_run(directory: Path, name: str, tasks: dict[str, tuple[str, list[str]]]) -> RunHandle:
    """A multi-task run: each task a command spec compiled on its own into a subdirectory,
    their order in a ``tasks.json`` (`nemorun.compiler.manifest`, as compile writes it).
    ``tasks``: name → (command, after). Job names get a unique suffix so tests can find them."""
    suffix = uuid.uuid4().hex[:6]
    run = RunHandle(f"test-{suffix}", name, directory / name, "slurm")
    entries = []
    for task, (command, after) in tasks.items():
        spec = command_spec(directory, f"{task}-{suffix}", command)
        loaded, warnings = load_for_target(spec, (), "slurm")
        compile_spec(loaded, "slurm", warnings=warnings).write(run.artifacts_dir / task)
        main = f"{task}/{task}-{suffix}.sbatch"
        entries.append(TaskEntry(task, tuple(after), "slurm", (main,)))
    write_atomic(run.artifacts_dir / MANIFEST, Manifest(tuple(entries)).text())
    return run


def main_of(run: RunHandle, index: int) -> str:
    """The main script of the run's task ``index``, relative to its artifacts."""
    return read_manifest(run.artifacts_dir).tasks[index].mains[0]


def wait_final(target: SlurmTarget, run: RunHandle, timeout: float = 90) -> list[JobStatus]:
    """Poll until every job of ``run`` reached a final state (sacct lags: never sleep once)."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = target.status(run)
        if statuses and all(s.state.is_final() for s in statuses):
            return statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"not finished after {timeout} s: {statuses}")
        time.sleep(0.3)


def wait_state(
    target: SlurmTarget, run: RunHandle, state: JobState, timeout: float = 60
) -> list[JobStatus]:
    deadline = time.monotonic() + timeout
    while True:
        statuses = target.status(run)
        if statuses and all(s.state is state for s in statuses):
            return statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"not {state.value} after {timeout} s: {statuses}")
        time.sleep(0.2)


def by_id(statuses: list[JobStatus]) -> dict[str, JobStatus]:
    return {s.id: s for s in statuses}


def test_available(target: SlurmTarget) -> None:
    assert target.available() is None


def test_available_without_sbatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    reason = SlurmTarget().available()
    assert reason is not None
    assert "sbatch is not on PATH" in reason


@pytest.mark.slow
def test_sweep_is_one_array_with_every_point_logged(
    target: SlurmTarget, runs: list[RunHandle], tmp_path: Path
) -> None:
    run = compiled_run(tmp_path, QUICKSTART, "optim.lr=0.01,0.02,0.03,0.04")
    runs.append(run)
    run.jobs = target.submit(run)
    assert len(run.jobs) == 1
    (job,) = run.jobs
    assert job.points == (0, 1, 2, 3)
    assert job.extra["array"] == "0-3"
    assert job.log == str(run.dir / f"quickstart-{job.id}_{{point}}.out")
    # Following the array's logs waits for all its elements and their files.
    lines = list(target.logs(run, job, follow=True))
    statuses = wait_final(target, run)
    assert [(s.id, s.state, s.point) for s in statuses] == [
        (f"{job.id}_{i}", JobState.COMPLETED, i) for i in range(4)
    ]
    assert all(s.exit_code == 0 for s in statuses)
    for i, lr in enumerate(("0.01", "0.02", "0.03", "0.04")):
        own = (run.dir / f"quickstart-{job.id}_{i}.out").read_text()
        assert f"point={i} " in own
        assert f"lr={lr} " in own
    followed = "\n".join(lines)
    assert followed.count("step 60 loss") == 4
    for i in range(4):
        assert f"==> {job.id}_{i} (point {i}): " in followed
    # Read again, without following: each element under its header, in order.
    text = list(target.logs(run, job))
    headers = [n for n, line in enumerate(text) if line.startswith("==> ")]
    assert len(headers) == 4
    for i, start in enumerate(headers):
        assert text[start + 1].startswith(f"[train] point={i} ")
    # One element alone.
    one = list(target.logs(run, JobRef(f"{job.id}_2", job.task)))
    assert one[0].startswith(f"==> {job.id}_2 (point 2)")
    assert "lr=0.03 " in one[1]
    # What was seen is kept for later (the record saves run.state).
    last = run.state["slurm"]["last"]
    assert {last[f"{job.id}_{i}"]["state"] for i in range(4)} == {"COMPLETED"}


@pytest.mark.slow
def test_split_array_tracks_every_point(
    target: SlurmTarget, runs: list[RunHandle], tmp_path: Path
) -> None:
    run = compiled_run(
        tmp_path, QUICKSTART, "optim.lr=0.1,0.2,0.3,0.4,0.5", "executor.max_array_size=2"
    )
    runs.append(run)
    run.jobs = target.submit(run)
    assert [j.points for j in run.jobs] == [(0, 1), (2, 3), (4,)]
    statuses = wait_final(target, run)
    assert sorted(s.point for s in statuses if s.point is not None) == [0, 1, 2, 3, 4]
    assert {s.state for s in statuses} == {JobState.COMPLETED}
    for s in statuses:
        job, _, index = s.id.partition("_")
        text = (run.dir / f"quickstart-{job}_{index}.out").read_text()
        assert f"point={s.point} lr=" in text.replace(" model=32x2 RELU optim=sgd", "")
        assert f"lr=0.{(s.point or 0) + 1} " in text


@pytest.mark.slow
def test_rerun_of_some_points(target: SlurmTarget, runs: list[RunHandle], tmp_path: Path) -> None:
    """``run.points`` submits only those points: an ``--array`` of them, per part."""
    run = compiled_run(
        tmp_path, QUICKSTART, "optim.lr=0.1,0.2,0.3,0.4,0.5", "executor.max_array_size=2"
    )
    runs.append(run)
    run.points = {"task": (1, 2, 3)}
    run.jobs = target.submit(run)
    assert [(j.points, j.extra["array"]) for j in run.jobs] == [((1,), "1"), ((2, 3), "0-1")]
    statuses = wait_final(target, run)
    assert [(s.id, s.point, s.state) for s in statuses] == [
        (f"{run.jobs[0].id}_1", 1, JobState.COMPLETED),
        (f"{run.jobs[1].id}_0", 2, JobState.COMPLETED),
        (f"{run.jobs[1].id}_1", 3, JobState.COMPLETED),
    ]
    assert not (run.dir / f"quickstart-{run.jobs[0].id}_0.out").exists()
    # Logs of one point of a job, as the CLI narrows it.
    lines = list(target.logs(run, dataclasses.replace(run.jobs[1], points=(3,))))
    assert (
        lines[0]
        == f"==> {run.jobs[1].id}_1 (point 3): {run.dir}/quickstart-{run.jobs[1].id}_1.out <=="
    )
    assert "lr=0.4 " in lines[1]
    assert not any(line.startswith(f"==> {run.jobs[1].id}_0") for line in lines)


@pytest.mark.slow
def test_tasks_run_in_dependency_order(
    target: SlurmTarget, runs: list[RunHandle], tmp_path: Path
) -> None:
    stamp = "date +%s.%N"
    run = task_run(
        tmp_path,
        "ordered",
        {
            # Listed out of order on purpose: the target orders them by `after`.
            "second": (f"echo start $({stamp})", ["first"]),
            "first": (f"sleep 2; echo end $({stamp})", []),
        },
    )
    runs.append(run)
    run.jobs = target.submit(run)
    first, second = run.jobs
    assert (first.task, second.task) == ("first", "second")
    assert second.extra["dependency"] == f"afterok:{first.id}"
    statuses = wait_final(target, run)
    assert [s.state for s in statuses] == [JobState.COMPLETED, JobState.COMPLETED]
    first_out = Path(first.log or "").read_text()
    ended = float(first_out.split()[-1])
    started = float(Path(second.log or "").read_text().split()[-1])
    assert started >= ended
    assert list(target.logs(run, first)) == first_out.splitlines()


@pytest.mark.slow
def test_cancel_a_long_job(target: SlurmTarget, runs: list[RunHandle], tmp_path: Path) -> None:
    run = compiled_run(tmp_path, command_spec(tmp_path, "long", "sleep 300"))
    runs.append(run)
    run.jobs = target.submit(run)
    wait_state(target, run, JobState.RUNNING)
    target.cancel(run)
    (status,) = wait_state(target, run, JobState.CANCELLED, timeout=30)
    assert status.id == run.jobs[0].id
    # Cancelling again (nothing left to stop) is not an error.
    target.cancel(run)


@pytest.mark.slow
def test_cancel_some_points_of_a_split_array(
    target: SlurmTarget, runs: list[RunHandle], tmp_path: Path
) -> None:
    """``cancel_points`` stops those elements only; a later part's element by its offset."""
    (tmp_path / "napper.py").write_text(
        "import time\n\n\ndef nap(seconds: int) -> None:\n"
        "    time.sleep(seconds)\n    print(f'slept {seconds}')\n"
    )
    path = tmp_path / "points.yaml"
    path.write_text(
        f"nemorun: 1\nname: points\npythonpath: [{tmp_path}]\n"
        "task: {_target_: napper:nap, seconds: 1}\nexecutor: {target: slurm}\n"
        "sweep: {task.seconds: [3, 300, 301, 4]}\n"
    )
    run = compiled_run(tmp_path, path, "executor.max_array_size=2")
    runs.append(run)
    run.jobs = target.submit(run)
    first, second = run.jobs
    assert (first.points, second.points) == ((0, 1), (2, 3))
    deadline = time.monotonic() + 60
    while by_id(target.status(run))[f"{first.id}_1"].state is not JobState.RUNNING:
        assert time.monotonic() < deadline, "point 1 never ran"
        time.sleep(0.2)
    target.cancel_points(run, {"task": (1, 2)})  # one running, one maybe not yet
    statuses = wait_final(target, run)
    assert [(s.id, s.point, s.state) for s in statuses] == [
        (f"{first.id}_0", 0, JobState.COMPLETED),
        (f"{first.id}_1", 1, JobState.CANCELLED),
        (f"{second.id}_0", 2, JobState.CANCELLED),
        (f"{second.id}_1", 3, JobState.COMPLETED),
    ]
    assert run.state["slurm"]["cancelled_elements"] == sorted([f"{first.id}_1", f"{second.id}_0"])
    lines = list(target.logs(run, first)) + list(target.logs(run, second))
    assert "slept 3" in lines and "slept 4" in lines and "slept 300" not in lines


@pytest.mark.slow
def test_failed_job_and_its_never_satisfied_dependant(
    target: SlurmTarget, runs: list[RunHandle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = task_run(
        tmp_path,
        "failing",
        {
            "prep": ("echo preparing; exit 3", []),
            "train": ("echo should not run", ["prep"]),
            "report": ("echo should not run either", ["train"]),
        },
    )
    runs.append(run)
    run.jobs = target.submit(run)
    prep, train, report = run.jobs
    statuses = by_id(wait_final(target, run))
    assert statuses[prep.id].state is JobState.FAILED
    assert statuses[prep.id].exit_code == 3
    assert statuses[prep.id].reason == "exit code 3"
    assert statuses[train.id].state is JobState.FAILED
    assert statuses[train.id].reason == f"dependency never satisfied: prep failed (job {prep.id})"
    assert statuses[report.id].state is JobState.FAILED
    assert statuses[report.id].reason == (
        f"dependency never satisfied: train failed (job {train.id})"
    )
    # Not left pending: Slurm itself ended them.
    queue = subprocess.run(
        ["squeue", "-h", "-j", f"{train.id},{report.id}", "-o", "%i %T"],
        capture_output=True,
        text=True,
    )
    assert queue.stdout.strip() == ""
    assert not Path(train.log or "").exists()
    # Stays so on later queries, when only sacct (or the persisted state) knows.
    again = by_id(target.status(run))
    assert again[train.id].state is JobState.FAILED
    # stdout, then stderr (srun's own complaint) under a header.
    lines = list(target.logs(run, prep))
    assert lines[0] == "preparing"
    err = run.dir / f"{prep.extra['name']}-{prep.id}.err"
    assert lines[1] == f"==> {prep.id} stderr: {err} <=="
    assert "Exited with exit code 3" in lines[2]
    # Once slurmctld has forgotten them (MinJobAge), sacct alone says CANCELLED, with the
    # reason they had before (Dependency): still failed, even for a record that never saw them.
    monkeypatch.setattr(slurm_query, "controller", lambda run, ids: ([], None))
    fresh = RunHandle(run.id, run.name, run.dir, "slurm", run.jobs, {})
    later = by_id(wait_final(target, fresh))
    assert {k: (v.state, v.reason) for k, v in later.items()} == {
        k: (v.state, v.reason) for k, v in statuses.items()
    }
    assert fresh.state["slurm"]["last"][train.id]["source"] == "sacct"


@pytest.mark.slow
def test_never_satisfied_dependency_left_pending_is_cancelled(
    target: SlurmTarget, runs: list[RunHandle], tmp_path: Path
) -> None:
    """A script may ask Slurm to keep such a job (``kill-on-invalid-dep: no``): status then
    reports it failed and cancels it."""
    run = task_run(tmp_path, "kept", {"prep": ("exit 3", []), "train": ("true", ["prep"])})
    runs.append(run)
    script = run.artifacts_dir / main_of(run, 1)
    text = script.read_text()
    script.write_text(text.replace("#SBATCH", "#SBATCH --kill-on-invalid-dep=no\n#SBATCH", 1))
    run.jobs = target.submit(run)
    prep, train = run.jobs
    statuses = by_id(wait_final(target, run))
    assert statuses[train.id].state is JobState.FAILED
    assert statuses[train.id].reason == f"dependency never satisfied: prep failed (job {prep.id})"
    # status cancelled it: it leaves the queue, and reads failed (not cancelled) afterwards.
    deadline = time.monotonic() + 30
    while True:
        queue = subprocess.run(
            ["squeue", "-h", "-t", "all", "-j", train.id, "-o", "%T"],
            capture_output=True,
            text=True,
        )
        if queue.stdout.strip() == "CANCELLED":
            break
        assert time.monotonic() < deadline, queue.stdout
        time.sleep(0.2)
    assert by_id(target.status(run))[train.id].state is JobState.FAILED


@pytest.mark.slow
def test_refused_submission_cancels_what_was_submitted(
    target: SlurmTarget, runs: list[RunHandle], tmp_path: Path
) -> None:
    # A single job asking for more GPUs than a node has.
    run = compiled_run(tmp_path, QUICKSTART, "executor.gpus_per_node=9")
    with pytest.raises(LaunchError, match="Requested node configuration is not available"):
        target.submit(run)
    # The second task is refused: the first one, already submitted, is cancelled.
    run = task_run(tmp_path, "half", {"ok": ("sleep 300", []), "bad": ("true", ["ok"])})
    bad = run.artifacts_dir / main_of(run, 1)
    bad.write_text(bad.read_text().replace("#SBATCH", "#SBATCH --gpus-per-node=9\n#SBATCH", 1))
    name = Path(main_of(run, 0)).name.removesuffix(".sbatch")
    with pytest.raises(LaunchError, match=r"sbatch refused bad/bad-\w+\.sbatch: .*not available"):
        target.submit(run)
    # Cancelled (a job that had started passes through COMPLETING first).
    deadline = time.monotonic() + 30
    while True:
        queue = subprocess.run(
            ["squeue", "-h", "-t", "all", "-n", name, "-o", "%i %T"],
            capture_output=True,
            text=True,
        )
        states = queue.stdout.split()[1::2]
        if states == ["CANCELLED"]:
            break
        assert len(states) == 1 and time.monotonic() < deadline, queue.stdout
        time.sleep(0.2)


@pytest.mark.slow
def test_caller_sbatch_variables_do_not_override_the_script(
    target: SlurmTarget, runs: list[RunHandle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SBATCH_* variables outrank #SBATCH lines in sbatch: the compiled script must decide."""
    monkeypatch.setenv("SBATCH_PARTITION", "no-such-partition")
    monkeypatch.setenv("SBATCH_JOB_NAME", "renamed")
    run = compiled_run(tmp_path, command_spec(tmp_path, "plain", "echo ok"))
    runs.append(run)
    run.jobs = target.submit(run)
    assert list(target.logs(run, run.jobs[0], follow=True)) == ["ok"]
    assert [s.state for s in wait_final(target, run)] == [JobState.COMPLETED]
    assert run.jobs[0].log == str(run.dir / f"plain-{run.jobs[0].id}.out")
    assert list(target.logs(run, run.jobs[0])) == ["ok"]


def test_a_manifest_in_a_cycle_is_refused_before_anything_is_submitted(tmp_path: Path) -> None:
    run = RunHandle("x", "x", tmp_path, "slurm")
    entries = (TaskEntry("a", ("b",), "slurm", ("a.sbatch",)), TaskEntry("b", ("a",), "slurm"))
    write_atomic(run.artifacts_dir / MANIFEST, Manifest(entries).text())
    with pytest.raises(LaunchError, match=r"tasks\.json: tasks come after each other in a cycle"):
        SlurmTarget().submit(run)


def test_persisted_state_outlives_slurm(target: SlurmTarget) -> None:
    """A job that no tool knows any more keeps its last final state; never seen: unknown."""
    gone = "99999990"
    run = RunHandle("old", "old", Path("/nonexistent"), "slurm")
    run.jobs = [
        JobRef(gone, points=(0,)),
        JobRef(str(int(gone) + 1), points=(1, 2), extra={"array": "0-1", "offset": 1}),
        JobRef(str(int(gone) + 2)),
    ]
    run.state["slurm"] = {
        "last": {
            gone: {"state": "FAILED", "exit_code": 2, "source": "squeue"},
            f"{int(gone) + 1}_0": {"state": "COMPLETED", "exit_code": 0, "source": "squeue"},
            f"{int(gone) + 1}_1": {"state": "RUNNING", "source": "squeue"},
        }
    }
    statuses = by_id(target.status(run))
    assert (statuses[gone].state, statuses[gone].exit_code) == (JobState.FAILED, 2)
    assert statuses[f"{int(gone) + 1}_0"].state is JobState.COMPLETED
    assert statuses[f"{int(gone) + 1}_0"].point == 1
    running = statuses[f"{int(gone) + 1}_1"]
    assert running.state is JobState.UNKNOWN
    assert running.reason == "Slurm no longer knows the job (last seen RUNNING)"
    assert statuses[str(int(gone) + 2)].state is JobState.UNKNOWN


def shifted(element: str, shift: int) -> str:
    """``123_4`` → ``(123 + shift)_4``."""
    job, sep, index = element.partition("_")
    return f"{int(job) + shift}{sep}{index}"


# --- one Python: nemorun called by path, without an activated venv ---------------------------

PROBE = """\
import json, sys


def report(out: str) -> None:
    with open(out, "w") as f:
        json.dump({"executable": sys.executable}, f)
"""


def installed_probe(site: Path) -> None:
    """A tiny installed distribution ``nrprobe`` 1.2.3 (module ``nrprobe``) in ``site``."""
    (site / "nrprobe").mkdir(parents=True)
    (site / "nrprobe" / "__init__.py").write_text(PROBE)
    info = site / "nrprobe-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: nrprobe\nVersion: 1.2.3\nRequires-Dist: PyYAML>=5\n"
        "Requires-Dist: nrprobe-missing-dependency\nRequires-Dist: rich; extra == 'pretty'\n"
    )
    (info / "top_level.txt").write_text("nrprobe\n")


@pytest.mark.slow
def test_nemorun_called_by_path_runs_slurm_jobs_under_its_own_python(
    target: SlurmTarget, tmp_path: Path
) -> None:
    """No venv on PATH: the job still runs the interpreter nemorun runs under, and the record
    names the task's distribution and the versions of its requirements."""
    installed_probe(tmp_path / "site")
    out = tmp_path / "out.json"
    spec = tmp_path / "probe.yaml"
    spec.write_text(
        f"nemorun: 1\nname: probe\npythonpath: [{json.dumps(str(tmp_path / 'site'))}]\n"
        f"task: {{_target_: 'nrprobe:report', out: {json.dumps(str(out))}}}\n"
        "executor: {target: slurm}\n"
    )
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != venv_bin)
    env = {**os.environ, "PATH": path, "NEMORUN_HOME": str(tmp_path / "home")}
    env.pop("VIRTUAL_ENV", None)

    proc = nemorun("launch", str(spec), "--wait", env=env, timeout=180)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == {"executable": sys.executable}
    (record,) = (tmp_path / "home" / "nemorun-runs").glob("*/provenance.json")
    assert json.loads(record.read_text())["task_packages"] == {
        "nrprobe": {
            "version": "1.2.3",
            "modules": ["nrprobe"],
            "requires": {"PyYAML": metadata.version("PyYAML"), "nrprobe-missing-dependency": None},
        }
    }


# --- without accounting: keep this test last in the file -------------------------------------


def slurm_sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SLURM_SH), *args], capture_output=True, text=True, timeout=600
    )


@pytest.fixture
def no_accounting(target: SlurmTarget) -> Iterator[None]:
    """The cluster restarted without accounting; restored with accounting afterwards, even
    when the test fails. Restarting cancels every job on the cluster: run this once, last."""
    started = slurm_sh("start", "--no-accounting")
    try:
        assert started.returncode == 0, started.stderr
        yield
    finally:
        restored = slurm_sh("start")
        assert restored.returncode == 0, restored.stderr


@pytest.mark.slow
def test_zz_states_without_accounting(
    target: SlurmTarget, no_accounting: None, runs: list[RunHandle], tmp_path: Path
) -> None:
    sacct = subprocess.run(["sacct", "-n", "-X"], capture_output=True, text=True)
    assert sacct.returncode == 1
    assert "accounting storage is disabled" in sacct.stderr
    done = compiled_run(tmp_path, QUICKSTART, "optim.lr=0.01,0.02", name="done")
    failed = task_run(tmp_path, "failed", {"prep": ("exit 3", []), "train": ("true", ["prep"])})
    long = compiled_run(tmp_path, command_spec(tmp_path, "long", "sleep 300"), name="long")
    for run in (done, failed, long):
        runs.append(run)
        run.jobs = target.submit(run)
    wait_state(target, long, JobState.RUNNING)
    target.cancel(long)
    assert {s.state for s in wait_final(target, done)} == {JobState.COMPLETED}
    statuses = by_id(wait_final(target, failed))
    prep, train = failed.jobs
    assert (statuses[prep.id].state, statuses[prep.id].exit_code) == (JobState.FAILED, 3)
    assert statuses[train.id].state is JobState.FAILED
    assert statuses[train.id].reason == f"dependency never satisfied: prep failed (job {prep.id})"
    assert [s.state for s in wait_final(target, long)] == [JobState.CANCELLED]
    assert list(target.logs(run=done, job=done.jobs[0]))[1].startswith("[train] point=0 ")

    # Finished jobs have left plain squeue; slurmctld still knows them (squeue -t all and
    # scontrol) until MinJobAge, and both say the same.
    ids = [j.id for run in (done, failed, long) for j in run.jobs]
    plain = subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True, text=True)
    assert plain.stdout.strip() == ""
    via_squeue = {s.id: s.state for s in parse_squeue(slurm_query.squeue(target._run, ids).stdout)}
    via_scontrol = {
        s.id: s.state
        for job in ids
        for s in parse_scontrol(slurm_query.scontrol(target._run, job).stdout)
    }
    assert via_squeue == via_scontrol
    assert len(via_squeue) == 5

    # After MinJobAge (300 s here) no tool knows them: the persisted last states answer. The
    # same runs under job ids no tool knows stand for that moment.
    for run in (done, failed, long):
        before = by_id(target.status(run))
        shift = 90_000_000
        run.jobs = [
            JobRef(shifted(j.id, shift), j.task, j.points, j.log, j.extra) for j in run.jobs
        ]
        for key in ("last", "never"):
            old = run.state["slurm"][key]
            run.state["slurm"][key] = {shifted(k, shift): v for k, v in old.items()}
        after = by_id(target.status(run))
        assert [(s.state, s.reason, s.exit_code, s.point) for s in before.values()] == [
            (s.state, s.reason, s.exit_code, s.point) for s in after.values()
        ]
