"""Rerunning a recorded run: what it launched (`Replay`, read from its record alone) and, for
``rerun --failed``, which of its points to run again (`points_to_rerun`).

A rerun reads the copied spec files in place of the originals
(`nemorun.schemas.source.read_from`), with the same overrides and target, from the directory
the run was launched in, so its artifacts are the original's byte for byte apart from the run's
own id and directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.errors import SpecError
from nemorun.launchers.base import JobState, JobStatus, RunHandle, planned_tasks

if TYPE_CHECKING:
    from nemorun.launchers.launch import Run


@dataclass(frozen=True)
class Replay:
    """A recorded run's inputs, read from its record alone: what ``rerun`` launches again."""

    of: str
    """The recorded run's id."""
    spec: Path
    overrides: tuple[str, ...]
    target: str | None
    """The ``--target`` the run was launched with (None: the spec's own)."""
    points: dict[str, tuple[int, ...]] | None
    """Only these points of these tasks (``rerun --failed``); None: all of them."""
    copies: dict[Path, Path]
    """Each spec file the run read → its copy in the record, read in its place."""
    cwd: Path

    @contextmanager
    def inputs(self) -> Iterator[bool]:
        """Read the spec files from the record's copies and work in the run's directory
        while the body runs; yields whether that directory still exists (else: stay here)."""
        from nemorun.schemas.source import read_from

        with read_from(self.copies), working_directory(self.cwd) as moved:
            yield moved


def replay(old: Run, failed: bool = False) -> Replay:
    """What rerunning ``old`` launches; with ``failed``, only its points that did not run to
    the end (see `points_to_rerun`), and a `SpecError` when there are none."""
    data = old.record.data
    points = None
    if failed:
        points = points_to_rerun(old.handle(), old.status())
        if not points:
            raise SpecError(
                f"run {old.id} has no failed, cancelled or never-started points",
                suggestion=f"nemorun rerun {old.id}",
            )
    return Replay(
        of=old.id,
        spec=Path(data["spec"]),
        overrides=tuple(data["overrides"]),
        target=data.get("target_option"),
        points=points,
        copies={Path(f["path"]): old.record.dir / f["copy"] for f in data["files"]},
        cwd=Path(data["cwd"]),
    )


RERUN_STATES = (JobState.FAILED, JobState.CANCELLED)
"""The states of a point that ``rerun --failed`` runs again, besides having no state at all."""


def points_to_rerun(run: RunHandle, statuses: list[JobStatus]) -> dict[str, tuple[int, ...]]:
    """The points of each task that ``rerun --failed`` runs again: those the run was to run
    (its tasks, or the points it was itself a rerun of) that failed, were cancelled, or never
    started: no job of the run reports them (never submitted). Points still pending or running
    are left alone: they may yet complete."""
    states: dict[tuple[str, int], JobState] = {}
    for status in statuses:
        for job in run.jobs:
            if status.id == job.id or status.id.startswith(f"{job.id}_"):
                point = status.point if status.point is not None else job.points[0]
                states[(job.task, point)] = status.state
                break
    found: dict[str, tuple[int, ...]] = {}
    for task in planned_tasks(run):
        again = []
        for point in task.points:
            state = states.get((task.name, point))
            if state is None or state in RERUN_STATES:
                again.append(point)
        if again:
            found[task.name] = tuple(sorted(again))
    return found


@contextmanager
def working_directory(directory: Path) -> Iterator[bool]:
    """Run the body in ``directory`` when it still exists (yields whether it does)."""
    if not directory.is_dir():
        yield False
        return
    before = os.getcwd()
    os.chdir(directory)
    try:
        yield True
    finally:
        os.chdir(before)
