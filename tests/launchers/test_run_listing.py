"""Finding and listing runs without reading every record, a screenful at a time, and asking
Slurm about all unfinished runs at once (wrapper scripts on PATH count the real commands)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import CliResult, nemorun

from nemorun.api_runs import launch, runs
from nemorun.launchers import records
from nemorun.launchers.records import RECORD, STATE, find_run, iso, run_slug, write_json

T0 = datetime(2026, 11, 21, 10, 15, tzinfo=timezone.utc)


def fake_run(
    root: Path, name: str, moment: datetime, number: int, status: str = "completed"
) -> str:
    """A whole local record, ended: what ``ls`` reads of a run."""
    run_id = f"{moment:%Y%m%d-%H%M%S}-{run_slug(name)}-{number:06x}"
    (root / run_id).mkdir(parents=True)
    data = {
        "nemorun_run": 1,
        "id": run_id,
        "name": name,
        "target": "local",
        "created": iso(moment),
        "jobs": [],
    }
    write_json(root / run_id / RECORD, data)
    write_json(root / run_id / STATE, {"status": status, "jobs": []})
    return run_id


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The record directories read (parsed), in order."""
    seen: list[Path] = []
    real = records.load_record

    def counting(directory: Path) -> records.Record | None:
        seen.append(directory)
        return real(directory)

    monkeypatch.setattr(records, "load_record", counting)
    return seen


def test_runs_are_found_and_listed_reading_only_what_is_shown(
    home: Path, reads: list[Path]
) -> None:
    root = home / "nemorun-runs"
    ids = [fake_run(root, f"exp{i % 7}", T0 + timedelta(seconds=i), i) for i in range(120)]
    # Three runs in one second: order within it comes from `created`.
    same = T0 + timedelta(seconds=200)
    late = [fake_run(root, "same", same + timedelta(microseconds=m), m) for m in (3, 1, 2)]

    # How many directories each may read: first the query as an id, then...
    cases = [
        ("same", late[0], 1 + 3),  # a name: the runs of its newest second only
        ("exp3", ids[115], 1 + 1),
        (ids[5], ids[5], 1),  # an id
        (ids[5][:-2], ids[5], 1 + 1),  # a unique prefix
    ]
    for query, expected, most in cases:
        reads.clear()
        assert find_run(query).id == expected
        assert len(reads) <= most, (query, reads)

    reads.clear()
    newest = runs(last=4)
    assert [r.id for r in newest] == [late[0], late[2], late[1], ids[119]]
    assert len(reads) <= 5  # the second of `late`, then the next one


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"last": 3}, [11, 10, 9]),
        ({"status": "failed"}, [9, 6, 3, 0]),
        ({"status": "failed", "last": 3}, [9, 6, 3]),  # past the first page of newest runs
        ({"name": "even", "last": 2}, [10, 8]),
        ({"name": "even", "status": "failed", "last": 5}, [6, 0]),
        ({"target": "slurm"}, []),
    ],
)
def test_filters_apply_before_the_last_n(
    home: Path, query: dict[str, object], expected: list[int]
) -> None:
    root = home / "nemorun-runs"
    ids = [
        fake_run(
            root,
            "even" if i % 2 == 0 else "odd",
            T0 + timedelta(seconds=i),
            i,
            "failed" if i % 3 == 0 else "completed",
        )
        for i in range(12)
    ]
    assert [r.id for r in runs(**query)] == [ids[i] for i in expected]  # type: ignore[arg-type]


def test_ls_shows_the_newest_n_and_says_there_are_more(
    home: Path, cli: Callable[..., CliResult]
) -> None:
    root = home / "nemorun-runs"
    ids = [fake_run(root, "exp", T0 + timedelta(seconds=i), i) for i in range(15)]
    newest_first = ids[::-1]

    three = cli("ls", "--last", "3")
    assert three.code == 0
    assert [line.split()[0] for line in three.out.splitlines()[1:]] == newest_first[:3]
    assert three.err == "note: the newest 3 runs; older ones: nemorun ls --last N, or --all\n"

    piped = cli("ls", "--json")  # not a terminal: every run, no note
    assert [r["id"] for r in json.loads(piped.out)] == newest_first
    assert piped.err == ""
    assert [r["id"] for r in json.loads(cli("ls", "--json", "--last", "15").out)] == newest_first

    bad = cli("ls", "--last", "0")
    assert bad.code == 2 and "'0' is not a whole number of runs, 1 or more" in bad.err


def test_ls_on_a_terminal_shows_a_screenful_and_all_shows_every_run(
    home: Path, cli: Callable[..., CliResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = home / "nemorun-runs"
    ids = [fake_run(root, "exp", T0 + timedelta(seconds=i), i) for i in range(15)]
    newest_first = ids[::-1]
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a: os.terminal_size((100, 14)))

    screen = cli("ls")  # 14 lines: header and prompt aside, 11 runs
    assert [line.split()[0] for line in screen.out.splitlines()[1:]] == newest_first[:11]
    assert screen.err == "note: the newest 11 runs; older ones: nemorun ls --last N, or --all\n"

    every = cli("ls", "--all")
    assert [line.split()[0] for line in every.out.splitlines()[1:]] == newest_first
    assert every.err == ""


# --- Slurm: one batched query --------------------------------------------------------------------

SCHEDULER_TOOLS = ("squeue", "sacct", "scontrol")


def counting_path(directory: Path, log: Path) -> str:
    """A PATH whose Slurm query tools are wrappers that log each call, then run the real one."""
    directory.mkdir()
    for tool in SCHEDULER_TOOLS:
        real = shutil.which(tool)
        assert real is not None
        wrapper = directory / tool
        wrapper.write_text(f'#!/bin/sh\necho {tool} >> "{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return f"{directory}{os.pathsep}{os.environ['PATH']}"


def listed(path: str) -> dict[str, str]:
    proc = nemorun("ls", "--json", env={**os.environ, "PATH": path})
    assert proc.returncode == 0, proc.stderr
    return {r["id"]: r["status"] for r in json.loads(proc.stdout)}


def test_ls_asks_slurm_once_for_all_unfinished_runs(
    slurm_cluster: dict[str, str], home: Path, tmp_path: Path
) -> None:
    (tmp_path / "napper.py").write_text(
        "import time\n\n\ndef nap(seconds: int) -> None:\n    time.sleep(seconds)\n"
    )
    specs = {
        "one": "task: {command: 'sleep 120'}\n",
        "two": "task: {command: 'sleep 120'}\n",
        "sweep": f"pythonpath: [{tmp_path}]\ntask: {{_target_: napper:nap, seconds: 1}}\n"
        "sweep: {task.seconds: [120, 121, 122]}\n",
    }
    started = []
    try:
        for name, body in specs.items():
            spec = tmp_path / f"{name}.yaml"
            spec.write_text(f"nemorun: 1\nname: {name}\n{body}executor: {{target: slurm}}\n")
            started.append(launch(spec, target="slurm"))
        log = tmp_path / "calls.log"
        path = counting_path(tmp_path / "bin", log)

        states = listed(path)
        calls = log.read_text().split()
        assert len(calls) <= 2, calls
        assert set(states) == {r.id for r in started}
        assert set(states.values()) <= {"pending", "running"}, states
    finally:
        ids = [j.id for r in started for j in r.record.jobs]
        subprocess.run(["scancel", *ids], capture_output=True, timeout=60, check=False)

    deadline = time.monotonic() + 60
    while set(listed(path).values()) != {"cancelled"}:
        assert time.monotonic() < deadline, listed(path)
        time.sleep(0.5)
    log.write_text("")
    assert set(listed(path).values()) == {"cancelled"}
    assert log.read_text() == ""  # a run seen final is never asked about again


def test_interrupted_launches_are_found_from_their_marks(home: Path) -> None:
    root = home / "nemorun-runs"
    fake_run(root, "done", T0, 1)
    old = root / "20261121-101501-old-000002"  # journaled before marks existed
    old.mkdir()
    (old / records.SUBMITTED).write_text('{"target": "slurm", "id": "11"}\n')
    assert [i.job_ids for i in records.interrupted_launches()] == [("11",)]  # scans all, once

    killed, removed = root / "20261121-101502-k-000003", root / "20261121-101503-r-000004"
    for run_dir, job in ((killed, "12"), (removed, "13")):
        run_dir.mkdir()
        records.journal_job(run_dir, "slurm", job)
    shutil.rmtree(removed)  # its launch failed and cleaned up
    (old / RECORD).write_text((root / fake_run(root, "x", T0, 5) / RECORD).read_text())
    marks = records.launches_dir(root)
    assert sorted(p.name for p in marks.iterdir()) == [records.ALL_SEEN, killed.name, removed.name]

    assert [(i.dir, i.job_ids) for i in records.interrupted_launches()] == [(killed, ("12",))]
    assert sorted(p.name for p in marks.iterdir()) == [records.ALL_SEEN, killed.name]
