"""End to end: what each sweep point's job receives, through `nemorun run` (local) and
`nemorun launch --target slurm --wait` on the test cluster."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
Cli = Callable[..., CliResult]
CASES = [
    (("optim.lr=0.01,0.02", "tag=lr-${task.optim.lr}"), ["lr-0.01", "lr-0.02"]),
    (("tag=lr-${task.optim.lr}", "optim.lr=0.01,0.02"), ["lr-0.01", "lr-0.02"]),
    (("tag='a b',c",), ["a b", "c"]),
    (("optim.name='sgd','adam'", "tag=${task.optim.name}"), ["sgd", "adam"]),
    (("tag=${name},b",), ["quickstart", "b"]),
]


pytestmark = pytest.mark.usefixtures("home")  # runs recorded in the test's own directory


def tags_by_point(text: str) -> dict[int, str]:
    """``[TAG] point=N …`` lines of the quickstart's output."""
    return {int(m.group(2)): m.group(1) for m in re.finditer(r"^\[(.*)\] point=(\d+) ", text, re.M)}


@pytest.mark.parametrize(("overrides", "tags"), CASES)
def test_run_gives_each_point_its_own_values(
    cli: Cli, overrides: tuple[str, ...], tags: list[str]
) -> None:
    result = cli("run", QUICKSTART, "steps=1", *overrides)
    assert result.code == 0, result.err
    logs = cli("logs", "quickstart")
    assert tags_by_point(logs.out) == dict(enumerate(tags))


@pytest.mark.slow
def test_slurm_array_gives_each_point_its_own_values(
    cli: Cli, slurm_cluster: dict[str, str]
) -> None:
    for overrides, tags in CASES[::2]:
        result = cli("launch", QUICKSTART, "--target", "slurm", "--wait", "steps=1", *overrides)
        assert result.code == 0, result.err
        logs = cli("logs", "quickstart")
        assert tags_by_point(logs.out) == dict(enumerate(tags)), logs.out


def test_one_axis_longer_than_a_command_line_word_is_accepted(cli: Cli) -> None:
    # 20,000 values (200 KB in the entry) were refused while the entry ran as `python -c`;
    # it reaches the job as a file now (tests/compiler/test_unbounded_sweeps.py runs one).
    result = cli("validate", QUICKSTART, "optim.lr=range(1,20001)")
    assert result.code == 0, result.err
    assert "20000 sweep points" in result.out


def test_a_grid_of_the_same_size_fits(cli: Cli) -> None:
    result = cli("validate", QUICKSTART, "optim.lr=range(1,201)", "steps=range(1,101)")
    assert result.code == 0, result.err
    assert "20000 sweep points" in result.out
