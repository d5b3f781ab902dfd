"""JSON Schema of a whole spec for its task(s), for editors' completion and hover docs.

Built from the same `CallableSchema`s the validator uses (by `SchemaBuilder`, which turns
hints into schemas), so the editor and ``nemorun validate`` agree on names and types; parameter
docs come from docstrings. This module lays out the spec: its top-level keys, the task(s),
the executor.

A spec that extends others or sweeps is partial: its required keys may come from its base or
its sweep, so only a spec that is neither is held to them (see `resolved_schema`).

`resolved_schema` builds from an unvalidated spec: what resolves is described, a task whose
``_target_`` does not import is any mapping. A spec being edited keeps its completion.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nemorun.schemas.convert import TARGET_KEY
from nemorun.schemas.dependencies import CONDITIONS
from nemorun.schemas.imports import search_path
from nemorun.schemas.layout import PACKAGERS
from nemorun.schemas.named_targets import NamedTargets
from nemorun.schemas.options import LauncherOptions
from nemorun.schemas.schema_types import UNKNOWN_TASK, SchemaBuilder
from nemorun.schemas.spec import Resolved, Spec, pythonpath_of
from nemorun.schemas.tracking import TrackingOptions
from nemorun.schemas.versions import CURRENT_VERSION, VERSION_KEY

DRAFT = "https://json-schema.org/draft/2020-12/schema"

PARTIAL_WHEN = ("extends", "sweep")
"""Top-level keys that make a spec partial: its base specs or its sweep may give the keys it
leaves out, required ones included."""


def spec_schema(spec: Spec) -> dict[str, Any]:
    """The schema of a format-1 spec whose task(s) are those of the validated ``spec``."""
    return resolved_schema(spec.resolved, spec.pythonpath)


def resolved_schema(resolved: Resolved, pythonpath: list[Path] | None = None) -> dict[str, Any]:
    """The schema of a spec like ``resolved``, valid or not, from what in it resolves.

    Its properties (what editors complete) require nothing but ``nemorun``; a spec without
    `PARTIAL_WHEN` keys must also be whole, which the ``else`` branch checks with every
    required key (configs in ``$defs`` under ``whole.``).
    """
    tree = resolved.tree
    with search_path(pythonpath_of(resolved) if pythonpath is None else pythonpath):
        targets = NamedTargets.of(tree)
        tasks = {name: _task_target(raw, targets) for name, raw in _task_entries(tree)}
        defs: dict[str, Any] = {}
        partial = _spec_body(tree, tasks, SchemaBuilder(defs, targets, whole=False))
        whole = _spec_body(tree, tasks, SchemaBuilder(defs, targets, whole=True))
    name = tree.get("name") if isinstance(tree.get("name"), str) else None
    return {
        "$schema": DRAFT,
        "title": f"nemorun spec: {name or resolved.source.name}",
        **partial,
        "if": {"anyOf": [{"required": [key]} for key in PARTIAL_WHEN]},
        "else": whole,
        "$defs": defs,
    }


def _task_entries(tree: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(name, raw task) of each task of ``tree``: each of ``tasks``, else ``task`` (one not
    written yet is an unknown task)."""
    if "tasks" not in tree:
        if "task" in tree:
            yield "task", tree["task"]
    elif isinstance(tree["tasks"], dict):
        for name, entry in tree["tasks"].items():
            yield str(name), entry.get("task") if isinstance(entry, dict) else None


def _task_target(raw: Any, targets: NamedTargets) -> Any:
    """The callable a raw task calls, None for a script or command, else `UNKNOWN_TASK`."""
    if not isinstance(raw, dict) or TARGET_KEY not in raw:
        return None
    ref = raw[TARGET_KEY]
    return targets.by_spelling.get(ref, UNKNOWN_TASK) if isinstance(ref, str) else UNKNOWN_TASK


def _spec_body(
    tree: dict[str, Any], tasks: dict[str, Any], builder: SchemaBuilder
) -> dict[str, Any]:
    required = [VERSION_KEY]
    properties: dict[str, Any] = {
        VERSION_KEY: {"const": CURRENT_VERSION, "description": "Spec format version."},
        "name": {"type": ["string", "null"], "description": "Name of the experiment and its runs."},
        "description": {"type": ["string", "null"]},
        "extends": {
            "description": "Base specs, relative to this file, merged first (this file wins).",
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        },
        "executor": builder.executor(),
        "launcher": _described(
            "How the task's processes are started.",
            {"anyOf": [builder.config(LauncherOptions, with_target=False), {"type": "null"}]},
        ),
        "tracking": _described(
            "Experiment trackers the run is handed to at launch (MLflow, W&B, TensorBoard).",
            {"anyOf": [builder.config(TrackingOptions, with_target=False), {"type": "null"}]},
        ),
        "sweep": {
            "type": "object",
            "description": "Key paths (like override paths) mapped to the values to sweep.",
            "additionalProperties": {"type": "array", "minItems": 1},
        },
        "packager": {"enum": list(PACKAGERS), "default": "none"},
        "templates": {
            "type": "string",
            "description": "A directory of your own templates, searched before nemorun's.",
        },
        "pythonpath": {
            "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
            "description": "Directories (relative to this file) to import the task's code from.",
        },
    }
    if "tasks" in tree:
        properties["tasks"] = _tasks_schema(tasks, builder)
    else:  # a spec that has no task yet is offered one
        properties["task"] = builder.task(tasks.get("task", UNKNOWN_TASK))
    if builder.whole:
        required.append("tasks" if "tasks" in tree else "task")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _tasks_schema(tasks: dict[str, Any], builder: SchemaBuilder) -> dict[str, Any]:
    """``tasks:``, each entry with its own task, executor and dependencies."""
    entry_required = ["task"] if builder.whole else []
    return {
        "type": "object",
        "properties": {
            name: {
                "type": "object",
                "properties": {
                    "task": builder.task(target),
                    "executor": builder.executor(),
                    "after": _after_schema(list(tasks)),
                    "singleton": {"type": "boolean"},
                },
                **({"required": entry_required} if entry_required else {}),
                "additionalProperties": False,
            }
            for name, target in tasks.items()
        },
        "additionalProperties": False,
    }


def _after_schema(names: list[str]) -> dict[str, Any]:
    """``after: [a, b]`` (each after success) or ``after: {a: notok}`` (`Condition`)."""
    return {
        "oneOf": [
            {"type": "array", "items": {"enum": names}},
            {
                "type": "object",
                "properties": {name: {"enum": list(CONDITIONS)} for name in names},
                "additionalProperties": False,
            },
        ]
    }


def _described(text: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": text, **schema}
