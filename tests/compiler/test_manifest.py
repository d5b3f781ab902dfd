"""``tasks.json``: written from and read into one `Manifest`; the one reader checks it, applies a
rerun's points and orders the tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nemorun.compiler.manifest import (
    MANIFEST,
    Manifest,
    ManifestError,
    TaskEntry,
    in_order,
    read_manifest,
)
from nemorun.launchers.base import LaunchError, RunHandle, planned_tasks

FULL = TaskEntry(
    "train",
    ("prep",),
    "local",
    ("train/train.sh",),
    3,
    2,
    {"output": "/r/logs/train.{point}.log", "status": "/r/logs/train.{point}.status"},
)


def write(directory: Path, body: object) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = body if isinstance(body, str) else json.dumps(body)
    (directory / MANIFEST).write_text(text, encoding="utf-8")
    return directory


def test_the_text_reads_back_into_the_same_manifest() -> None:
    manifest = Manifest((TaskEntry("prep", target="local", mains=("prep/prep.sh",)), FULL))
    assert Manifest.parse(manifest.text()) == manifest
    assert json.loads(manifest.text())["nemorun_tasks"] == 1


def test_an_old_record_without_the_optional_fields_still_reads(tmp_path: Path) -> None:
    """Records written before a field existed (and hand-written ones) take its default."""
    write(tmp_path, {"tasks": [{"name": "prep", "points": 2}]})
    assert read_manifest(tmp_path).tasks == (TaskEntry("prep", points=2),)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{", "not JSON"),
        ({"tasks": []}, "lists no tasks"),
        ([1], "lists no tasks"),
        ({"tasks": ["prep"]}, "a task is str, not an object"),
        ({"tasks": [{"points": 1}]}, "a task has no name"),
        ({"tasks": [{"name": "a", "points": 0}]}, "task a: points is 0"),
        ({"tasks": [{"name": "a", "points": True}]}, "task a: points is True"),
        ({"tasks": [{"name": "a", "after": "b"}]}, "task a: after is 'b'"),
        ({"tasks": [{"name": "a", "mains": [3]}]}, r"task a: mains is \[3\]"),
        ({"tasks": [{"name": "a", "max_parallel": -1}]}, "task a: max_parallel is -1"),
        ({"tasks": [{"name": "a", "logs": {"output": 1}}]}, "task a: logs is"),
        ({"tasks": [{"name": "a"}, {"name": "a"}]}, "task names repeat: a"),
        ({"tasks": [{"name": "a", "after": ["z"]}]}, "tasks come after unknown tasks: z"),
        (
            {"tasks": [{"name": "a", "after": ["b"]}, {"name": "b", "after": ["a"]}]},
            "tasks come after each other in a cycle: a, b",
        ),
    ],
)
def test_a_broken_manifest_is_an_error_that_names_the_file(
    tmp_path: Path, body: Any, message: str
) -> None:
    write(tmp_path, body)
    with pytest.raises(ManifestError, match=f"^{tmp_path / MANIFEST}: {message}"):
        read_manifest(tmp_path)


def test_a_missing_manifest_is_an_error_that_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=f"cannot read {tmp_path / MANIFEST}"):
        read_manifest(tmp_path)


TASKS = Manifest(
    (
        TaskEntry("eval", ("train",), mains=("eval.sh",)),
        TaskEntry("prep", mains=("prep.sh",)),
        TaskEntry("train", ("prep",), mains=("train.sh",), points=4),
        TaskEntry("other", mains=("other.sh",), points=2),
    )
)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        # Parents first, otherwise in the file's order.
        (None, [("prep", (0,)), ("train", (0, 1, 2, 3)), ("eval", (0,)), ("other", (0, 1))]),
        # A rerun: only the tasks it names, only their points; a parent left out counts as done.
        ({"eval": (0,), "train": (3, 1)}, [("train", (1, 3)), ("eval", (0,))]),
        ({"other": [1]}, [("other", (1,))]),
    ],
)
def test_plan_applies_the_points_and_orders_the_tasks(
    points: dict[str, tuple[int, ...]] | None, expected: list[tuple[str, tuple[int, ...]]]
) -> None:
    planned = TASKS.plan(points)
    assert [(p.name, p.points) for p in planned] == expected
    assert all(TASKS.tasks[p.index] == p.task for p in planned)


@pytest.mark.parametrize(
    ("points", "target", "message"),
    [
        ({"trian": (0,)}, None, "no task named 'trian'"),
        ({"train": (4,)}, None, "task train has no point 4"),
        (None, "slurm", "task eval is compiled for local, not slurm"),
        (None, None, "task eval has no artifact to submit"),
    ],
)
def test_plan_refuses_what_the_manifest_does_not_have(
    points: dict[str, tuple[int, ...]] | None, target: str | None, message: str
) -> None:
    manifest = Manifest((TaskEntry("eval", target="local"), *TASKS.tasks[1:]))
    if points is not None:
        manifest = TASKS
    with pytest.raises(ManifestError, match=message):
        manifest.plan(points, target)


def test_the_targets_read_the_manifest_through_the_one_reader(tmp_path: Path) -> None:
    """A target sees the plan, or a `LaunchError` that names the file (exit 1, no traceback)."""
    run = RunHandle("r", "r", tmp_path, "local", points={"train": (2,)})
    write(
        run.artifacts_dir,
        json.loads(Manifest((TaskEntry("prep", mains=("prep.sh",)), FULL)).text()),
    )
    assert [(p.name, p.points, p.index) for p in planned_tasks(run)] == [("train", (2,), 1)]
    write(run.artifacts_dir, {"tasks": [{"name": "train", "after": ["train"], "mains": ["t.sh"]}]})
    with pytest.raises(LaunchError, match=f"{run.artifacts_dir / MANIFEST}: .*cycle: train"):
        planned_tasks(run)


def test_in_order_is_stable_and_counts_absent_parents_as_done() -> None:
    after = {"c": ["a"], "a": ["gone"], "b": []}
    assert in_order(["c", "a", "b"], lambda n: after[n]) == ["a", "c", "b"]


def test_compile_writes_the_manifest_the_reader_reads(write_spec: Any, workdir: Path) -> None:
    """What compile writes for a spec of several tasks reads back as the same entries, in run
    order (parents first, otherwise the spec's order), with each task's artifacts beside it."""
    from nemorun.api import load_for_target
    from nemorun.compiler.tasks import compile_tasks

    spec = write_spec(
        "multi.yaml",
        """
        nemorun: 1
        name: multi
        pythonpath: ["{examples}"]
        tasks:
          report: {task: {command: "echo report"}, after: [train]}
          train:
            after: [prep]
            task:
              _target_: trainlib:train
              model: {hidden_size: 4}
          prep: {task: {command: "echo prep"}}
        sweep: {tasks.train.task.optim.lr: [0.1, 0.2]}
        executor: {target: local, max_parallel: 2}
        """,
    )
    loaded, warnings = load_for_target(spec, (), None)
    build = compile_tasks(loaded, warnings=warnings)
    build.write(workdir / "out")
    manifest = read_manifest(workdir / "out")
    assert manifest.tasks == tuple(task.entry() for task in build.tasks)
    assert [(t.name, t.after, t.points, t.max_parallel) for t in manifest.tasks] == [
        ("prep", (), 1, 2),
        ("train", ("prep",), 2, 2),
        ("report", ("train",), 1, 2),
    ]
    assert all((workdir / "out" / main).is_file() for t in manifest.tasks for main in t.mains)
