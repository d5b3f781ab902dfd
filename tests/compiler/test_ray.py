"""``nemorun compile --target ray``: a job description the Ray Jobs API takes, compiled without ray.

- the description is YAML whose ``jobs`` items are Jobs API request bodies, one per point (or
  one for ``packing: one_job``), with the resources, ``runtime_env`` and ``metadata`` meant;
- each job's entry point, run by ``sh`` in a working directory laid out as the launch half
  builds it, runs its own point (the job's side: the command runs, with the env Ray gives);
- hostile env values survive the YAML (hypothesis), ``${oc.env:…}`` is read where the job runs;
- bad options are refused at their line; torchrun and containers with a reason;
- ``validate`` and ``compile`` never import ray;
- golden files ``tests/compiler/golden/*.ray.yaml``, regenerated with
  ``NEMORUN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler -k golden``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, assert_golden, nemorun
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.job import RunContext
from nemorun.compiler.targets.ray import memory_bytes


def spec_file(tmp_path: Path, executor: str = "", extra: str = "") -> Path:
    """``job.yaml``: the trainlib task on target ray, ``executor`` lines under ``executor:``
    (line 5 on), ``extra`` top-level lines after the task."""
    path = tmp_path / "job.yaml"
    options = "".join(f"  {line}\n" for line in executor.splitlines())
    body = (
        f"nemorun: 1\nname: job\npythonpath: [{EXAMPLES}]\nexecutor:\n{options}  target: ray\n"
        "task:\n  _target_: trainlib:train\n  model: {hidden_size: 8}\n  optim: {lr: 0.5}\n"
        "  steps: 2\n"
    )
    path.write_text(body + extra, encoding="utf-8")
    return path


def compiled(path: Path, *overrides: str, run: RunContext | None = None) -> dict[str, Any]:
    spec, warnings = load_for_target(path, overrides)
    artifacts = compile_spec(spec, warnings=warnings, run=run)
    data = yaml.safe_load(artifacts.main.text)
    data["_text"] = artifacts.main.text
    data["_entry"] = next(a.text for a in artifacts.files if a.name == "entry.py")
    return data


SWEEP = "sweep:\n  optim.lr: [0.25, 0.5, 0.75, 1.0]\n"


def test_a_sweep_is_one_jobs_api_request_per_point(tmp_path: Path) -> None:
    options = "num_cpus: 1\nnum_gpus: 0.5\nmemory: 2GiB\npip: [torch==2.13.0]\nenv: {A: x}\n"
    run = RunContext("20260101-000000-job-abc123", tmp_path / "run")
    data = compiled(spec_file(tmp_path, options, SWEEP), run=run)
    assert data["address"] is None
    assert data["pythonpath"] == [str(EXAMPLES)]
    assert len(data["jobs"]) == 4
    for point, job in enumerate(data["jobs"]):
        assert job["submission_id"] == f"nemorun-{run.id}-job-{point}"
        assert job["runtime_env"] == {
            "working_dir": f"{run.dir}/ray/workdir/job",
            "env_vars": {
                "NEMORUN_RUN_NAME": "job",
                "NEMORUN_RUN_ID": run.id,
                "NEMORUN_POINT": str(point),
                "A": "x",
            },
            "pip": ["torch==2.13.0"],
        }
        assert job["metadata"]["nemorun_points"] == str(point)
        assert job["entrypoint_num_cpus"] == 1
        assert job["entrypoint_num_gpus"] == 0.5
        assert job["entrypoint_memory"] == 2 * 2**30


def test_one_job_runs_every_point_as_tasks_with_the_resources_on_each(tmp_path: Path) -> None:
    options = "num_cpus: 1\nmemory: 512M\npacking: one_job\nmax_concurrency: 2\n"
    data = compiled(spec_file(tmp_path, options, SWEEP))
    (job,) = data["jobs"]
    assert "entrypoint_num_cpus" not in job  # the driver needs none; each task has them
    assert job["metadata"]["nemorun_points"] == "0,1,2,3"
    assert "NEMORUN_POINT" not in job["runtime_env"]["env_vars"]
    assert job["entrypoint"].startswith(
        "python3 nemorun_ray_points.py --num-points 4 --max-concurrency 2 --num-cpus=1.0 "
        "--memory=512000000 -- "
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1024, 1024), ("2GiB", 2 * 2**30), ("2G", 2 * 10**9), ("1.5 MiB", 1572864), ("10", 10)],
)
def test_memory_amounts_are_bytes(value: int | str, expected: int) -> None:
    assert memory_bytes(value) == expected


def test_each_entry_point_runs_its_own_point_where_ray_starts_it(tmp_path: Path) -> None:
    """The job's side, without Ray: the working directory as the launch half lays it out, the
    env_vars Ray sets, and ``sh -c ENTRYPOINT`` as the job manager runs it."""
    env = 'env: {FROM_CLUSTER: "${oc.env:CLUSTER_VALUE,none}", PLAIN: "a b$c"}\n'
    setup = "setup: ['echo setup ran >&2']\n"
    data = compiled(spec_file(tmp_path, env + setup, SWEEP))
    workdir = tmp_path / "workdir"
    shutil.copytree(EXAMPLES, workdir / "pythonpath" / "0")
    (workdir / "entry.py").write_text(data["_entry"], encoding="utf-8")
    python = Path(sys.executable).parent
    for point, job in enumerate(data["jobs"]):
        run_env = {"PATH": f"{python}:/usr/bin:/bin", "CLUSTER_VALUE": "seen on the cluster"}
        run_env.update(job["runtime_env"]["env_vars"])
        proc = subprocess.run(
            ["sh", "-c", job["entrypoint"] + '\necho "$FROM_CLUSTER|$PLAIN" >&2'],
            cwd=workdir,
            env=run_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert f"point={point} " in proc.stdout
        assert f"lr={[0.25, 0.5, 0.75, 1.0][point]}" in proc.stdout
        assert "setup ran" in proc.stderr


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")))
def test_any_env_value_reaches_env_vars_unchanged(tmp_path: Path, value: str) -> None:
    if "${" in value:
        return  # an interpolation, not a literal
    written = yaml.safe_dump({"V": value}, default_flow_style=True, width=2**31).strip()
    data = compiled(spec_file(tmp_path, f"env: {written}\n"))
    assert data["jobs"][0]["runtime_env"]["env_vars"]["V"] == value


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        ("num_cpus: -1\n", "job.yaml:5:13: executor.num_cpus: must be at least 0: found -1.0"),
        ("memory: lots\n", "job.yaml:5:11: executor.memory: not a memory amount"),
        ("packing: many\n", "job.yaml:5:12: executor.packing:"),
        ("address: 'http://a b'\n", "job.yaml:5:12: executor.address: not a Ray address"),
        ("max_concurrency: 2\n", "job.yaml:5:20: executor.max_concurrency: max_concurrency "
         "bounds the points of packing: one_job only"),
        ("container: {image: python:3.11}\n", "job.yaml:5:14: executor.container: target ray "
         "runs in the cluster's own Python environment, not in a container"),
    ],
)  # fmt: skip
def test_bad_options_are_refused_at_their_line(tmp_path: Path, executor: str, message: str) -> None:
    proc = nemorun("compile", str(spec_file(tmp_path, executor)), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_torchrun_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "", "launcher: {kind: torchrun, nproc_per_node: 2}\n")
    proc = nemorun("compile", str(path), cwd=tmp_path)
    assert proc.returncode == 2
    assert (
        "job.yaml:11:18: launcher.kind: target ray does not run torchrun: a Ray job's entry "
        "point is one process on one node"
    ) in proc.stderr
    assert "Ray Train's TorchTrainer" in proc.stderr


def test_validate_and_compile_never_import_ray(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "num_cpus: 1\n", SWEEP)
    probe = (
        "import sys\nfrom nemorun.cli import main\ncode = main(sys.argv[1:])\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\nsys.exit(code)\n"
    )
    for command in ("validate", "compile"):
        proc = subprocess.run(
            [sys.executable, "-c", probe, command, str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("quickstart", ()),
        ("pretrain", ("executor.num_cpus=1", "executor.memory=1GiB")),
        ("pretrain-one-job", ("executor.packing=one_job", "executor.max_concurrency=2")),
    ],
)
def test_golden_ray_description(name: str, overrides: tuple[str, ...]) -> None:
    config = ROOT / "configs" / f"{name.removesuffix('-one-job')}.yaml"
    spec, warnings = load_for_target(config, overrides, "ray")
    assert_golden(f"{name}.ray.yaml", compile_spec(spec, "ray", warnings=warnings).main.text)
