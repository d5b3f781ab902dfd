"""A resolved spec as flat key paths (``{"task": {"lr": 1}}`` → ``{"task.lr": 1}``): the columns
of ``nemorun compare`` and the parameters a tracker's run is given. A list is one value (a
sweep's ``[1, 2]`` or a script's arguments are read whole); an empty mapping is left out."""

from __future__ import annotations

import json
from typing import Any


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Every leaf of ``tree`` by its dotted key path, in the tree's order."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: tree} if prefix else {}


def as_text(value: Any) -> str:
    """A leaf as a tracker shows a parameter: text as is, anything else as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
