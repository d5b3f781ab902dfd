"""The Slurm target's logs: the files a job's script names, found and read (or followed).

A job's ``--output``/``--error`` patterns (kept in ``JobRef.extra``) are filled in with what the
tools said (``%A``/``%a``/``%j``/``%x``/``%N``/``%u``: `resolve_log`); an array's elements each
come under a ``==> 123_4 (point 4): FILE <==`` header, and a job narrowed to some points
(``job.points``) or named as one element (``123_4``) gives those elements only. Lines are yielded
without their line break. Following stops once the job has ended and its files stopped growing,
or once Slurm has not known it for ``unknown_grace`` seconds.
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemorun.launchers import slurm_packing as packing
from nemorun.launchers.base import JobRef, JobState, JobStatus, RunHandle
from nemorun.launchers.slurm_packing import is_packed
from nemorun.launchers.slurm_script import (
    resolve_log,
)
from nemorun.launchers.slurm_states import (
    array_elements,
    element_id,
)

if TYPE_CHECKING:
    from nemorun.launchers.slurm import SlurmTarget

UTF8 = codecs.getincrementaldecoder("utf-8")
LogFile = tuple[str | None, Path, bool]
"""(header or None, file, optional: not shown while empty)."""


def log_job(run: RunHandle, job: JobRef) -> tuple[JobRef, set[int] | None]:
    """The submitted job, and the array indices asked for (None: all of them): those of
    ``job.points`` when the CLI narrowed the job to some points, or the element of an id
    ``123_4``."""
    base, _, index = job.id.partition("_")
    ref = next((r for r in run.jobs if r.id == base), job)
    if is_packed(ref):  # packed: the points asked for
        return ref, packing.only_points(ref, job)
    if index.isdigit():
        return ref, {int(index)}
    if "array" not in ref.extra or tuple(job.points) == tuple(ref.points):
        return ref, None
    offset = int(ref.extra.get("offset", 0))
    return ref, {p - offset for p in job.points}


def read_logs(run: RunHandle, ref: JobRef, only: set[int] | None) -> Iterator[str]:
    """What the log files of ``ref`` hold now."""
    for header, path, optional in log_files(run, ref, only):
        text = read_from(path).decode(errors="replace")
        if not text and (optional or header is None):
            continue
        if header is not None:
            yield header
        yield from text.splitlines()


def log_files(
    run: RunHandle, ref: JobRef, only: set[int] | None, user: str | None = None
) -> list[LogFile]:
    """Every log file of ``ref``: stdout, then stderr when it is a file of its own. An array's
    elements each get a header; a plain job's stderr too. What is not known is ``*`` (``user``:
    this machine's by default, ``""`` unknown), matched against the files here."""
    if is_packed(ref):
        return packing.log_files(ref, only)
    last = run.state.get("slurm", {}).get("last", {})
    workdir = Path(ref.extra.get("workdir") or run.dir)
    out_pattern = ref.extra.get("output") or ref.log or ""
    err_pattern = ref.extra.get("error")
    is_array = "array" in ref.extra
    files: list[LogFile] = []
    for index in array_elements(ref):
        if only is not None and index not in only:
            continue
        eid = element_id(ref.id, index)
        seen = last.get(eid, {})
        fill: dict[str, Any] = {
            "job": ref.id,
            "index": index,
            "raw_id": seen.get("raw_id"),
            "name": ref.extra.get("name"),
            "node": seen.get("node"),
            "user": user,
        }
        out = _find(workdir, resolve_log(out_pattern, **fill, wildcard=True))
        label = eid
        if is_array:
            label = f"{eid} (point {int(ref.extra.get('offset', 0)) + (index or 0)})"
        files.append((f"==> {label}: {out} <==" if is_array else None, out, False))
        if err_pattern:
            err = _find(workdir, resolve_log(err_pattern, **fill, wildcard=True))
            if err != out:
                files.append((f"==> {label} stderr: {err} <==", err, True))
    return files


def follow_logs(
    target: SlurmTarget, run: RunHandle, ref: JobRef, only: set[int] | None
) -> Iterator[str]:
    """The lines of ``ref``'s log files as they are written, until the job has ended (its state
    asked of ``target.follow_status``, which backs off) and two reads found nothing new."""
    tail = _Tail()
    next_status = 0.0
    quiet = 0
    done = False
    unknown_since: float | None = None
    files = log_files(run, ref, only)
    while True:
        lines = list(tail.read(files))
        yield from lines
        now = time.monotonic()
        if now >= next_status:
            next_status = now + target.status_interval
            mine = [s for s in target.follow_status(run) if _belongs(s, ref, only)]
            done = bool(mine) and all(s.state.is_final() for s in mine)
            # A job Slurm does not know (and never will) must not be followed forever.
            if (
                mine
                and not done
                and all(s.state.is_final() or s.state is JobState.UNKNOWN for s in mine)
            ):
                unknown_since = unknown_since or now
                done = now - unknown_since >= target.unknown_grace
            else:
                unknown_since = None
            files = log_files(run, ref, only)  # element ids now known
        quiet = quiet + 1 if done and not tail.grew else 0
        if quiet >= 2:
            break
        if not tail.grew:
            time.sleep(target.poll_interval)
    yield from tail.rest(files)


class _Tail:
    """Reads what log files gained since the last look, as whole lines (a partial last line
    waits for its end), each file's lines under its header when the header changes."""

    def __init__(self) -> None:
        self.offsets: dict[Path, int] = {}
        self.partial: dict[Path, str] = {}
        self.decoders: dict[Path, codecs.IncrementalDecoder] = {}
        self.shown: str | None = None
        self.grew = False

    def read(self, files: list[LogFile]) -> Iterator[str]:
        self.grew = False
        for header, path, _ in files:
            data = read_from(path, self.offsets.get(path, 0))
            if not data:
                continue
            self.grew = True
            self.offsets[path] = self.offsets.get(path, 0) + len(data)
            decoder = self.decoders.setdefault(path, UTF8(errors="replace"))
            lines = (self.partial.pop(path, "") + decoder.decode(data)).split("\n")
            if lines[-1]:
                self.partial[path] = lines[-1]
            lines = [line.removesuffix("\r") for line in lines[:-1]]
            if lines:
                label = header or ""
                if label != self.shown and (label or self.shown is not None):
                    yield label or f"==> {path} <=="
                self.shown = label
                yield from lines

    def rest(self, files: list[LogFile]) -> Iterator[str]:
        """The partial last lines, once the job has ended."""
        for header, path, _ in files:
            rest = self.partial.pop(path, "")
            if rest:
                label = header or ""
                if label != self.shown:
                    yield label or f"==> {path} <=="
                    self.shown = label
                yield rest


def _find(workdir: Path, pattern: str) -> Path:
    path = absolute(workdir, pattern)
    if "*" not in pattern:
        return path
    matches = sorted(path.parent.glob(path.name))
    return matches[0] if matches else path


def _belongs(status: JobStatus, ref: JobRef, only: set[int] | None) -> bool:
    eid = status.id
    if only is not None and is_packed(ref):
        return status.point in only and eid.partition("_")[0] == ref.id
    if only is not None:
        return eid in {element_id(ref.id, i) for i in only}
    return eid == ref.id or eid.startswith(f"{ref.id}_")


def absolute(workdir: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else workdir / p


def read_from(path: Path, offset: int = 0) -> bytes:
    """The bytes of ``path`` from ``offset`` on (nothing when it does not exist yet)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except OSError:
        return b""
