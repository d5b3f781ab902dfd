"""Run records: one directory per run, readable files, safe under kills and concurrent launches.

**Where.** ``$NEMORUN_HOME/nemorun-runs/`` when ``NEMORUN_HOME`` is set; otherwise
``$XDG_DATA_HOME/nemorun/runs/`` (``~/.local/share/nemorun/runs/`` without XDG). NeMo-Run reads
``NEMORUN_HOME`` too and keeps its own experiments directly under it, so ours live in a
subfolder of our own name and the two never read each other's files.

**One run** (``runs/<id>/``)::

    spec/            the spec as written and every file it extends (copies, same layout)
    resolved.yaml    the resolved spec (YAML export; ${oc.env:…} stay references)
    artifacts/       the compiled artifacts, and tasks.json (the tasks and their order)
    provenance.json  git commit and repository, Python, package versions, host, user
    git.patch        uncommitted changes of the spec's repository (when there are any)
    logs/            the jobs' output (and the local supervisor's own)
    local/           the local supervisor's markers (points started, tasks skipped, cancel)
    state.json       the job states last seen, rewritten (atomically) whenever they change
    run.json         id, name, target, times, spec, overrides, artifact hashes, jobs:
                     written LAST, once the jobs are submitted

**Validity.** ``run.json`` is what makes a directory a run: every other file is written first
(each by temp file and rename), so a launch killed at any moment leaves either a whole record
or a directory without ``run.json``, which `list_records` ignores. (The local target goes
further: its supervisor waits for ``run.json`` before running anything, and gives up if the
launch died first, so no job runs without a record.)

**Ids** sort by time: ``20261121-101500-<name>-<6 hex>`` (UTC). Each is claimed with an
exclusive ``mkdir``, so concurrent launches never share a directory; nothing else is shared
between runs (no index file to lock; each launch that journals jobs creates its own empty
mark in `launches_dir`). Within one second, order comes from ``created`` (microseconds). Paths
a record holds are relative to its directory (or read as such: `path_in_run`), so it can move.

**Finding a run** (`find_run`): its id, a unique prefix of ids, or a name (the newest run of
that name). An ambiguous prefix is a `SpecError` listing the candidates. Neither finding nor
listing the newest runs (`iter_records`) reads every record: the directory names say the time
and the name, so there is no index to keep in step or to heal.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nemorun.errors import SpecError
from nemorun.files import PRIVATE_DIR, private_dir, write_private
from nemorun.launchers.base import (
    JobRef,
    JobState,
    JobStatus,
    RunHandle,
    path_in_run,
    summarize,
)
from nemorun.launchers.run_ids import id_parts, runs_root

RECORD = "run.json"
STATE = "state.json"
RECORD_VERSION = 1


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC, with a ``Z``: ``2026-11-21T10:15:00.123456Z``."""
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def create_run_dir(name: str, moment: datetime, root: Path | None = None) -> tuple[str, Path]:
    """Claim a new run directory (exclusive ``mkdir``); returns its id and path."""
    root = root or runs_root()
    private_dir(root)
    slug = run_slug(name)
    stamp = moment.astimezone(timezone.utc).strftime("%Y%m%d-%H%M%S")
    while True:
        run_id = f"{stamp}-{slug}-{secrets.token_hex(3)}"
        path = root / run_id
        try:
            path.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue
        return run_id, path


def run_slug(name: str) -> str:
    """The part of a run's id that carries its name (file-name safe, at most 40 characters)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")[:40] or "run"


def write_json(path: Path, data: Any) -> None:
    write_private(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", path.parent)


@dataclass
class Record:
    """One run as its directory records it (``run.json``, and ``state.json`` when present)."""

    dir: Path
    data: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def target(self) -> str:
        return str(self.data["target"])

    @property
    def created(self) -> str:
        return str(self.data["created"])

    @property
    def jobs(self) -> list[JobRef]:
        """The submitted jobs, their paths where the run's directory is now: the log, and the
        absolute paths a target keeps in ``extra`` (Slurm's ``workdir``…)."""
        return [self._here(job_from_json(j)) for j in self.data.get("jobs", [])]

    def _here(self, job: JobRef) -> JobRef:
        if self.data.get("cluster"):
            return job  # paths on the cluster: they do not move with this directory

        def moved(value: Any) -> Any:
            absolute = isinstance(value, str) and os.path.isabs(value)
            return path_in_run(value, self.id, self.dir) if absolute else value

        log = None if job.log is None else path_in_run(job.log, self.id, self.dir)
        return replace(job, log=log, extra={k: moved(v) for k, v in job.extra.items()})

    @property
    def status(self) -> JobState:
        """The run's state as last seen (pending until a status query says otherwise)."""
        return JobState(self.state.get("status", JobState.PENDING.value))

    @property
    def statuses(self) -> list[JobStatus]:
        return [status_from_json(s) for s in self.state.get("jobs", [])]

    def handle(self) -> RunHandle:
        """What a target needs to answer for this run."""
        points = self.data.get("points") or {}
        return RunHandle(
            id=self.id,
            name=self.name,
            dir=self.dir,
            target=self.target,
            jobs=self.jobs,
            state=dict(self.state.get("target_state", {})),
            points={k: tuple(v) for k, v in points.items()},
            cluster=self.data.get("cluster"),
        )

    def summary(self) -> dict[str, Any]:
        """What ``nemorun ls --json`` shows of the run."""
        return {
            "id": self.id,
            "name": self.name,
            "target": self.target,
            "created": self.created,
            "status": self.status.value,
            "jobs": [j.id for j in self.jobs],
            "dir": str(self.dir),
        }


def job_to_json(job: JobRef, run_dir: Path | None = None) -> dict[str, Any]:
    """``job`` as ``run.json`` keeps it: a log inside ``run_dir`` relative to it, so the
    record still reads after the runs directory moved (`Record.jobs`)."""
    data = asdict(job)
    data["points"] = list(job.points)
    if job.log and run_dir is not None:
        inside = Path(os.path.abspath(job.log))
        base = Path(os.path.abspath(run_dir))
        if inside.is_relative_to(base):
            data["log"] = str(inside.relative_to(base))
    return data


def job_from_json(data: dict[str, Any]) -> JobRef:
    return JobRef(
        id=str(data["id"]),
        task=str(data.get("task", "task")),
        points=tuple(data.get("points", (0,))),
        log=data.get("log"),
        extra=dict(data.get("extra", {})),
    )


def status_to_json(status: JobStatus) -> dict[str, Any]:
    data = asdict(status)
    data["state"] = status.state.value
    return data


def status_from_json(data: dict[str, Any]) -> JobStatus:
    return JobStatus(
        id=str(data["id"]),
        state=JobState(data["state"]),
        reason=data.get("reason"),
        exit_code=data.get("exit_code"),
        point=data.get("point"),
        attempt=data.get("attempt"),
        attempts=data.get("attempts"),
    )


def load_record(directory: Path) -> Record | None:
    """The run recorded in ``directory``, or None when it is not a whole record."""
    try:
        data = json.loads((directory / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("nemorun_run") != RECORD_VERSION:
        return None
    try:
        state = json.loads((directory / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    return Record(directory, data, state if isinstance(state, dict) else {})


def list_records(root: Path | None = None) -> list[Record]:
    """Every whole record under ``root``, newest first."""
    return list(iter_records(root))


def iter_records(root: Path | None = None, name: str | None = None) -> Iterator[Record]:
    """The whole records under ``root``, newest first, read lazily: directory names sort by
    time (to the second, `create_run_dir`), so only the runs of one second at a time are read
    and ordered by ``created``. ``name``: only runs of that name (only directories whose id
    carries its slug are read)."""
    groups: dict[str, list[str]] = {}
    slug = None if name is None else run_slug(name)
    for entry in _run_dirs(root or runs_root()):
        stamp, entry_slug = id_parts(entry.name)
        if slug is None or entry_slug == slug:
            groups.setdefault(stamp, []).append(entry.path)
    for stamp in sorted(groups, reverse=True):
        found = [r for p in groups[stamp] if (r := load_record(Path(p))) is not None]
        found.sort(key=lambda r: (r.created, r.id), reverse=True)
        yield from (r for r in found if name is None or r.name == name)


def _run_dirs(root: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(root) as entries:
            return [e for e in entries if e.is_dir() and not e.name.startswith(".")]
    except FileNotFoundError:
        return []


SUBMITTED = "submitted.jsonl"
"""Journal a target appends each job to the moment the scheduler returns its id, before the
record exists: a launch killed before ``run.json`` (SIGKILL, a power cut) leaves the ids of the
jobs it started in a directory no listing shows, and `interrupted_launches` finds them."""


def journal_job(run_dir: Path, target: str, job_id: str) -> None:
    """Append ``job_id`` to the run's `SUBMITTED` journal, durably, right after submitting,
    and mark the launch in `launches_dir` so `interrupted_launches` looks at it."""
    _journal(run_dir, {"target": target, "id": job_id})


def journal_intent(
    run_dir: Path, target: str, tag: str, cluster: dict[str, Any] | None = None
) -> None:
    """Before submitting anything: the launch is about to submit jobs tagged ``tag`` (a
    kill after the scheduler took a job and before `journal_job` leaves only the tag to
    find it by: `Target.tagged_jobs`), on ``cluster`` (the record's ``cluster``; None:
    this machine), which is where to look for them."""
    line: dict[str, Any] = {"target": target, "tag": tag}
    if cluster is not None:
        line["cluster"] = cluster
    _journal(run_dir, line)


def _journal(run_dir: Path, line: dict[str, Any]) -> None:
    marks = private_dir(launches_dir(run_dir.parent))
    os.close(os.open(marks / run_dir.name, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
    fd = os.open(run_dir / SUBMITTED, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, (json.dumps(line) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def launches_dir(root: Path) -> Path:
    """In the runs directory ``root`` (hidden: no run's id starts with a dot): one empty file
    per run whose launch journaled jobs and was not yet seen recorded, so finding interrupted
    launches reads a handful of names, not every run. `interrupted_launches` removes the marks
    of recorded (or removed) runs."""
    return root / ".launching"


ALL_SEEN = ".all-seen"
"""Written in `launches_dir` once every run directory was looked at: records written before
the marks existed are found by that one full scan."""


@dataclass(frozen=True)
class InterruptedLaunch:
    """A run directory whose launch submitted jobs and then died before recording them."""

    dir: Path
    target: str
    job_ids: tuple[str, ...]
    tag: str | None = None
    """What its jobs carry (Slurm: in their comment), when the launch said so first."""
    cluster: dict[str, Any] | None = None
    """The remote cluster it submitted to (as a record's ``cluster``); None: this machine."""


def interrupted_launches(root: Path | None = None) -> list[InterruptedLaunch]:
    """Directories with a `SUBMITTED` journal but no ``run.json``: their jobs may be running,
    and nothing tracks them. Reads the marks of `launches_dir` (all run directories once)."""
    root = root or runs_root()
    marks = launches_dir(root)
    if (marks / ALL_SEEN).is_file():
        names = [n for n in os.listdir(marks) if n != ALL_SEEN]
    else:
        names = [e.name for e in _run_dirs(root)]
    found = []
    for name in sorted(names):
        directory = root / name
        journal = directory / SUBMITTED
        if (directory / RECORD).exists() or not directory.is_dir():
            with contextlib.suppress(OSError):
                os.unlink(marks / name)  # recorded, or removed by its failed launch
            continue
        if not journal.is_file():
            continue  # marked, and about to journal its first job
        lines = []
        for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):  # a line cut by the kill
                lines.append(json.loads(line))
        if lines:
            ids = tuple(str(j["id"]) for j in lines if "id" in j)
            tag = next((str(j["tag"]) for j in lines if "tag" in j), None)
            cluster = next((j["cluster"] for j in lines if "cluster" in j), None)
            target = str(lines[0]["target"])
            found.append(InterruptedLaunch(directory, target, ids, tag, cluster))
    if root.is_dir() and not (marks / ALL_SEEN).is_file():
        write_private(marks / ALL_SEEN, "", private_dir(marks))
    return found


def forget_launch(run_dir: Path) -> None:
    """Stop `interrupted_launches` looking at ``run_dir`` (a launch killed before its
    scheduler took any job); a later `journal_job` marks it again."""
    with contextlib.suppress(OSError):
        os.unlink(launches_dir(run_dir.parent) / run_dir.name)


def find_run(query: str, root: Path | None = None) -> Record:
    """The run ``query`` names: an id, a name (its newest run), or a unique id prefix, in that
    order. Reads only the records it may return (`iter_records`), never all of them."""
    root = root or runs_root()
    if query and "/" not in query and query not in (".", ".."):
        exact = load_record(root / query)
        if exact is not None:
            return exact
    named = next(iter_records(root, query), None)
    if named is not None:
        return named
    prefixed = sorted(e.name for e in _run_dirs(root) if query and e.name.startswith(query))
    if len(prefixed) > 1:  # only whole records count, but reading them all is what we avoid
        prefixed = [n for n in prefixed if (root / n / RECORD).is_file()]
    matches = [r for n in prefixed if (r := load_record(root / n)) is not None]
    matches.sort(key=lambda r: (r.created, r.id), reverse=True)
    if len(matches) == 1:
        return matches[0]
    if matches:
        shown = ", ".join(r.id for r in matches[:10])
        more = f" and {len(matches) - 10} more" if len(matches) > 10 else ""
        raise SpecError(
            f"'{query}' matches {len(matches)} runs: {shown}{more}",
            suggestion="give more of the id",
        )
    raise SpecError(
        f"no run '{query}' in {root}",
        expected="a run id, a unique prefix of one, or a run's name",
        suggestion="'nemorun ls' lists the runs",
    )


def save_state(record: Record, statuses: Iterable[JobStatus], target_state: dict[str, Any]) -> None:
    """Persist the job states just seen (and the target's own state), if anything changed."""
    statuses = list(statuses)
    status = summarize([s.state for s in statuses]) if statuses else JobState.UNKNOWN
    state: dict[str, Any] = {
        "status": status.value,
        "jobs": [status_to_json(s) for s in statuses],
        "target_state": target_state,
    }
    old = {k: record.state.get(k) for k in state}
    if old == state:
        return
    moment = iso(now_utc())
    state["updated"] = moment
    state["ended"] = record.state.get("ended") or (moment if status.is_final() else None)
    write_json(record.dir / STATE, state)
    record.state = state
    if record.data.get("tracking") and old["status"] != status.value:
        from nemorun.launchers.tracking import mirror

        mirror(record.data["tracking"], status.value)
