"""Slurm option rules that the compile tests did not pin down (found by mutating
``nemorun/compiler/targets/slurm.py`` with ``tests/infra/mutate.py``): each test here fails on a
mutant that every other test let through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from nemorun.launchers.slurm_script import (
    sbatch_directives,
)

ROOT = Path(__file__).resolve().parents[2]

Compile = Callable[..., Any]


@pytest.fixture
def compile_with(workdir: Path, cli: Callable[..., Any]) -> Compile:
    """``compile_with(executor, *overrides)``: the CLI's result for a spec with these options."""

    def run(executor: dict[str, Any], *overrides: str) -> Any:
        tree = {
            "nemorun": 1,
            "name": "opt",
            "pythonpath": [str(ROOT / "examples")],
            "task": {"_target_": "trainlib:train", "model": {}, "optim": {}, "steps": 1},
            "executor": {"target": "slurm", **executor},
        }
        (workdir / "job.yaml").write_text(yaml.safe_dump(tree), encoding="utf-8")
        return cli("compile", "job.yaml", "--target", "slurm", *overrides)

    return run


@pytest.mark.parametrize("value", [0, -2])
def test_array_parallelism_below_one_is_refused_at_its_line(
    compile_with: Compile, value: int
) -> None:
    """0 would otherwise vanish (no ``%P``): the sweep would run unthrottled."""
    result = compile_with({"array_parallelism": value}, "steps=1,2")
    assert result.code == 2
    assert result.error_lines == [
        f"job.yaml:2:22: executor.array_parallelism: must be at least 1: found {value}"
    ]


def test_array_parallelism_throttles_the_array(compile_with: Compile) -> None:
    result = compile_with({"array_parallelism": 1}, "steps=1,2,3")
    assert sbatch_directives(result.out)["array"] == "0-2%1"


def test_a_container_mount_with_a_comma_is_refused(compile_with: Compile) -> None:
    """srun's --container-mounts is one comma-separated list: ``/a,/b`` would be two mounts."""
    mounts = ["/data:/data", "/a,/b:/c"]
    result = compile_with({"container": {"image": "img", "mounts": mounts}})
    assert result.code == 2
    assert result.error_lines == [
        "job.yaml:6:7: executor.container.mounts[1]: a container mount cannot hold a comma: "
        "srun reads the mounts as one comma-separated list: found '/a,/b:/c'"
    ]
    ok = compile_with({"container": {"image": "img", "mounts": mounts[:1] * 2}})
    # the entry's file first: the container reads it where the batch script wrote it
    assert '--container-mounts="$NEMORUN_ENTRY":"$NEMORUN_ENTRY":ro,/data:/data,/data:/data ' in (
        ok.out
    )


def test_an_extra_flag_is_a_flag_and_false_leaves_it_out(compile_with: Compile) -> None:
    """``extra: {contiguous: true}`` is ``--contiguous`` (no value), ``false`` no line at all,
    though the option's type reads a YAML true as the string "true"."""
    result = compile_with({"extra": {"contiguous": True, "hold": False, "begin": "now"}})
    assert result.code == 0, result.err
    lines = [line for line in result.out.split("\n") if line.startswith("#SBATCH")]
    assert "#SBATCH --contiguous" in lines
    assert "#SBATCH --begin=now" in lines
    assert not any("hold" in line for line in lines)


def test_a_max_array_size_of_one_splits_a_sweep_into_single_task_arrays(
    compile_with: Compile, workdir: Path
) -> None:
    """1 is the smallest size the cluster may take (a check of ``< 2`` passed every test)."""
    result = compile_with({"max_array_size": 1}, "steps=1,2", "-o", "out")
    assert result.code == 0, result.err
    parts = sorted((workdir / "out").glob("*.sbatch"))
    assert [p.name for p in parts] == ["opt.0.sbatch", "opt.1.sbatch"]
    assert [sbatch_directives(p.read_text())["array"] for p in parts] == ["0-0", "0-0"]


def test_a_time_in_minutes_may_be_zero_but_not_negative(compile_with: Compile) -> None:
    """Slurm reads ``--time=0`` as no limit; a negative count is no time at all."""
    assert sbatch_directives(compile_with({"time": 0}).out)["time"] == "0"
    refused = compile_with({"time": -1})
    assert refused.code == 2
    assert refused.error_lines[0] == "job.yaml:3:9: executor.time: must be at least 0: found -1"
