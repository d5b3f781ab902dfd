"""The point supervisor the local and docker targets share, run on plans written by hand: what
each point's script receives and what the supervisor leaves in the files the plan names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nemorun.launchers.supervise import __file__ as SUPERVISOR


def run_plan(tmp_path: Path, tasks: dict[str, tuple[str, list[str], int]], **plan: Any) -> Path:
    """Supervise ``tasks`` (name → (bash body, after, points)) under ``tmp_path/state``; each
    point's script gets the point as ``$1``. Returns the state directory."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    entries = []
    for name, (body, after, points) in tasks.items():
        script = tmp_path / f"{name}.sh"
        script.write_text(body + "\n")
        entries.append(
            {
                "name": name,
                "after": after,
                "parallel": plan.pop(f"{name}_parallel", 1),
                "script": str(script),
                "blocked": [str(state / f"{name}.blocked")],
                "points": [
                    {
                        key: str(state / f"{name}.{p}.{key}")
                        for key in ("log", "exit", "started", "cancel")
                    }
                    | {"point": p}
                    for p in range(points)
                ],
            }
        )
    body = {
        "cwd": str(tmp_path),
        "record": None,
        "cancelled": str(state / "cancelled"),
        "done": str(state / "done"),
        "supervisor": str(state / "supervisor"),
        "tasks": entries,
        **plan,
    }
    (tmp_path / "plan.json").write_text(json.dumps(body))
    subprocess.run(
        [sys.executable, "-I", "-S", SUPERVISOR, str(tmp_path / "plan.json")], timeout=30
    )
    return state


def files(state: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(state.iterdir()) if p.name != "supervisor"}


def test_points_run_in_order_with_their_output_and_exit_status(tmp_path: Path) -> None:
    state = run_plan(
        tmp_path,
        {
            "prep": ('echo "prep $1 in $PWD"', [], 1),
            "train": ('echo "train $1"; [ "$1" = 0 ]', ["prep"], 2),
            "eval": ("echo never", ["train"], 1),
            "other": ('echo "other $1"; exit 3', [], 1),
        },
    )
    assert files(state) == {
        "done": "",
        "eval.blocked": "dependency failed: train\n",
        "other.0.exit": "3\n",
        "other.0.log": "other 0\n",
        "other.0.started": files(state)["other.0.started"],
        "prep.0.exit": "0\n",
        "prep.0.log": f"prep 0 in {tmp_path}\n",
        "prep.0.started": files(state)["prep.0.started"],
        "train.0.exit": "0\n",
        "train.0.log": "train 0\n",
        "train.0.started": files(state)["train.0.started"],
        "train.1.exit": "1\n",
        "train.1.log": "train 1\n",
        "train.1.started": files(state)["train.1.started"],
    }
    assert all(files(state)[f"{t}.started"].strip().isdigit() for t in ("prep.0", "train.1"))


@pytest.mark.parametrize(
    ("body", "exit"),
    [
        ("kill -TERM $$", "143\n"),  # a signal reads 128 + N, as bash reports it
        ('echo 7 > "$STATE/job.0.exit"; exit 9', "7\n"),  # the artifact's own status wins
    ],
)
def test_the_exit_file_holds_the_status_the_job_ended_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, exit: str
) -> None:
    monkeypatch.setenv("STATE", str(tmp_path / "state"))
    state = run_plan(tmp_path, {"job": (body, [], 1)})
    assert (state / "job.0.exit").read_text() == exit


def test_a_cancelled_point_never_starts_and_fails_its_dependents(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "a.1.cancel").write_text("")
    state = run_plan(tmp_path, {"a": ("echo a $1", [], 2), "b": ("echo b", ["a"], 1)})
    assert files(state) == {
        "a.0.exit": "0\n",
        "a.0.log": "a 0\n",
        "a.0.started": files(state)["a.0.started"],
        "a.1.cancel": "",
        "b.blocked": "dependency failed: a\n",
        "done": "",
    }


def test_a_cancelled_run_starts_nothing_more(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "cancelled").write_text("")
    state = run_plan(tmp_path, {"a": ("echo a", [], 1)})
    assert files(state) == {"cancelled": "", "done": ""}


def test_at_most_parallel_points_run_at_once(tmp_path: Path) -> None:
    body = f"""
    mkdir "{tmp_path}/running.$1"
    ls -d "{tmp_path}"/running.* | wc -l
    sleep 0.3
    rmdir "{tmp_path}/running.$1"
    """
    state = run_plan(tmp_path, {"job": (body, [], 4)}, job_parallel=2)
    seen = [int((state / f"job.{p}.log").read_text()) for p in range(4)]
    assert max(seen) == 2
    assert [(state / f"job.{p}.exit").read_text() for p in range(4)] == ["0\n"] * 4
