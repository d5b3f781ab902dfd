"""A task entry's dependencies: ``after:`` (which tasks, on which condition), ``singleton:``,
validated, and the cycle check over all of them.

``after: [train]`` is the short form of ``after: {train: ok}``. The conditions are Slurm's
(`Condition`); what each means on the local and docker targets is in `Condition`'s docstring.
A condition that can never be met (``notok`` after a task that succeeded) makes the task
**skipped**, not failed; only a failure travelling down ``ok`` (or ``corr``) makes it failed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from nemorun.errors import KeyPath, did_you_mean
from nemorun.schemas.convert import Validator
from nemorun.schemas.values import INVALID


class Condition(str, enum.Enum):
    """When a task may start, in terms of a task it comes after (Slurm's ``after*`` types).

    - ``ok``: the other task succeeded (every point);
    - ``notok``: it ended without succeeding: a point failed, or it was cancelled or skipped;
    - ``any``: it ended, whatever its outcome;
    - ``corr``: element-wise, for sweeps: point *i* starts once point *i* of the other task
      succeeded (Slurm's ``aftercorr``); a point the other task does not have never succeeds.
    """

    OK = "ok"
    ANY = "any"
    NOTOK = "notok"
    CORR = "corr"

    def met(self, succeeded: bool) -> bool:
        """True when the condition holds for a task (or, for ``corr``, a point) that ended,
        having ``succeeded`` or not."""
        if self is Condition.ANY:
            return True
        if self is Condition.NOTOK:
            return not succeeded
        return succeeded


CONDITIONS = tuple(c.value for c in Condition)
AFTER_EXPECTED = "a list of task names, or a mapping of task names to ok, any, notok or corr"


def validate_after(
    v: Validator, raw: Any, path: KeyPath, names: list[str], own: str
) -> dict[str, Condition]:
    """``after:`` of task ``own`` as {task: condition}, in the order written; every error is
    located at the item (an unknown task, with did-you-mean; an unknown condition)."""
    if isinstance(raw, list):
        pairs = [((*path, i), item, Condition.OK.value) for i, item in enumerate(raw)]
    elif isinstance(raw, dict):
        pairs = [((*path, key), key, cond) for key, cond in raw.items()]
    else:
        v.fail(path, AFTER_EXPECTED, raw, suggestion="after: [train] or after: {train: notok}")
        return {}
    out: dict[str, Condition] = {}
    for where, name, cond in pairs:
        if not isinstance(name, str):
            v.fail(where, "a task name", name)
            continue
        if name not in names:
            v.error(
                where,
                f"no task named '{name}'",
                suggestion=did_you_mean(name, [n for n in names if n != own])
                or f"name one of the tasks: {', '.join(n for n in names if n != own)}",
                at_value=isinstance(raw, list),
            )
            continue
        condition = _condition(v, cond, where)
        if condition is not None:
            out[name] = condition
    return out


def _condition(v: Validator, raw: Any, where: KeyPath) -> Condition | None:
    if isinstance(raw, str) and raw in CONDITIONS:
        return Condition(raw)
    v.error(
        where,
        f"unknown condition {raw!r}" if isinstance(raw, str) else "wrong type",
        expected="ok (it succeeded), any (it ended), notok (it did not succeed) or corr "
        "(its same sweep point succeeded)",
        found=None if isinstance(raw, str) else repr(raw),
        suggestion=did_you_mean(raw, CONDITIONS) if isinstance(raw, str) else None,
        at_value=True,
    )
    return None


def validate_singleton(v: Validator, raw: Any, path: KeyPath) -> bool:
    """``singleton:``: at most one job of this name (the run's name and the task's) at a time."""
    value = v.value(raw, bool, path)
    return bool(value) if value is not INVALID else False


def check_cycles(after: Mapping[str, Mapping[str, Condition]], v: Validator) -> None:
    """A located error at ``tasks.NAME.after`` for each cycle, naming every task in it."""
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2 or name not in after:
            return
        if state.get(name) == 1:
            cycle = " → ".join([*chain[chain.index(name) :], name])
            v.error(
                ("tasks", name, "after"),
                f"tasks depend on each other in a cycle: {cycle}",
                suggestion="remove one task from one of these 'after:' lists",
            )
            return
        state[name] = 1
        for dep in after[name]:
            visit(dep, [*chain, name])
        state[name] = 2

    for name in after:
        visit(name, [])
