"""A packed Slurm sweep (``executor.per_job``, `nemorun.compiler.packing`) seen per point.

Slurm knows array elements; a packed element runs several points, so a point's state comes
from the files its element writes (``PREFIX-point-P.status``: the exit status, or ``cancelled
…``), and from the element's state for a point without one: pending while the element is, then
running once its log exists, else waiting for the points before it; cancelled (or timed out…)
when the element ended before it ran. Element ``i`` of a job runs ``ref.points[i*k:(i+1)*k]``:
the script's own range, or the points `submit` re-packed (``rerun --failed``, passed to the
job in ``NEMORUN_REPACK``). ``cancel --point`` writes a ``cancelled`` status before the point
starts (the element then skips it) and cancels an element only once none of its points is left
to run: a point already running finishes.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.compiler.packing import elements
from nemorun.launchers.base import JobRef, JobState, JobStatus
from nemorun.launchers.slurm_states import (
    array_elements,
    array_throttle,
    compact_indices,
    element_id,
)

if TYPE_CHECKING:
    from nemorun.launchers.slurm_script import ScriptInfo

PER_JOB = re.compile(r"^NEMORUN_PER_JOB=(\d+)$", re.MULTILINE)
FIRST = re.compile(r"^NEMORUN_FIRST=(\d+)$", re.MULTILINE)
LAST = re.compile(r"^NEMORUN_LAST=(\d+)$", re.MULTILINE)
LOGS = re.compile(r"^NEMORUN_PACK_LOGS='?([^'\n]*)'?$", re.MULTILINE)
"""A run's prefix is one single-quoted word (``q``): nemorun makes it, and it holds no quote."""
CANCELLED = "cancelled"


def read_packing(text: str) -> tuple[int, int, int, str] | None:
    """(per_job, first point, last point, per-point files' prefix) of a packed script."""
    found = [r.search(text) for r in (PER_JOB, FIRST, LAST, LOGS)]
    if not all(found):
        return None
    k, first, last, logs = (m.group(1) for m in found if m is not None)
    return int(k), int(first), int(last), logs


def repack_value(points: list[int]) -> str:
    """``NEMORUN_REPACK``: the points, in order, as ``3:17:40-49`` (sbatch's ``--export``
    splits its value at commas)."""
    return compact_indices(points).replace(",", ":")


def repack(
    info: ScriptInfo, points: list[int], argv: list[str]
) -> tuple[str | None, tuple[int, ...]]:
    """Submit only ``points`` of a packed script, ``per_job`` to an element: ``--array`` over
    the new elements (the script's ``%`` limit kept) and ``NEMORUN_REPACK`` added to ``argv``;
    the array and the points, in element order."""
    if tuple(points) == info.points:
        return info.array, info.points
    array = f"0-{elements(len(points), info.per_job) - 1}" + array_throttle(info.array or "")
    argv += [f"--array={array}", f"--export=ALL,NEMORUN_REPACK={repack_value(points)}"]
    return array, tuple(points)


def is_packed(ref: JobRef) -> bool:
    return "per_job" in ref.extra


def element_points(ref: JobRef, index: int | None) -> tuple[int, ...]:
    k = int(ref.extra["per_job"])
    i = index or 0
    return tuple(ref.points[i * k : (i + 1) * k])


def point_file(ref: JobRef, point: int, suffix: str) -> Path:
    return Path(f"{ref.extra['pack_logs']}-point-{point}{suffix}")


def point_statuses(ref: JobRef, index: int | None, element: JobStatus) -> list[JobStatus]:
    """One status per point of element ``index``, from its files and the element's state; its
    id is the element's and the point's (``123_4:41``): each status has its own id."""
    out = []
    for point in element_points(ref, index):
        eid = f"{element_id(ref.id, index)}:{point}"
        written = _read(point_file(ref, point, ".status"))
        if written is not None:
            out.append(_from_written(eid, point, written))
            continue
        state, reason = element.state, element.reason
        if state is JobState.RUNNING and not point_file(ref, point, ".out").exists():
            state, reason = JobState.PENDING, "waiting for the points before it in its job"
        elif state is JobState.COMPLETED:
            state, reason = JobState.UNKNOWN, "its job ended without its exit status"
        elif state.is_final():
            why = _read(Path(f"{ref.extra['pack_logs']}.fail-fast"))
            reason = why or f"its job ended ({element.reason or state.value}) before it ran"
        out.append(JobStatus(eid, state, reason, None, point))
    return out


def _from_written(eid: str, point: int, text: str) -> JobStatus:
    if text.startswith(CANCELLED):
        reason = text[len(CANCELLED) :].strip() or "cancelled before it started"
        return JobStatus(eid, JobState.CANCELLED, reason, None, point)
    code = int(text) if text.isdigit() else None
    if code == 0:
        return JobStatus(eid, JobState.COMPLETED, None, 0, point)
    return JobStatus(eid, JobState.FAILED, f"exit code {text}", code, point)


def cancel_points(ref: JobRef, wanted: tuple[int, ...]) -> list[str]:
    """Mark ``wanted`` points of ``ref`` cancelled where they have not ended; the ids of the
    elements none of whose points is left to run (to ``scancel``)."""
    for point in wanted:
        if point in ref.points:
            _write_new(point_file(ref, point, ".status"), f"{CANCELLED} by cancel --point\n")
    done = []
    for index in array_elements(ref):
        mine = element_points(ref, index)
        ended = [p for p in mine if point_file(ref, p, ".status").exists()]
        if any(p in wanted for p in mine) and len(ended) == len(mine):
            done.append(element_id(ref.id, index))
    return done


def only_points(ref: JobRef, job: JobRef) -> set[int] | None:
    """The points `logs` shows: those ``job`` was narrowed to (None: all)."""
    return None if tuple(job.points) == tuple(ref.points) else set(job.points)


def log_files(ref: JobRef, only: set[int] | None) -> list[tuple[str | None, Path, bool]]:
    """Every point's stdout and stderr, each under ``==> 123_4 (point 17): FILE <==``."""
    files: list[tuple[str | None, Path, bool]] = []
    for index in array_elements(ref):
        for point in element_points(ref, index):
            if only is not None and point not in only:
                continue
            label = f"{element_id(ref.id, index)} (point {point})"
            out, err = point_file(ref, point, ".out"), point_file(ref, point, ".err")
            files.append((f"==> {label}: {out} <==", out, False))
            files.append((f"==> {label} stderr: {err} <==", err, True))
    return files


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` unless it exists (a point that ended keeps its status)."""
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
