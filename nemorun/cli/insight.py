"""The commands that look into finished work: ``compare`` (runs side by side) and ``metrics``
(a run's metrics over steps, as sparklines or an SVG).

A comparison can be wider than any terminal: cells are cut to `CELL` characters (with ``…``),
the run and point columns always stay, and the other columns are kept in order while they fit
``shutil.get_terminal_size``; the ones left out are named on stderr, with how to see them
(``--keys``, ``--json``, ``--csv``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.cli.common import EXIT_FAILURE, EXIT_OK, RUN_HELP, Command, parser, warn
from nemorun.errors import SpecError

if TYPE_CHECKING:
    from nemorun.launchers.comparison import Comparison

CELL = 24
"""A table cell's widest text; longer values end in ``…`` (``--json`` has them whole)."""
GAP = "  "


def _build_compare() -> argparse.ArgumentParser:
    p = parser(
        "compare",
        "A row per run (per sweep point for a sweep), a column per resolved-spec key whose\n"
        "value differs between the rows, and the last value of each metric.\n\n"
        "examples:\n"
        "  nemorun compare 20261203-0735 20261203-0740\n"
        "  nemorun compare --name demo --last 20 --keys task.lr,task.layers\n"
        "  nemorun compare demo --csv > runs.csv",
    )
    p.add_argument("runs", nargs="*", metavar="RUN", help=RUN_HELP)
    p.add_argument("--name", help="the newest runs of this name (see --last)")
    p.add_argument("--last", type=int, default=20, metavar="N", help="with --name: N runs (20)")
    p.add_argument("--keys", metavar="K,…", help="only these key paths (and the keys under them)")
    p.add_argument("--all", action="store_true", help="every key path, not only those that differ")
    shown = p.add_mutually_exclusive_group()
    shown.add_argument("--json", action="store_true", help="the whole table as JSON")
    shown.add_argument("--csv", action="store_true", help="the whole table as CSV")
    return p


def _run_compare(ns: argparse.Namespace) -> int:
    from nemorun.launchers.comparison import compare, compare_records, newest

    keys = [k.strip() for k in (ns.keys or "").split(",") if k.strip()]
    if ns.name is not None:
        if ns.last < 1:
            raise SpecError("--last must be at least 1", found=str(ns.last))
        records = newest(ns.name, ns.last)
        if ns.runs:
            raise SpecError("give runs or --name, not both", found=" ".join(ns.runs))
        found = compare_records(records, all_keys=ns.all, keys=keys)
    else:
        found = compare(ns.runs, all_keys=ns.all, keys=keys)
    if found.skipped_lines:
        warn([f"{found.skipped_lines} line(s) of the runs' metrics.jsonl were not metrics"])
    if ns.json:
        print(found.to_json())
    elif ns.csv:
        _print_csv(found)
    else:
        _print_table(found, shutil.get_terminal_size().columns)
    return EXIT_OK


def _print_csv(found: Comparison) -> None:
    import csv
    import json

    def raw(value: object) -> object:
        if isinstance(value, (list, dict, bool)):
            return json.dumps(value, ensure_ascii=False)
        return "" if value is None else value

    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(found.columns)
    for row in found.rows:
        out.writerow([raw(row.get(c)) for c in found.columns])


def _print_table(found: Comparison, width: int) -> None:
    """The table cut to ``width`` characters: the run and the point always, then, by priority
    (`_priority`), columns until one does not fit; shown in the comparison's order."""
    columns = list(found.columns)
    if all(row.get("point") is None for row in found.rows):
        columns.remove("point")
    cells = {c: [_cell(c, _text(c, row.get(c))) for row in found.rows] for c in columns}
    widths = {c: max(len(_header(c)), *(len(t) for t in cells[c])) for c in columns}
    chosen: set[str] = set()
    used = -len(GAP)
    for column in sorted(columns, key=lambda c: _priority(found, c)):
        need = widths[column] + len(GAP)
        if column not in ("run", "point") and used + need > width:
            break  # what is kept is always the most wanted: no narrow column skips ahead
        chosen.add(column)
        used += need
    kept = [c for c in columns if c in chosen]
    for row in [[_header(c) for c in kept], *zip(*(cells[c] for c in kept))]:
        print(GAP.join(t.ljust(widths[c]) for t, c in zip(row, kept)).rstrip())
    left_out = [c for c in columns if c not in chosen]
    if left_out:
        print(
            f"{len(left_out)} column(s) left out to fit {width} characters: "
            f"{', '.join(left_out)} (choose with --keys, or see all with --json or --csv)",
            file=sys.stderr,
        )


def _priority(found: Comparison, column: str) -> int:
    """What a narrow terminal keeps first: run, point, status, the spec's keys whose values
    differ, the metrics, the keys that do not differ (``--all``), then target, duration and
    attempts."""
    order = {"run": 0, "point": 1, "status": 2, "target": 6, "duration": 7, "attempts": 8}
    if column in order:
        return order[column]
    if column.startswith("metric:"):
        return 4
    values = {_text(column, row.get(column)) for row in found.rows}
    return 3 if len(values) > 1 else 5


def _cell(column: str, text: str) -> str:
    """``text`` on one line and cut to `CELL` characters (a run's id stays whole)."""
    text = text.replace("\n", "⏎")
    return text if column == "run" or len(text) <= CELL else text[: CELL - 1] + "…"


def _header(column: str) -> str:
    return column.upper() if column in ("run", "point", "status", "target") else column


def _text(column: str, value: object) -> str:
    from nemorun.launchers.metrics import format_number

    if value is None:
        return "-"
    if column == "duration" and isinstance(value, (int, float)):
        return _duration(float(value))
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, (list, dict, bool)):
        import json

        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


# --- metrics ----------------------------------------------------------------------------------


def _build_metrics() -> argparse.ArgumentParser:
    p = parser(
        "metrics",
        "A run's metrics over steps, read from each point's metrics.jsonl: a sparkline per\n"
        "metric on the terminal, or an SVG chart.\n\n"
        "examples:\n"
        "  nemorun metrics demo\n"
        "  nemorun metrics demo --point 1 --metric loss --svg loss.svg",
    )
    p.add_argument("run", metavar="RUN", help=RUN_HELP)
    p.add_argument("--point", help="only this sweep point (TASK/P for one of several tasks)")
    p.add_argument("--metric", action="append", metavar="M", help="only this metric (repeatable)")
    p.add_argument("--svg", type=Path, metavar="FILE", help="write an SVG chart to FILE")
    p.add_argument("--json", action="store_true", help="every series as JSON")
    return p


def _run_metrics(ns: argparse.Namespace) -> int:
    from nemorun.launchers.metrics import metric_files, read_metrics
    from nemorun.launchers.records import find_run

    record = find_run(ns.run)
    files = metric_files(record.dir)
    if ns.point is not None:
        if ns.point not in files:
            raise SpecError(
                f"run {record.id} has no metrics for point '{ns.point}'",
                expected="one of: " + (", ".join(files) or "(none yet)"),
            )
        files = {ns.point: files[ns.point]}
    if not files:
        print(
            f"nemorun: run {record.id} has no metrics (a job writes them to "
            "$NEMORUN_POINT_DIR/metrics.jsonl)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    read = {point: read_metrics(path) for point, path in files.items()}
    skipped = sum(m.skipped_lines for m in read.values())
    if skipped:
        warn([f"{skipped} line(s) of metrics.jsonl were not metrics and were skipped"])
    series = _chosen(record.id, {p: dict(m.series) for p, m in read.items()}, ns.metric)
    if ns.json:
        _print_json(record.id, series, skipped)
    elif ns.svg is not None:
        from nemorun.cli.common import write_output
        from nemorun.launchers.metrics_svg import metrics_svg

        named = {
            (k if len(series) == 1 else f"{p}/{k}"): v
            for p, s in series.items()
            for k, v in s.items()
        }
        write_output(metrics_svg(named, f"run {record.id}"), ns.svg)
        print(f"wrote {ns.svg}", file=sys.stderr)
    else:
        _print_sparklines(series)
    return EXIT_OK


Chosen = dict[str, dict[str, "tuple[tuple[float, float], ...]"]]


def _chosen(run: str, series: Chosen, wanted: Sequence[str] | None) -> Chosen:
    if not wanted:
        return series
    have = sorted({k for s in series.values() for k in s})
    for name in wanted:
        if name not in have:
            from nemorun.errors import did_you_mean

            raise SpecError(
                f"run {run} has no metric '{name}'",
                expected="one of: " + ", ".join(have),
                suggestion=did_you_mean(name, have),
            )
    return {p: {k: v for k, v in s.items() if k in wanted} for p, s in series.items()}


def _print_json(run: str, series: Chosen, skipped: int) -> None:
    import json

    points = {p: {k: [list(x) for x in v] for k, v in s.items()} for p, s in series.items()}
    print(json.dumps({"run": run, "points": points, "skipped_lines": skipped}))


def _print_sparklines(series: Mapping[str, Mapping[str, tuple[tuple[float, float], ...]]]) -> None:
    from nemorun.launchers.metrics import format_number, sparkline

    width = max((len(k) for s in series.values() for k in s), default=4)
    for point, metrics in series.items():
        if len(series) > 1:
            print(f"point {point}")
        for name, points in metrics.items():
            values = [v for _, v in points]
            line = sparkline(values, 40)
            span = f"{format_number(min(values))}..{format_number(max(values))}"
            print(
                f"  {name.ljust(width)}  {line}  last {format_number(values[-1])}  "
                f"({len(values)} steps to {format_number(points[-1][0])}, range {span})"
            )


COMMANDS: dict[str, Command] = {
    "compare": (_build_compare, _run_compare),
    "metrics": (_build_metrics, _run_metrics),
}
