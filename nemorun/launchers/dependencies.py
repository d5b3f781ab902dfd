"""What the targets do with a task's ``after:`` conditions and ``singleton:`` (the spec side:
`nemorun.schemas.dependencies`).

- **Slurm** (`slurm_dependency`): one ``--dependency`` of ``,``-joined parts (all must hold):
  ``afterok/afterany/afternotok:<every job of the parent>``, ``aftercorr:<the parent's job of
  the same part>`` (a split sweep's parts pair up one to one), and ``singleton`` (Slurm keys
  it on the job name and the user: the run's name and the task's).
- **local and docker**: the point supervisor checks the conditions itself
  (`nemorun.launchers.supervise`) and, for a singleton, holds an ``flock`` on a file named
  after the job in the runs directory (`singleton_lock`), so two runs of the same name on this
  machine (any target that uses the supervisor) never run that task at once.

A job that never ran because a condition cannot be met is **skipped**, one whose ``ok``/``corr``
parent failed is **failed** (`not_run_state`, `slurm_unmet`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from nemorun.compiler.manifest import TaskEntry
from nemorun.files import PRIVATE_DIR
from nemorun.launchers.base import JobRef, JobState, JobStatus, LaunchError, RunHandle
from nemorun.launchers.slurm_states import failed_parent
from nemorun.launchers.supervise import NOT_MET

SLURM_TYPES = {"ok": "afterok", "any": "afterany", "notok": "afternotok", "corr": "aftercorr"}
SINGLETONS = ".singletons"
"""The directory of the runs directory that holds the singleton lock files."""


def not_run_state(reason: str) -> JobState:
    """The state of a job that never ran, from the supervisor's reason: skipped when a
    condition was not met (`NOT_MET`), failed when a dependency failed."""
    return JobState.SKIPPED if reason.startswith(NOT_MET) else JobState.FAILED


def singleton_lock(run: RunHandle, task: TaskEntry) -> str | None:
    """The lock file of a singleton task (None for others), its directory made: one per job
    name (``<run name>-<task>``, as Slurm's ``--job-name``) beside the runs of this home."""
    if not task.singleton:
        return None
    directory = run.dir.absolute().parent / SINGLETONS
    directory.mkdir(mode=PRIVATE_DIR, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{run.name}-{task.name}")
    return str(directory / f"{name}.lock")


def slurm_dependency(
    task: TaskEntry, ids_of: Mapping[str, Sequence[str]], part: int, parts: int
) -> str | None:
    """The ``--dependency`` value of part ``part`` (of ``parts``) of ``task``, or None. A
    parent not in ``ids_of`` (a rerun leaves out tasks that succeeded) is not waited for.
    `LaunchError` when ``corr`` pairs tasks split into different numbers of parts."""
    by_type: dict[str, list[str]] = {}
    for parent in task.after:
        ids = list(ids_of.get(parent, ()))
        if not ids:
            continue
        condition = task.condition(parent)
        if condition == "corr":
            if len(ids) != parts:
                raise LaunchError(
                    f"task {task.name} comes after {parent} point by point (corr), but Slurm "
                    f"got {parent} in {len(ids)} jobs and {task.name} in {parts}: give both "
                    "the same sweep (and max_array_size)"
                )
            ids = [ids[part]]
        by_type.setdefault(SLURM_TYPES[condition], []).extend(ids)
    out = [f"{kind}:{':'.join(ids)}" for kind, ids in by_type.items()]
    if task.singleton:
        out.append("singleton")
    return ",".join(out) or None


def slurm_unmet(ref: JobRef, by_task: Mapping[str, list[JobStatus]]) -> str:
    """Why Slurm will never start ``ref`` (its dependency can never be satisfied): a parent
    it needs ``ok`` (or ``corr``) failed or was cancelled → ``dependency never satisfied: …``
    (failed); else a condition was not met → `NOT_MET` (skipped)."""
    conditions: dict[str, str] = ref.extra.get("conditions") or {}
    after = [p for p in ref.extra.get("after", ()) if conditions.get(p, "ok") in ("ok", "corr")]
    parent = failed_parent(replace(ref, extra={**ref.extra, "after": after}), dict(by_task))
    if parent is not None:
        return f"dependency never satisfied: {parent}"
    why = []
    for name in ref.extra.get("after", ()):
        states = [s.state for s in by_task.get(name, [])]
        condition = conditions.get(name, "ok")
        if condition == "notok" and states and all(s is JobState.COMPLETED for s in states):
            why.append(f"{name} succeeded (after {name}: notok)")
        elif condition != "notok" and JobState.SKIPPED in states:
            why.append(f"{name} was skipped")
    return f"{NOT_MET}: {'; '.join(why) or 'a job it comes after took the other branch'}"
