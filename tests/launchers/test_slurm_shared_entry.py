"""On the test Slurm, the parts of a split sweep share the run's one entry file and every
point's job receives exactly its own value.

Both scenarios are submitted at once (a module fixture) so that their waits overlap:

- ``nemorun launch --wait`` of a 7-point sweep split into arrays of 3: every point runs once
  with its value, and no part holds the entry (each names ``RUN_DIR/artifacts/entry.py``);
- a 20,000-value axis compiled for a run, as ``launch`` compiles it (100 parts): sample points
  submitted with ``sbatch --array=INDICES`` on their parts, from a directory other than the
  one compile ran in, each get their value.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import nemorun, run_dirs, slurm_problem

from nemorun.api import load_for_target
from nemorun.compiler.job import ENTRY_FILE, RunContext
from nemorun.compiler.tasks import compile_tasks

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent.parent / "compiler"
SMALL = [f"s{i}" for i in range(7)]
VALUES = [f"v{i}" for i in range(20_000)]
SAMPLES = [0, 1, 1_000, 1_001, 12_345, 19_999]
ARRAY = 200  # the test cluster's MaxArraySize: 100 parts


def echo_spec(directory: Path, name: str, values: list[str], **executor: object) -> Path:
    """A sweep of ``fixtures_entry:echo`` over ``values``, reporting to ``directory/out.jsonl``."""
    directory.mkdir(parents=True, exist_ok=True)
    tree = {
        "nemorun": 1,
        "name": name,
        "pythonpath": [str(FIXTURES)],
        "task": {"_target_": "fixtures_entry:echo", "out": str(directory / "out.jsonl")},
        "sweep": {"text": values},
        "executor": {"target": "slurm", "python": sys.executable, **executor},
    }
    spec = directory / f"{name}.yaml"
    spec.write_text(json.dumps(tree), encoding="utf-8")
    return spec


def received(out: Path) -> list[tuple[int, str]]:
    """What each point's job received, in the order the reports were written: (point, text)."""
    lines = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    return sorted((int(r["point"]), r["text"]) for r in map(json.loads, lines))


def run_compiled_as_launch(directory: Path) -> Path:
    """The 20,000-value sweep compiled for a run and written into its directory, as ``launch``
    does (without submitting): the run's directory."""
    name = f"wide{uuid.uuid4().hex[:6]}"
    spec = echo_spec(directory / "wide", name, VALUES, max_array_size=ARRAY)
    loaded, warnings = load_for_target(spec, (), "slurm")
    run_dir = directory / "runs" / "r1"
    build = compile_tasks(loaded, "slurm", None, warnings, RunContext("r1", run_dir, directory))
    build.write(run_dir / "artifacts", private=run_dir)
    (run_dir / "logs").mkdir()
    return run_dir


@pytest.fixture(scope="module")
def submitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """Both scenarios, submitted together; their processes ended."""
    problem = slurm_problem()
    if problem is not None:
        pytest.skip(problem)
    base = tmp_path_factory.mktemp("shared-entry")
    small = echo_spec(base / "small", f"small{uuid.uuid4().hex[:6]}", SMALL, max_array_size=3)
    home = base / "home"
    launch = subprocess.Popen(
        [*nemorun_argv(), "launch", str(small), "--wait"],
        cwd=base,
        env={**os.environ, "NEMORUN_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_dir = run_compiled_as_launch(base)
    parts = sorted((run_dir / "artifacts").glob("*.sbatch"), key=lambda p: int(p.suffixes[0][1:]))
    indices: dict[int, list[int]] = {}
    for point in SAMPLES:
        part, index = divmod(point, ARRAY)
        indices.setdefault(part, []).append(index)
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    batches = [
        subprocess.Popen(
            ["sbatch", "--parsable", "--wait", f"--array={','.join(map(str, found))}", parts[part]],
            cwd=elsewhere,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for part, found in indices.items()
    ]
    results = [proc.communicate(timeout=240) for proc in (launch, *batches)]
    yield {
        "base": base,
        "home": home,
        "launch": (launch.returncode, *results[0]),
        "batches": [(p.returncode, *r) for p, r in zip(batches, results[1:])],
        "run_dir": run_dir,
        "parts": parts,
    }
    ids = [out.strip().split(";")[0] for out, _ in results[1:] if out.strip()]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=60)


def nemorun_argv() -> list[str]:
    return [sys.executable, "-m", "nemorun.cli"]


def test_a_launched_split_sweep_runs_every_point_from_the_runs_one_entry(
    submitted: dict[str, object],
) -> None:
    code, _, err = submitted["launch"]  # type: ignore[misc]
    assert code == 0, err
    base = submitted["base"]
    assert isinstance(base, Path)
    assert received(base / "small" / "out.jsonl") == list(enumerate(SMALL))
    home = submitted["home"]
    assert isinstance(home, Path)
    (run_dir,) = run_dirs(home)
    entry = run_dir / "artifacts" / ENTRY_FILE
    scripts = sorted((run_dir / "artifacts").glob("*.sbatch"))
    assert len(scripts) == 3
    for script in scripts:
        text = script.read_text(encoding="utf-8")
        assert f"NEMORUN_ENTRY={entry}\n" in text
        assert "fixtures_entry" not in text  # the entry is not in the part
    assert "fixtures_entry" in entry.read_text(encoding="utf-8")


def test_sampled_points_of_a_20000_value_run_get_their_values(
    submitted: dict[str, object],
) -> None:
    for code, _, err in submitted["batches"]:  # type: ignore[attr-defined]
        assert code == 0, err
    parts = submitted["parts"]
    assert isinstance(parts, list) and len(parts) == 100
    assert all(p.stat().st_size < 3_000 for p in parts)  # not 100 copies of a 200 KB entry
    base = submitted["base"]
    assert isinstance(base, Path)
    assert received(base / "wide" / "out.jsonl") == [(p, VALUES[p]) for p in SAMPLES]


def test_without_slurm_the_cli_compiles_the_same_parts_twice(tmp_path: Path) -> None:
    """Byte-identical parts for the same input (the spec and the output directory)."""
    spec = echo_spec(tmp_path, "same", SMALL, max_array_size=3)
    texts = []
    for _ in range(2):
        proc = nemorun("compile", str(spec), "-o", str(tmp_path / "out"), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        texts.append([p.read_bytes() for p in sorted((tmp_path / "out").iterdir())])
    assert texts[0] == texts[1] and len(texts[0]) == 4
