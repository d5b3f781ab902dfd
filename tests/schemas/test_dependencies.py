"""``after:`` with conditions and ``singleton:``: every mistake located, the forms carried into
``tasks.json`` and into Slurm's ``--dependency`` (the runs themselves: tests/launchers)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from conftest import WriteSpec

from nemorun.api import load
from nemorun.compiler.manifest import CONDITIONS, Manifest, ManifestError, TaskEntry
from nemorun.compiler.tasks import compile_tasks
from nemorun.errors import SpecError
from nemorun.launchers.base import LaunchError
from nemorun.launchers.dependencies import slurm_dependency
from nemorun.schemas.dependencies import Condition

CONDITION_TEXT = (
    "expected ok (it succeeded), any (it ended), notok (it did not succeed) or corr "
    "(its same sweep point succeeded)"
)


def test_every_mistake_in_after_and_singleton_is_located(
    write_spec: WriteSpec, load_errors: Callable[..., list[str]]
) -> None:
    path = write_spec(
        "exp.yaml",
        """
        nemorun: 1
        tasks:
          train:
            task: {command: "echo train"}
          cleanup:
            task: {command: "echo cleanup"}
            after: {trian: notok}
            singleton: maybe
          report:
            task: {command: "echo report"}
            after: {train: sometimes, cleanup: 3}
          a:
            task: {command: "echo a"}
            after: {b: any}
          b:
            task: {command: "echo b"}
            after: [a]
          c:
            task: {command: "echo c"}
            after: train
        """,
    )
    assert load_errors(path) == [
        "exp.yaml:7:13: tasks.cleanup.after.trian: no task named 'trian'; did you mean 'train'?",
        "exp.yaml:8:16: tasks.cleanup.singleton: wrong type: expected true or false, "
        "found 'maybe' (a string)",
        "exp.yaml:11:20: tasks.report.after.train: unknown condition 'sometimes': "
        + CONDITION_TEXT,
        f"exp.yaml:11:40: tasks.report.after.cleanup: wrong type: {CONDITION_TEXT}, found 3",
        "exp.yaml:14:5: tasks.a.after: tasks depend on each other in a cycle: a → b → a; "
        "remove one task from one of these 'after:' lists",
        "exp.yaml:20:12: tasks.c.after: wrong type: expected a list of task names, or a mapping "
        "of task names to ok, any, notok or corr, found 'train' (a string); "
        "after: [train] or after: {train: notok}",
    ]


def test_a_near_miss_condition_gets_a_suggestion(
    write_spec: WriteSpec, load_errors: Callable[..., list[str]]
) -> None:
    path = write_spec(
        "exp.yaml",
        """
        nemorun: 1
        tasks:
          a: {task: {command: x}}
          b: {task: {command: y}, after: {a: not_ok}}
        """,
    )
    assert load_errors(path) == [
        f"exp.yaml:4:38: tasks.b.after.a: unknown condition 'not_ok': {CONDITION_TEXT}; "
        "did you mean 'notok'?"
    ]


def test_the_manifest_knows_every_condition() -> None:
    assert tuple(c.value for c in Condition) == CONDITIONS


def test_conditions_and_singleton_reach_tasks_json(write_spec: WriteSpec) -> None:
    path = write_spec(
        "exp.yaml",
        """
        nemorun: 1
        tasks:
          train: {task: {command: x}}
          cleanup: {task: {command: y}, after: {train: notok}, singleton: true}
          report: {task: {command: z}, after: [train, cleanup]}
        """,
    )
    manifest = Manifest.parse(compile_tasks(load(path), "slurm").manifest())
    train, cleanup, report = manifest.tasks
    assert (train.after, train.conditions, train.singleton) == ((), {}, False)
    assert (cleanup.after, cleanup.conditions, cleanup.singleton) == (
        ("train",),
        {"train": "notok"},
        True,
    )
    assert [report.condition(p) for p in report.after] == ["ok", "ok"]
    assert Manifest.parse(manifest.text()) == manifest


def test_slurm_dependency_of_each_condition() -> None:
    task = TaskEntry(
        "t",
        ("a", "b", "c", "d", "gone"),
        conditions={"b": "any", "c": "notok", "d": "corr"},
        singleton=True,
    )
    ids = {"a": ["1", "2"], "b": ["3"], "c": ["4"], "d": ["5", "6"]}
    assert slurm_dependency(task, ids, 1, 2) == (
        "afterok:1:2,afterany:3,afternotok:4,aftercorr:6,singleton"
    )
    assert slurm_dependency(TaskEntry("x"), ids, 0, 1) is None
    assert slurm_dependency(TaskEntry("x", singleton=True), ids, 0, 1) == "singleton"
    with pytest.raises(LaunchError, match="d in 2 jobs and t in 3"):
        slurm_dependency(task, ids, 0, 3)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"conditions": {"a": "maybe"}}, "conditions is {'a': 'maybe'}"),
        ({"conditions": {"zzz": "any"}}, "tasks come after unknown tasks: zzz"),
        ({"singleton": "yes"}, "singleton is 'yes'"),
    ],
)
def test_a_bad_manifest_entry_is_refused(entry: dict[str, object], message: str) -> None:
    tasks = [{"name": "a"}, {"name": "b", "after": ["a"], **entry}]
    with pytest.raises(ManifestError, match=message):
        Manifest.parse(json.dumps({"nemorun_tasks": 1, "tasks": tasks}))


@pytest.mark.parametrize(
    ("target", "entry", "expected"),
    [
        (
            "ray",
            "after: {a: any}",
            "exp.yaml:4:27: tasks.b.after: the ray target cannot make a task wait for another "
            "task; launch the tasks as separate runs, or launch on slurm, local or docker",
        ),
        (
            "kubernetes",
            "singleton: true",
            "exp.yaml:4:27: tasks.b.singleton: the kubernetes target cannot make a task wait for "
            "other runs of the same name; remove it, or launch on slurm, local or docker",
        ),
    ],
)
def test_a_target_that_cannot_order_tasks_refuses_them_located(
    target: str, entry: str, expected: str, write_spec: WriteSpec
) -> None:
    path = write_spec(
        "exp.yaml",
        f"""
        nemorun: 1
        tasks:
          a: {{task: {{command: x}}}}
          b: {{task: {{command: y}}, {entry}}}
        executor: {{target: {target}}}
        """,
    )
    with pytest.raises(SpecError) as info:
        compile_tasks(load(path), target)
    assert info.value.format() == expected
