"""A sweep of 100,000 points compiles to one entry that holds its axes, not its points, and
each sampled point's job receives exactly its own values (run as plain Python, as the job
would)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from test_entry import FIXTURES, probe_spec, run_plain

from nemorun.api import load
from nemorun.compiler.entry import entry_point

COUNTS = list(range(1000))
SIZES = [7 * n for n in range(100)]


def grid_spec(tmp_path: Path) -> Path:
    return probe_spec(
        tmp_path,
        "count: 1\ninner: {size: 1}",
        extra=f"sweep:\n  count: {json.dumps(COUNTS)}\n  inner.size: {json.dumps(SIZES)}\n",
    )


def test_a_100000_point_grid_gives_each_sampled_point_its_values(tmp_path: Path) -> None:
    spec = grid_spec(tmp_path)
    entry = entry_point(load(spec))
    assert len(entry.points) == 100_000
    assert "POINTS" not in entry.source  # the axes only: the index decodes into values
    assert len(entry.source.encode()) < 20_000
    samples = [0, 1, 99, 100, 99_999, *random.Random(11).sample(range(100_000), 4)]
    for index in samples:
        proc = run_plain(entry.source, tmp_path, FIXTURES, {"NEMORUN_POINT": str(index)})
        assert proc.returncode == 0, proc.stderr
        got = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        want = (COUNTS[index // 100], SIZES[index % 100])
        assert (got["count"], got["inner"]["Inner"]["size"]) == want, index
        assert entry.points[index].describe() == f"count={want[0]} inner.size={want[1]}"
    proc = run_plain(entry.source, tmp_path, FIXTURES, {"NEMORUN_POINT": "100000"})
    assert proc.returncode == 1
    assert "NEMORUN_POINT must be a point from 0 to 99999" in proc.stderr


def test_a_large_sweep_compiles_to_the_same_bytes_every_time(tmp_path: Path) -> None:
    spec = grid_spec(tmp_path)
    assert entry_point(load(spec)).source == entry_point(load(spec)).source


def test_a_value_repeated_on_an_axis_keeps_its_place(tmp_path: Path) -> None:
    spec = probe_spec(tmp_path, "count: 1", extra="sweep:\n  count: [5, 5, 6]\n  flag: [true]\n")
    source = entry_point(load(spec)).source
    seen = []
    for index in range(3):
        proc = run_plain(source, tmp_path, FIXTURES, {"NEMORUN_POINT": str(index)})
        assert proc.returncode == 0, proc.stderr
        seen.append(json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["count"])
    assert seen == [5, 5, 6]


def test_one_axis_of_10000_values_gives_each_sampled_point_its_value(tmp_path: Path) -> None:
    values = [3 * n for n in range(10_000)]
    spec = probe_spec(tmp_path, "count: 1", extra=f"sweep:\n  count: {json.dumps(values)}\n")
    entry = entry_point(load(spec))
    for index in (0, 1, 4_321, 9_999):
        proc = run_plain(entry.source, tmp_path, FIXTURES, {"NEMORUN_POINT": str(index)})
        assert proc.returncode == 0, proc.stderr
        got = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        assert got["count"] == values[index], index


def test_values_converted_at_their_place_reach_each_point(tmp_path: Path) -> None:
    """Enum members, paths, tuples, environment reads and nested arguments, each axis checked
    at its place (`Spec.axis_values`), reach the job of every point as they would alone."""
    axes = {
        "color": ["RED", "g"],
        "where": ["a", "b/c"],
        "pair": [[1, "x"], [2, "y"]],
        "env_flag": ["${oc.env:FLAG,false}", True],
        "inner.size": [3, 4],
    }
    lines = "".join(f"\n  {key}: {json.dumps(values)}" for key, values in axes.items())
    spec = load(probe_spec(tmp_path, "inner: {size: 1}", extra=f"sweep:{lines}\n"))
    assert all(values is not None for values in spec.axis_values)
    entry = entry_point(spec)
    for index in range(len(entry.points)):
        proc = run_plain(entry.source, tmp_path, FIXTURES, {"NEMORUN_POINT": str(index)})
        assert proc.returncode == 0, proc.stderr
        got = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        picks = [index >> (len(axes) - 1 - k) & 1 for k in range(len(axes))]
        color, where, pair, flag, size = picks
        assert got["color"] == {"enum": f"Color.{['RED', 'GREEN'][color]}"}, index
        assert got["where"] == {"path": ["a", "b/c"][where]}, index
        assert got["pair"] == {"tuple": [[1, "x"], [2, "y"]][pair]}, index
        assert got["env_flag"] is [False, True][flag], index  # FLAG unset: its default
        assert got["inner"] == {"Inner": {"size": [3, 4][size], "color": {"enum": "Color.RED"}}}
