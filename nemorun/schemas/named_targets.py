"""The ``_target_`` references a spec names, resolved, and which of them fit a type hint.

The editor schema switches on these (`nemorun.schemas.jsonschema`): a mapping under a class
hint whose ``_target_`` names a subclass or a factory is described by that target's own
signature. "Fits" mirrors validation: a subclass of the hint, or a callable not declared to
return something else; a hint that cannot answer ``issubclass`` (a Protocol without runtime
checks) lets every target fit.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nemorun.schemas.convert import TARGET_KEY
from nemorun.schemas.hints import inspect_callable
from nemorun.schemas.imports import TargetImportError, resolve


@dataclass(frozen=True)
class NamedTargets:
    """The ``_target_`` references a spec writes (as written): what each resolves to, and
    those that do not import or have no signature to read (``unresolved``)."""

    by_spelling: dict[str, Any]
    unresolved: tuple[str, ...] = ()

    @classmethod
    def of(cls, tree: dict[str, Any]) -> NamedTargets:
        """Every ``_target_`` string at any depth of the spec's Python tasks and its sweep,
        resolved (on the current path). Those in nemorun's own options (executor, launcher,
        script and command tasks) are never imported: validation refuses them unread."""
        found: dict[str, Any] = {}
        unresolved = []
        for ref in sorted(set(_target_strings(_callable_parts(tree)))):
            try:
                target = resolve(ref)
                inspect_callable(target)  # validation refuses what it cannot read, too
            except (TargetImportError, TypeError, ValueError):
                unresolved.append(ref)
            else:
                found[ref] = target
        return cls(found, tuple(unresolved))

    def refused(self, hint: type) -> list[str]:
        """The spellings that cannot stand where ``hint`` is expected: those that do not
        import, and those naming neither ``hint`` nor a target that fits it."""
        wrong = [r for r, t in self.by_spelling.items() if t is not hint and not _fits(t, hint)]
        return sorted([*self.unresolved, *wrong])

    def fitting(self, hint: type) -> list[tuple[list[str], Any]]:
        """(spellings, target) of each named target that fits ``hint`` other than ``hint``
        itself: a subclass, or a function not declared to return something else."""
        grouped: dict[int, tuple[list[str], Any]] = {}
        for ref, target in self.by_spelling.items():
            if target is not hint and _fits(target, hint):
                grouped.setdefault(id(target), ([], target))[0].append(ref)
        return sorted(grouped.values(), key=lambda item: item[0])


def _callable_parts(tree: dict[str, Any]) -> list[Any]:
    """The parts of a spec tree that hold the user's calls: Python tasks and sweep values."""
    entries, sweep = tree.get("tasks"), tree.get("sweep")
    entries = entries if isinstance(entries, dict) else {}
    sweep = sweep if isinstance(sweep, dict) else {}
    tasks = [tree.get("task"), *(e.get("task") for e in entries.values() if isinstance(e, dict))]
    return [
        *(t for t in tasks if isinstance(t, dict) and TARGET_KEY in t),
        *(v for k, v in sweep.items() if not _names_own_options(str(k))),
    ]


def _names_own_options(key: str) -> bool:
    parts = key.split(".")
    return parts[0] in ("executor", "launcher") or "executor" in parts[1:3]


def _target_strings(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        if isinstance(tree.get(TARGET_KEY), str):
            yield tree[TARGET_KEY]
        for value in tree.values():
            yield from _target_strings(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _target_strings(value)


def _fits(target: Any, hint: type) -> bool:
    try:
        if isinstance(target, type):
            return issubclass(target, hint)
        if not callable(target):
            return False
        returns = typing.get_type_hints(target).get("return", Any)
        return not isinstance(returns, type) or issubclass(returns, hint)
    except Exception:  # a Protocol without runtime checks, an unresolvable hint: let it be
        return True
