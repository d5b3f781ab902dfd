"""What the page asks, answered as JSON-able data through the Python API for runs.

Every answer that asks a scheduler does it within `SCHEDULER_TIMEOUT` seconds (the batched
refresh of ``api_runs.runs``, or ``status`` with a timeout): past it the states last recorded
are shown, marked stale, so a scheduler that hangs never hangs the page.

Logs are followed by line numbers: the page says how many lines it holds, and gets the lines
after them. The last line of an answer may still be being written, so it is sent again next
time (``next`` counts it out) and the page replaces it, instead of keeping half a line.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nemorun import api_runs
from nemorun.launchers.metrics import METRICS_FILE, read_metrics
from nemorun.ui.plots import metric_plots

SCHEDULER_TIMEOUT = 3.0
"""Seconds one answer may wait, in all, for schedulers (then: the states last recorded)."""
MAX_RUNS = 5000
"""The most runs one list answer holds."""
MAX_LOG_LINES = 5000
"""The most log lines one answer holds (the page asks again for the rest)."""
MAX_FILE_BYTES = 256 * 1024
"""A spec or artifact file is shown up to this size, then cut (and said so)."""


def run_list(limit: int) -> dict[str, Any]:
    """The newest ``limit`` runs with their live status (a row: what the list shows, not the
    whole summary: the jobs' paths cost more than the rest), the warnings to show, and
    whether older runs were left out."""
    limit = min(max(limit, 1), MAX_RUNS)
    found = api_runs.runs(last=limit + 1, timeout=SCHEDULER_TIMEOUT)  # one more: are there?
    rows = [
        {"id": r.id, "name": r.name, "target": r.target, "created": r.created, "status": r.status}
        for r in found.runs[:limit]
    ]
    return {"runs": rows, "warnings": list(found.warnings), "more": len(found) > limit}


def run_page(ref: str) -> dict[str, Any]:
    """Run ``ref``: its record, jobs and points, spec files, artifacts and metric plots."""
    status = api_runs.status(ref, timeout=SCHEDULER_TIMEOUT)
    record = status.record
    metrics = _metrics(record.dir)
    body = status.to_json()
    body.update(
        stale=status.stale,
        final=status.state.is_final(),
        overrides=list(record.data.get("overrides", [])),
        job_list=[{"id": j.id, "task": j.task, "points": list(j.points)} for j in record.jobs],
        points=_points(status, metrics),
        spec=_files(record.dir, ["resolved.yaml"], "spec"),
        artifacts=_files(record.dir, [], "artifacts"),
        plots=metric_plots({k: m.series for k, m in metrics.items()}),
    )
    return body


def log_lines(ref: str, job_id: str, start: int) -> dict[str, Any]:
    """Job ``job_id``'s output of run ``ref`` from line ``start`` on (see the module's note)."""
    from nemorun.errors import SpecError

    run = api_runs.open_run(ref, timeout=SCHEDULER_TIMEOUT)
    jobs = [j for j in run.record.jobs if j.id == job_id]
    if not jobs:
        have = ", ".join(j.id for j in run.record.jobs) or "none"
        raise SpecError(f"run {run.id} has no job '{job_id}'", expected=f"one of: {have}")
    lines = [text for _, text in run.logs(jobs[0])]
    start = min(max(start, 0), len(lines))
    new = lines[start : start + MAX_LOG_LINES]
    held = start + len(new) - (1 if new and start + len(new) == len(lines) else 0)
    return {"lines": new, "next": held, "total": len(lines)}


def compare_table(refs: Sequence[str]) -> dict[str, Any]:
    """`nemorun.compare`'s table of runs ``refs``: its columns and rows."""
    from nemorun.launchers.comparison import compare

    table = compare(list(refs))
    rows = json.loads(json.dumps([dict(r) for r in table.rows], default=str))
    return {"columns": list(table.columns), "rows": rows}


def _points(status: api_runs.RunStatus, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """A row per job or array element: its point and swept values, state, exit code, reason,
    last metrics."""
    tasks = {j.id: j.task for j in status.record.jobs}
    swept = point_values(status.record.id) if "sweep" in _resolved(status.record.dir) else {}
    several = len(set(tasks.values())) > 1
    rows = []
    for job in status.jobs:
        point = job.point
        task = tasks.get(job.id) or tasks.get(job.id.rsplit("_", 1)[0], "")
        key = f"{task}/{point}" if several else str(point)
        found = metrics.get(key)
        rows.append(
            {
                "job": job.id,
                "task": task,
                "point": point,
                "values": swept.get(point, "") if point is not None else "",
                "state": job.state.value,
                "exit_code": job.exit_code,
                "reason": job.reason,
                "metrics": found.last() if found is not None else {},
            }
        )
    return rows


def _resolved(run_dir: Path) -> str:
    try:
        return (run_dir / "resolved.yaml").read_text(encoding="utf-8")
    except OSError:
        return ""


@functools.lru_cache(maxsize=256)
def point_values(run_id: str) -> dict[int, str]:
    """Each point's swept values (``task.lr=0.1``) of run ``run_id``, from its resolved spec
    (loaded as ``nemorun diff`` loads a run; a record never changes, so it is kept); empty
    when the spec no longer loads (its code moved, say)."""
    from nemorun import api
    from nemorun.cli.pictures import side_spec
    from nemorun.errors import SpecError, SpecErrors
    from nemorun.launchers.compare import side

    try:
        spec = side_spec(run_id, side(run_id, lambda path: ""))
        return {p.index: p.describe() for p in api.points(spec)}
    except (SpecError, SpecErrors, ImportError, OSError, ValueError):
        return {}


def _metrics(run_dir: Path) -> dict[str, Any]:
    """Each point's metrics, by its directory under ``points/`` (``0``, or ``TASK/0``)."""
    points = run_dir / "points"
    found = {}
    for path in sorted(points.glob(f"**/{METRICS_FILE}")):
        found[path.parent.relative_to(points).as_posix()] = read_metrics(path)
    return found


def _files(run_dir: Path, names: Sequence[str], folder: str) -> list[dict[str, Any]]:
    """The files ``names`` and those under ``folder`` of a run: path (relative) and text."""
    paths = [run_dir / n for n in names if (run_dir / n).is_file()]
    paths += sorted(p for p in (run_dir / folder).rglob("*") if p.is_file())
    return [_file(run_dir, p) for p in paths]


def _file(run_dir: Path, path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    text = data[:MAX_FILE_BYTES].decode("utf-8", errors="replace")
    cut = len(data) > MAX_FILE_BYTES
    return {"path": path.relative_to(run_dir).as_posix(), "text": text, "cut": cut}


def diff_picture(a: str, b: str) -> dict[str, Any]:
    """``nemorun diff A B --svg``'s picture of runs ``a`` and ``b`` and its list of changes;
    ``svg`` is None (and ``note`` says why) when Graphviz cannot draw it."""
    from nemorun import api
    from nemorun.cli.pictures import diff_picture as diff_dot
    from nemorun.launchers.records import find_run

    # Runs only: ``diff`` also reads spec files, which would let the page read any file.
    a, b = find_run(a).id, find_run(b).id
    found = api.diff(a, b)
    changes = [c.describe() for c in found.changes]
    svg, note = _draw(diff_dot(found, a, b)) if changes else (None, "no difference")
    return {"a": found.a.label, "b": found.b.label, "changes": changes, "svg": svg, "note": note}


def _draw(dot: str) -> tuple[str | None, str | None]:
    import shutil
    import subprocess

    from nemorun.cli.pictures import DOT_TIMEOUT

    program = shutil.which("dot")
    if program is None:
        return None, "drawing needs Graphviz's 'dot' (Debian's graphviz package)"
    try:
        done = subprocess.run(
            [program, "-Tsvg"], input=dot.encode(), capture_output=True, timeout=DOT_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return None, f"Graphviz's dot took more than {DOT_TIMEOUT:.0f} s"
    if done.returncode != 0:
        return None, "Graphviz's dot failed: " + done.stderr.decode(errors="replace").strip()
    return done.stdout.decode("utf-8", errors="replace"), None
