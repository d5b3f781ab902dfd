"""A Slurm sweep above ``executor.max_array_size`` splits into several job arrays.

Part ``i`` is ``NAME.i.sbatch`` (under ``-o DIR``: stdout cannot hold several scripts, so
compiling without ``-o`` is an error that says to use it), with ``--array=0-(k-1)%P`` and
``NEMORUN_POINT = offset + $SLURM_ARRAY_TASK_ID``. The parts share one ``entry.py`` written
beside them, by its absolute path. Checked: the files and their lines, that every point runs
exactly once with its own values (each part run by bash with a stand-in ``srun``, every array
index, from another directory than the one compile ran in), ``sbatch --test-only`` on each
part, and a real submission.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, nemorun

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec
from nemorun.errors import SpecError

LRS = ["0.01", "0.02", "0.03", "0.04", "0.05"]
QUICKSTART = str(ROOT / "configs/quickstart.yaml")
SWEEP = [QUICKSTART, "--target", "slurm", f"optim.lr={','.join(LRS)}", "steps=2"]


def split(tmp_path: Path, *extra: str) -> list[Path]:
    """Compile the 5-point sweep with at most 2 points per array into ``tmp_path/out`` (named
    relative to ``tmp_path``, where compile runs)."""
    out = tmp_path / "out"
    proc = nemorun(
        "compile", *SWEEP, "+executor.max_array_size=2", *extra, "-o", "out", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    return sorted(out.glob("*.sbatch"))


def test_without_an_output_directory_the_split_is_refused_clearly() -> None:
    proc = nemorun("compile", *SWEEP, "+executor.max_array_size=2")
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert (
        "the sweep has 5 points, more than max_array_size (2): it is split into 3 job arrays; "
        "its 3 scripts (quickstart.0.sbatch, quickstart.1.sbatch, quickstart.2.sbatch) "
        "cannot all go to stdout; write them into a directory with -o DIR"
    ) in proc.stderr


def test_each_part_is_an_array_with_its_offset(tmp_path: Path) -> None:
    parts = split(tmp_path, "+executor.array_parallelism=1")
    assert [p.name for p in parts] == [f"quickstart.{i}.sbatch" for i in range(3)]
    assert (tmp_path / "out" / "entry.py").is_file()
    texts = [p.read_text() for p in parts]
    arrays = [re.findall(r"^#SBATCH --array=(.*)$", t, re.M) for t in texts]
    assert arrays == [["0-1%1"], ["0-1%1"], ["0-0%1"]]
    assert 'export NEMORUN_POINT="${SLURM_ARRAY_TASK_ID:?' in texts[0]
    assert 'export NEMORUN_POINT="$((2 + ${SLURM_ARRAY_TASK_ID:?' in texts[1]
    assert 'export NEMORUN_POINT="$((4 + ${SLURM_ARRAY_TASK_ID:?' in texts[2]
    assert "this array runs points 4 to 4, point 4 + its array index" in texts[2]
    entry = (tmp_path / "out" / "entry.py").read_text()
    for text, path in zip(texts, parts):
        assert entry.splitlines()[-1] not in text  # the parts share it instead of each holding it
        assert f"NEMORUN_ENTRY={tmp_path / 'out' / 'entry.py'}\n" in text
        assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def test_a_sweep_of_exactly_max_array_size_stays_one_script(tmp_path: Path) -> None:
    proc = nemorun("compile", *SWEEP, "+executor.max_array_size=5")
    assert proc.returncode == 0, proc.stderr
    assert "#SBATCH --array=0-4\n" in proc.stdout
    assert [p.name for p in split(tmp_path, "executor.max_array_size=5")] == ["quickstart.sbatch"]


def test_max_array_size_must_be_positive() -> None:
    proc = nemorun("compile", *SWEEP, "+executor.max_array_size=0")
    assert proc.returncode == 2
    assert "executor.max_array_size: must be at least 1" in proc.stderr


def test_the_api_gives_every_part_and_main_says_why_it_cannot() -> None:
    spec, warnings = load_for_target(
        ROOT / "configs/quickstart.yaml",
        ["optim.lr=range(1,8)", "+executor.max_array_size=3"],
        "slurm",
    )
    artifacts = compile_spec(spec, warnings=warnings)
    assert [a.name for a in artifacts.mains] == [f"quickstart.{i}.sbatch" for i in range(3)]
    assert [a.name for a in artifacts.all()][-1] == "entry.py"
    with pytest.raises(SpecError, match="write them into a directory with -o DIR"):
        artifacts.main  # noqa: B018
    # Not told where they will be written, each part holds the entry: any directory will do.
    entry = artifacts.files[-1].text
    assert all(entry in part.text for part in artifacts.mains)
    out = Path("/somewhere/out")
    shared = compile_spec(spec, warnings=warnings, output=out)
    assert all(entry not in part.text for part in shared.mains)
    assert all(f"NEMORUN_ENTRY={out / 'entry.py'}\n" in part.text for part in shared.mains)
    assert shared.files == artifacts.files
    again = compile_spec(spec, warnings=warnings, output=out)
    assert [a.text for a in again.all()] == [a.text for a in shared.all()]


def test_every_point_runs_once_with_its_own_values(tmp_path: Path) -> None:
    """Run each part as Slurm would run each array task, with a stand-in srun, in a directory
    other than the one compile ran in."""
    parts = split(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text('#!/bin/sh\nexec "$@"\n')
    (bin_dir / "srun").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    ran = []
    for part, size in zip(parts, (2, 2, 1)):
        for index in range(size):
            proc = subprocess.run(
                ["bash", str(part)],
                env={**env, "SLURM_ARRAY_TASK_ID": str(index)},
                cwd=elsewhere,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 0, proc.stderr
            ran += re.findall(r"\[train\] point=(\d+) .* lr=(\S+) ", proc.stdout)
    assert ran == [(str(i), lr) for i, lr in enumerate(LRS)]
    # Without the shared entry a part says what it missed, and where.
    (tmp_path / "out" / "entry.py").unlink()
    proc = subprocess.run(
        ["bash", str(parts[1])],
        env={**env, "SLURM_ARRAY_TASK_ID": "0"},
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert f"nemorun: cannot read the sweep's entry {tmp_path / 'out' / 'entry.py'} on " in (
        proc.stderr
    )


@pytest.mark.usefixtures("slurm_cluster")
def test_every_part_passes_sbatch_test_only(tmp_path: Path) -> None:
    for part in split(tmp_path, "+executor.array_parallelism=2"):
        proc = subprocess.run(
            ["sbatch", "--test-only", str(part)], cwd=tmp_path, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr
        assert "to start at" in proc.stderr


@pytest.mark.slow
@pytest.mark.usefixtures("slurm_cluster")
def test_a_split_sweep_runs_on_slurm(tmp_path: Path) -> None:
    seen: dict[str, str] = {}
    for part in split(tmp_path):
        job = subprocess.run(
            ["sbatch", "--parsable", "--wait", str(part)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert job.returncode == 0, job.stderr
        job_id = job.stdout.strip().split(";")[0]
        for log in tmp_path.glob(f"quickstart-{job_id}_*.out"):
            for point, lr in re.findall(r"\[train\] point=(\d+) .* lr=(\S+) ", log.read_text()):
                assert point not in seen
                seen[point] = lr
    assert seen == {str(i): lr for i, lr in enumerate(LRS)}


def test_a_split_task_of_several_shares_the_entry_in_its_own_directory(tmp_path: Path) -> None:
    spec = tmp_path / "mt.yaml"
    spec.write_text(
        f"nemorun: 1\nname: mt\npythonpath: [{ROOT / 'examples'}]\ntasks:\n"
        '  prep: {task: {command: "echo prep"}}\n'
        "  train: {after: [prep], task: {_target_: trainlib:train, model: {hidden_size: 4}}}\n"
        "sweep: {tasks.train.task.optim.lr: [0.1, 0.2, 0.3]}\n"
        "executor: {target: slurm, max_array_size: 2}\n"
    )
    proc = nemorun("compile", str(spec), "-o", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    parts = sorted((tmp_path / "out" / "train").glob("*.sbatch"))
    assert len(parts) == 2
    entry = tmp_path / "out" / "train" / "entry.py"
    assert all(f"NEMORUN_ENTRY={entry}\n" in p.read_text() for p in parts)
    assert entry.is_file()
