"""``nemorun compare``: many runs side by side, a row per run (per sweep point for a sweep), a
column per resolved-spec key whose value differs between the rows, and each metric's last value.

**Reading a run.** Its resolved spec comes from `nemorun.launchers.compare.run_side` (the reading
``nemorun diff`` does: pythonpath made absolute, the default target left out), flattened to key
paths (``task.optim.lr``; a list is one value). A sweep's ``resolved.yaml`` holds the first
point's values and the ``sweep:`` table, so each point's row puts its own value of every axis
at the axis's path (`nemorun.schemas.layout.task_path`: ``lr`` is ``task.lr``); the ``sweep``
key itself is left out (its points are the rows). Metrics: `nemorun.launchers.metrics`, from
each point's ``metrics.jsonl``.

**Status** is the one last recorded, refreshed first for runs not known to have ended (one
batched question per target, within `nemorun.api_runs`' deadline; a scheduler that does not
answer leaves the recorded state). **Duration**: from submission to the end the record saw
(None while it runs). **Attempts**: 1, plus one per rerun this run descends from (``rerun_of``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nemorun.errors import SpecError
from nemorun.launchers.keypaths import flatten
from nemorun.launchers.metrics import METRICS_FILE, metric_files, read_metrics
from nemorun.launchers.records import Record, find_run, iter_records
from nemorun.launchers.run_ids import RUNS_SUBDIR

FIXED = ("run", "point", "status", "target", "duration", "attempts")
"""The columns every comparison has, first."""

METRIC = "metric:"
"""The prefix of a metric's column (``metric:loss``)."""

REFRESH_SECONDS = 10.0


@dataclass(frozen=True)
class Comparison:
    """The table: `columns` in order, and a row per run or sweep point (keys: the columns)."""

    columns: tuple[str, ...]
    rows: tuple[Mapping[str, object], ...]
    skipped_lines: int = 0
    """Lines of the runs' ``metrics.jsonl`` files that were not metrics (`read_metrics`)."""

    def to_json(self) -> str:
        rows = [{c: row.get(c) for c in self.columns} for row in self.rows]
        return json.dumps({"columns": list(self.columns), "rows": rows}, ensure_ascii=False)

    def key_columns(self) -> tuple[str, ...]:
        """The resolved-spec key paths shown (not fixed, not metrics)."""
        return tuple(c for c in self.columns if c not in FIXED and not c.startswith(METRIC))


def compare(
    refs: Sequence[str],
    *,
    home: Path | None = None,
    all_keys: bool = False,
    keys: Sequence[str] = (),
) -> Comparison:
    """Compare the runs ``refs`` names (ids, unique id prefixes, names: each its newest run).
    ``home``: a ``NEMORUN_HOME`` (default: the environment's, `runs_root`). ``all_keys``:
    every key path, not only those that differ. ``keys``: only these key paths (a path also
    selects the keys under it; a short path is read under ``task``, as overrides are)."""
    if not refs:
        raise SpecError("nothing to compare", suggestion="give run ids or names, or --name N")
    root = None if home is None else Path(home) / RUNS_SUBDIR
    records = list(dict((r.id, r) for r in (find_run(ref, root) for ref in refs)).values())
    return compare_records(records, all_keys=all_keys, keys=keys)


def newest(name: str, last: int, home: Path | None = None) -> list[Record]:
    """The newest ``last`` runs named ``name``."""
    root = None if home is None else Path(home) / RUNS_SUBDIR
    found = list(itertools.islice(iter_records(root, name), last))
    if not found:
        raise SpecError(f"no run named '{name}'", suggestion="'nemorun ls' lists the runs")
    return found


def compare_records(
    records: Sequence[Record], *, all_keys: bool = False, keys: Sequence[str] = ()
) -> Comparison:
    """`compare` of records already found."""
    _refresh(records)
    rows: list[dict[str, object]] = []
    trees: list[dict[str, Any]] = []
    skipped = 0
    for record in records:
        for row, tree, bad in _rows(record):
            rows.append(row)
            trees.append(tree)
            skipped += bad
    paths = _chosen_paths(trees, all_keys, keys)
    metrics = sorted({c for row in rows for c in row if c.startswith(METRIC)})
    for row, tree in zip(rows, trees):
        row.update((p, tree.get(p)) for p in paths)
    return Comparison((*FIXED, *paths, *metrics), tuple(rows), skipped)


def _chosen_paths(
    trees: Sequence[dict[str, Any]], all_keys: bool, keys: Sequence[str]
) -> list[str]:
    every = list(dict.fromkeys(p for tree in trees for p in tree))
    if keys:
        from nemorun.schemas.layout import task_path

        wanted = []
        for key in keys:
            full = ".".join(map(str, task_path(tuple(key.split(".")), {})))
            found = [p for p in every if p in (key, full) or p.startswith((f"{key}.", f"{full}."))]
            if not found:
                raise SpecError(
                    f"no key '{key}' in the runs' resolved specs",
                    expected="a key path such as " + ", ".join(every[:3]),
                )
            wanted += found
        return list(dict.fromkeys(wanted))
    if all_keys:
        return every
    missing = object()
    return [p for p in every if len({_canon(t.get(p, missing)) for t in trees}) > 1]


def _canon(value: object) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def _rows(record: Record) -> Iterable[tuple[dict[str, object], dict[str, Any], int]]:
    """Each row of ``record`` with its flattened resolved spec and its bad metric lines."""
    from nemorun.launchers.compare import run_side

    tree = run_side(record).tree
    sweep = tree.pop("sweep", None)
    points = sorted({p for job in record.jobs for p in job.points}) or [0]
    states = _point_states(record)
    single = len(record.data.get("tasks") or ["task"]) == 1
    common = {
        "run": record.id,
        "target": record.target,
        "duration": _duration(record),
        "attempts": _attempts(record),
    }
    per_point = single and len(points) > 1
    for point in points if per_point else [None]:
        row: dict[str, object] = {**common, "point": point}
        row["status"] = states.get(point, record.status.value) if point is not None else None
        row["status"] = row["status"] or record.status.value
        flat = flatten(_at_point(tree, sweep, point or 0))
        metrics, bad = _metrics(record, point, single)
        row.update((METRIC + k, v) for k, v in metrics.items())
        yield row, flat, bad


def _at_point(tree: dict[str, Any], sweep: Any, point: int) -> dict[str, Any]:
    """``tree`` with each sweep axis at its value for ``point`` (the last axis varies fastest)."""
    if not isinstance(sweep, dict) or not sweep:
        return tree
    from nemorun.schemas.layout import task_path

    axes = [(k, v) for k, v in sweep.items() if isinstance(v, list) and v]
    index = point
    chosen = []
    for key, values in reversed(axes):
        chosen.append((key, values[index % len(values)]))
        index //= len(values)
    out = json.loads(json.dumps(tree, default=str))
    for key, value in chosen:
        path = task_path(tuple(str(key).split(".")), out)
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[path[-1]] = value
    return out


def _point_states(record: Record) -> dict[int | None, str]:
    return {s.point: s.state.value for s in record.statuses if s.point is not None}


def _metrics(record: Record, point: int | None, single: bool) -> tuple[dict[str, float], int]:
    """The last value of each metric of ``point`` (every point's, named ``P/metric``, for a
    run's single row; ``TASK/metric`` for one of several tasks)."""
    if point is not None:
        found = read_metrics(record.dir / "points" / str(point) / METRICS_FILE)
        return found.last(), found.skipped_lines
    files = metric_files(record.dir)
    out: dict[str, float] = {}
    bad = 0
    for where, path in files.items():
        found = read_metrics(path)
        bad += found.skipped_lines
        short = where == "0" or (single and len(files) == 1)
        out.update((k if short else f"{where}/{k}", v) for k, v in found.last().items())
    return out, bad


def _duration(record: Record) -> float | None:
    start, end = record.data.get("submitted") or record.created, record.state.get("ended")
    if not end:
        return None
    try:
        seconds = _moment(end) - _moment(str(start))
    except ValueError:
        return None
    return round(max(seconds, 0.0), 3)


def _moment(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _attempts(record: Record, limit: int = 100) -> int:
    count = 1
    parent = record.data.get("rerun_of")
    while parent and count < limit:
        count += 1
        try:
            parent = find_run(str(parent), record.dir.parent).data.get("rerun_of")
        except SpecError:  # the run it reran was deleted: it still counts
            break
    return count


def _refresh(records: Sequence[Record]) -> None:
    """Ask each target once about its runs not known to have ended; keep what it answers."""
    from nemorun.launchers.records import save_state
    from nemorun.launchers.registry import load_target

    by_target: dict[str, list[Record]] = {}
    for record in records:
        if not record.status.is_final():
            by_target.setdefault(record.target, []).append(record)
    for name, asked in by_target.items():
        handles = [r.handle() for r in asked]
        try:
            target = load_target(name)
            target.deadline = time.monotonic() + REFRESH_SECONDS
            answers = target.status_many(handles)
        except Exception:  # a scheduler that cannot answer now: the recorded states stand
            continue
        for record, handle, statuses in zip(asked, handles, answers):
            save_state(record, statuses, handle.state)
