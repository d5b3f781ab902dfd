"""No cap on a sweep: the entry reaches the job as a file, never as one command-line word (Linux
caps one at 128 KiB, which refused one axis of more than about 12,000 numbers).

- One axis of 20,000 values (an entry of about 200 KB, refused before) compiles, and sample
  points of the real artifacts each receive their own value: the local script, the Slurm
  scripts of the split arrays (sharing the one ``entry.py`` beside them) run by bash with
  ``SLURM_ARRAY_TASK_ID`` set (``srun`` a stand-in: there is no allocation), and the docker
  script on the test engine. Each leaves no file behind.
- A large SkyPilot sweep ships the entry once: 1,000 points stay under 1 MB, 2,000 take about
  twice that, SkyPilot's own pipeline loader reads the stream, and a document run as SkyPilot
  runs it (the shipped file at its mount) gets its own value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DOCKER_ENV, needs_docker, nemorun
from test_skypilot import documents, fake_node, needs_sky, run_like_skypilot, sky_read

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.job import ENTRY_FILE, RunContext
from nemorun.compiler.targets.skypilot import ENTRY_MOUNT

FIXTURES = Path(__file__).resolve().parent
VALUES = [f"v{i}" for i in range(20_000)]
SAMPLES = [0, 1, 1_000, 1_001, 12_345, 19_999]
ARRAY = 1_001  # Slurm's default max_array_size: 20 arrays
IMAGE = "nemorun-test-python:1"

pytestmark = pytest.mark.slow


def echo_spec(directory: Path, values: list[str], executor: dict[str, object]) -> Path:
    """A sweep of ``fixtures_entry:echo`` over ``values``, reporting to ``directory/out.jsonl``."""
    directory.mkdir(parents=True, exist_ok=True)
    tree = {
        "nemorun": 1,
        "name": "wide",
        "pythonpath": [str(FIXTURES)],
        "task": {"_target_": "fixtures_entry:echo", "out": str(directory / "out.jsonl")},
        "sweep": {"text": values},
        "executor": {"python": sys.executable, **executor},
    }
    spec = directory / "wide.yaml"
    spec.write_text(json.dumps(tree), encoding="utf-8")
    return spec


def compiled(spec: Path, target: str, directory: Path) -> list[Path]:
    """The spec's artifacts for ``target``, written under ``directory`` (which compile is told,
    as ``-o DIR`` tells it): the main ones first."""
    loaded, warnings = load_for_target(spec, (), target)
    artifacts = compile_spec(loaded, warnings=warnings, output=directory)
    assert len(next(a for a in artifacts.files if a.name == ENTRY_FILE).text.encode()) > 128 * 1024
    return artifacts.write(directory)


def received(out: Path) -> dict[int, str]:
    """What each point's job received: point → its ``text``."""
    reports = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return {int(r["point"]): r["text"] for r in reports}


def run(argv: list[str], cwd: Path, **env: str) -> None:
    """Run an artifact with a private TMPDIR, which it must leave empty."""
    tmp = cwd / "tmp"
    tmp.mkdir(exist_ok=True)
    full = {"PATH": os.environ["PATH"], "HOME": str(cwd), "TMPDIR": str(tmp), **env}
    proc = subprocess.run(argv, cwd=cwd, env=full, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert list(tmp.iterdir()) == []  # the entry's file is removed when the script ends


def test_local_points_of_a_20000_value_axis_get_their_values(tmp_path: Path) -> None:
    spec = echo_spec(tmp_path, VALUES, {"target": "local"})
    script = compiled(spec, "local", tmp_path / "out")[0]
    for point in SAMPLES:
        run(["bash", str(script), str(point)], tmp_path)
    assert received(tmp_path / "out.jsonl") == {p: VALUES[p] for p in SAMPLES}


def test_slurm_array_tasks_of_a_20000_value_axis_get_their_values(tmp_path: Path) -> None:
    spec = echo_spec(tmp_path, VALUES, {"target": "slurm"})
    scripts = compiled(spec, "slurm", tmp_path / "out")[:-1]
    assert len(scripts) == 20 and all(s.name == f"wide.{i}.sbatch" for i, s in enumerate(scripts))
    # The 20 parts share the one entry.py beside them instead of each holding its 200 KB.
    assert all(s.stat().st_size < 2_000 for s in scripts)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"  # one task on this machine, as a one-node step would run it
    srun.write_text('#!/bin/bash\nwhile [[ $1 == --* ]]; do shift; done\nexec "$@"\n')
    srun.chmod(0o755)
    for point in SAMPLES:
        part, index = divmod(point, ARRAY)
        run(
            ["bash", str(scripts[part])],
            tmp_path,
            PATH=f"{bin_dir}:{os.environ['PATH']}",
            SLURM_ARRAY_TASK_ID=str(index),
        )
    assert received(tmp_path / "out.jsonl") == {p: VALUES[p] for p in SAMPLES}


@needs_docker
def test_docker_points_of_a_20000_value_axis_get_their_values(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)  # the container's user writes the report
    container = {"image": IMAGE, "mounts": [f"{tmp_path}:{tmp_path}"]}
    spec = echo_spec(tmp_path, VALUES, {"target": "docker", "container": container})
    spec.write_text(spec.read_text().replace(json.dumps(sys.executable), '"python3"'))
    script = compiled(spec, "docker", tmp_path / "out")[0]
    for point in (0, 19_999):
        run(["bash", str(script), str(point)], tmp_path, **DOCKER_ENV)
    assert received(tmp_path / "out.jsonl") == {0: VALUES[0], 19_999: VALUES[19_999]}


def skypilot_sweep(tmp_path: Path, count: int) -> tuple[str, Path]:
    """A sweep of ``count`` points compiled for SkyPilot with ``-o DIR``: its text and DIR."""
    spec = echo_spec(tmp_path / f"spec{count}", VALUES[:count], {"target": "skypilot"})
    out = tmp_path / f"out{count}"
    proc = nemorun("compile", str(spec), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "documents share the entry instead of each holding it" in proc.stderr
    return (out / "wide.yaml").read_text(encoding="utf-8"), out


@needs_sky
def test_a_skypilot_sweep_ships_its_entry_once_and_grows_linearly(tmp_path: Path) -> None:
    text, out = skypilot_sweep(tmp_path, 1_000)
    double, _ = skypilot_sweep(tmp_path, 2_000)
    size = len(text.encode())
    assert size <= 1_000_000
    assert 1.9 < len(double.encode()) / size < 2.1
    docs = documents(text)
    stream = tmp_path / "wide.stream.yaml"
    stream.write_text(text, encoding="utf-8")
    firsts = [tmp_path / "wide.0.yaml", tmp_path / "wide.999.yaml"]
    for path, doc in zip(firsts, (docs[0], docs[-1])):
        path.write_text(doc, encoding="utf-8")
    read = sky_read([*firsts, stream], tmp_path / "sky-home")
    assert read[str(stream)] == {"tasks": [f"wide-{i}" for i in range(1_000)]}
    home = fake_node(tmp_path / "node")
    for path in firsts:
        task = read[str(path)]
        assert "error" not in task, task.get("error")
        (remote, local), *_ = [m for m in task["file_mounts"].items() if "entries" in m[0]]
        assert local == ENTRY_FILE  # beside the YAML: SkyPilot reads it from where it runs
        mounted = home / remote.removeprefix("~/")
        mounted.parent.mkdir(parents=True, exist_ok=True)
        mounted.unlink(missing_ok=True)
        mounted.symlink_to(out / ENTRY_FILE)
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        ran = run_like_skypilot(doc, home, tmp_path)
        assert ran.returncode == 0, ran.stderr
    assert received(tmp_path / "spec1000" / "out.jsonl") == {0: VALUES[0], 999: VALUES[999]}


def test_a_launched_skypilot_sweep_ships_the_runs_own_copy(tmp_path: Path) -> None:
    spec = echo_spec(tmp_path, VALUES[:1_000], {"target": "skypilot"})
    loaded, _ = load_for_target(spec, (), "skypilot")
    run_dir = tmp_path / "runs" / "r1"
    artifacts = compile_spec(loaded, run=RunContext("r1", run_dir))
    first = next(yaml.safe_load_all(artifacts.main.text))
    mounts = {k: v for k, v in first["file_mounts"].items() if k.startswith(ENTRY_MOUNT)}
    assert list(mounts.values()) == [str(run_dir / "artifacts" / ENTRY_FILE)]
    assert artifacts.warnings == ()


def test_parallel_local_points_share_the_entry_until_the_last_ends(tmp_path: Path) -> None:
    # The EXIT trap is the script's own: a point run in the background does not remove the
    # file that the points still running read.
    values = VALUES[:8]
    spec = echo_spec(tmp_path, values, {"target": "local", "max_parallel": 3})
    loaded, _ = load_for_target(spec, (), "local")
    script = compile_spec(loaded).write(tmp_path / "out")[0]
    run(["bash", str(script)], tmp_path)
    assert received(tmp_path / "out.jsonl") == dict(enumerate(values))
