"""Packing a Slurm sweep (``executor.per_job``): the arrays compile makes, the limits it is told
(`Machine`), and the refusals. What a packed job runs is checked on the real cluster
(tests/launchers/test_slurm_packing.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nemorun import api
from nemorun.compiler.machine import Machine
from nemorun.compiler.tasks import compile_tasks
from nemorun.errors import SpecError, SpecErrors
from tests.conftest import WriteSpec

SPEC = """\
nemorun: 1
name: packed
pythonpath: ["{examples}"]
executor:
  target: slurm
  per_job: 10
task: {_target_: trainlib:train, model: {hidden_size: 8}, optim: {lr: 0.1}}
sweep:
  steps: [1]
"""


def scripts(path: Path, machine: Machine, *overrides: str) -> list[str]:
    spec = api.load(path, list(overrides))
    build = compile_tasks(spec, machine=machine)
    return [a.text for a in build.tasks[0].artifacts.mains]


def arrays(texts: list[str]) -> list[tuple[str, int, int]]:
    """(--array, first point, last point) of each script."""
    out = []
    for text in texts:
        array = re.search(r"^#SBATCH --array=(\S+)$", text, re.M)
        first = re.search(r"^NEMORUN_FIRST=(\d+)$", text, re.M)
        last = re.search(r"^NEMORUN_LAST=(\d+)$", text, re.M)
        assert array and first and last, text
        out.append((array.group(1), int(first.group(1)), int(last.group(1))))
    return out


@pytest.fixture
def spec(write_spec: WriteSpec) -> Path:
    return write_spec("packed.yaml", SPEC)


def test_per_job_packs_points_into_array_elements(spec: Path) -> None:
    assert arrays(scripts(spec, Machine(), "steps=range(1,26)")) == [("0-2", 0, 24)]


def test_arrays_split_at_the_clusters_max_array_size_counted_in_elements(spec: Path) -> None:
    told = Machine(max_array_size=200)
    assert arrays(scripts(spec, told, "steps=range(1,5001)")) == [
        ("0-199", 0, 1999),
        ("0-199", 2000, 3999),
        ("0-99", 4000, 4999),
    ]


def test_the_specs_max_array_size_overrides_the_clusters(spec: Path) -> None:
    told = Machine(max_array_size=200)
    texts = scripts(spec, told, "steps=range(1,5001)", "executor.max_array_size=300")
    assert [a for a, _, _ in arrays(texts)] == ["0-299", "0-199"]


def test_a_sweep_over_the_clusters_submit_limit_says_which_per_job_fits(spec: Path) -> None:
    told = Machine(max_submit_jobs=1000)
    with pytest.raises(SpecErrors) as caught:
        scripts(spec, told, "steps=range(1,50001)")
    assert str(caught.value.errors[0]) == (
        "packed.yaml:6:12: executor.per_job: the sweep needs 5,000 jobs (50,000 points, 10 per "
        "job), more than the 1,000 the cluster takes at once (MaxSubmitJobs, else MaxJobCount); "
        "pack more points into each job: executor.per_job=50"
    )


def test_per_job_parallel_needs_per_job(write_spec: WriteSpec) -> None:
    path = write_spec("par.yaml", SPEC.replace("per_job: 10", "per_job_parallel: true"))
    with pytest.raises((SpecError, SpecErrors)) as caught:
        scripts(path, Machine(), "steps=range(1,5)")
    assert (
        "executor.per_job_parallel: per_job_parallel runs the points of one job at once: it "
        "needs per_job" in str(caught.value)
    )


@pytest.mark.parametrize("option", ["per_job: 1", "fail_fast: true"])
def test_retries_are_refused_on_a_packed_sweep(write_spec: WriteSpec, option: str) -> None:
    """A packed element runs its points in one job; requeueing it would run them all again, and
    the retry harness is not in a packed script: refused, never dropped in silence."""
    retry = f"{option}\n  time: '01:00:00'\n  retries: {{max: 2, on: [preempt]}}"
    path = write_spec("retry.yaml", SPEC.replace("per_job: 10", retry))
    with pytest.raises((SpecError, SpecErrors)) as caught:
        scripts(path, Machine(), "steps=range(1,5)")
    key = option.split(":")[0]
    assert f"executor.{key}: retries requeue or chain a whole job" in str(caught.value)


def test_another_target_drops_per_job_with_a_warning(write_spec: WriteSpec) -> None:
    """Packing is how Slurm runs the points: elsewhere each point runs on its own anyway, with
    its own log and state, and the option is dropped as every other target's option is."""
    path = write_spec("local.yaml", SPEC.replace("target: slurm", "target: local"))
    assert api.load(path).warnings == [
        "executor.per_job is an option of slurm; target local does not use it"
    ]
