"""``after:`` conditions and ``singleton:`` on the local target, for real: which tasks ran is
read from their own output, the order and the overlap from the times they printed.

Every test records its runs under its own ``NEMORUN_HOME`` (``tmp_path``).
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult

from nemorun.api_runs import launch
from nemorun.launchers.base import JobState

STEPS = """
import sys
import time


def step(name: str, point: int = 0, fail_at: int = -1, seconds: float = 0.0) -> None:
    print(f"{name} start {time.time():.6f} point {point}", flush=True)
    time.sleep(seconds)
    print(f"{name} end {time.time():.6f} point {point}", flush=True)
    if point == fail_at:
        sys.exit(3)
"""

pytestmark = pytest.mark.usefixtures("home")


def write(directory: Path, name: str, text: str) -> Path:
    (directory / "steps.py").write_text(STEPS)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def branches(directory: Path, name: str, fail_at: int) -> Path:
    """train (failing when ``fail_at`` is 0), on_fail (notok), always (any), report (ok)."""
    return write(
        directory,
        f"{name}.yaml",
        f"""
        nemorun: 1
        name: {name}
        pythonpath: ["."]
        tasks:
          train: {{task: {{_target_: steps:step, name: train, fail_at: {fail_at}}}}}
          on_fail: {{task: {{_target_: steps:step, name: on_fail}}, after: {{train: notok}}}}
          always: {{task: {{_target_: steps:step, name: always}}, after: {{train: any}}}}
          report: {{task: {{_target_: steps:step, name: report}}, after: [on_fail]}}
        """,
    )


def outcome(run: object) -> dict[str, tuple[JobState, str | None, str]]:
    """Task → (state, reason, what its log says it did)."""
    out = {}
    for status, job in zip(run.status(), run.record.jobs, strict=True):  # type: ignore[attr-defined]
        said = Path(job.log).read_text() if job.log and Path(job.log).exists() else ""
        out[job.task] = (status.state, status.reason, " ".join(said.split()[:1]))
    return out


def test_notok_runs_only_when_train_fails_and_any_always(
    tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    failed = launch(branches(tmp_path, "failing", fail_at=0), wait=True)
    assert outcome(failed) == {
        "train": (JobState.FAILED, "exit code 3", "train"),
        "on_fail": (JobState.COMPLETED, None, "on_fail"),
        "always": (JobState.COMPLETED, None, "always"),
        "report": (JobState.COMPLETED, None, "report"),
    }
    assert failed.state() is JobState.FAILED
    passed = launch(branches(tmp_path, "passing", fail_at=-1), wait=True)
    assert outcome(passed) == {
        "train": (JobState.COMPLETED, None, "train"),
        "on_fail": (
            JobState.SKIPPED,
            "condition not met: train succeeded (after train: notok)",
            "",
        ),
        "always": (JobState.COMPLETED, None, "always"),
        "report": (JobState.SKIPPED, "condition not met: on_fail was skipped", ""),
    }
    # Only skipped besides completed: the run reads completed, in status and ls.
    assert passed.state() is JobState.COMPLETED
    shown = cli("status", passed.id)
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert f"run {passed.id}  passing  local  completed" in lines[0]
    assert any(" on_fail " in line and " skipped " in line for line in lines)
    listed = cli("ls", "--name", "passing")
    assert listed.out.split("\n")[1].split()[-1] == "completed"


def test_corr_runs_each_point_after_the_same_point(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "corr.yaml",
        """
        nemorun: 1
        name: corr
        pythonpath: ["."]
        tasks:
          train: {task: {_target_: steps:step, name: train, fail_at: 1}}
          eval: {task: {_target_: steps:step, name: eval}, after: {train: corr}}
        sweep: {tasks.train.point: [0, 1, 2], tasks.eval.point: [0, 1, 2]}
        """,
    )
    run = launch(path, wait=True)
    states = [(s.id.split("/")[1], s.state, s.reason) for s in run.status()]
    assert states == [
        ("train_0", JobState.COMPLETED, None),
        ("train_1", JobState.FAILED, "exit code 3"),
        ("train_2", JobState.COMPLETED, None),
        ("eval_0", JobState.COMPLETED, None),
        ("eval_1", JobState.FAILED, "dependency failed: train point 1"),
        ("eval_2", JobState.COMPLETED, None),
    ]
    logs = run.record.dir / "logs"
    assert [(logs / f"eval.{p}.log").exists() for p in range(3)] == [True, False, True]
    assert (logs / "eval.2.log").read_text().split()[-1] == "2"  # the point it got


def spans(run: object) -> list[tuple[float, float]]:
    """(start, end) of each job of ``run``, as the job printed them."""
    out = []
    for job in run.record.jobs:  # type: ignore[attr-defined]
        words = Path(job.log).read_text().split()
        out.append((float(words[words.index("start") + 1]), float(words[words.index("end") + 1])))
    return out


def test_singleton_serialises_two_runs_of_the_same_name(tmp_path: Path) -> None:
    """Two runs of a singleton task never overlap; two of the same task without ``singleton``
    (launched at the same moment) do, so the first check is not luck."""
    text = """
        nemorun: 1
        name: {name}
        pythonpath: ["."]
        tasks:
          work: {{task: {{_target_: steps:step, name: work, seconds: 1.5}}, singleton: {one}}}
        """
    only = write(tmp_path, "only.yaml", text.format(name="only", one="true"))
    free = write(tmp_path, "free.yaml", text.format(name="free", one="false"))
    runs = [launch(path) for path in (only, only, free, free)]
    deadline = time.monotonic() + 60
    while not all(run.state().is_final() for run in runs):
        assert time.monotonic() < deadline, [run.status() for run in runs]
        time.sleep(0.2)
    assert [run.state() for run in runs] == [JobState.COMPLETED] * 4
    (a,), (b,), (c,), (d,) = (spans(run) for run in runs)
    first, second = sorted([a, b])
    assert first[1] <= second[0]  # one ended before the other started
    assert max(c[0], d[0]) < min(c[1], d[1])  # these two ran at the same time
