"""``nemorun diff A B``: what changed in the resolved spec between two runs or spec files.

Each side is a spec file (loaded and exported as YAML, as a launch records it) or a run
(its recorded ``resolved.yaml``). Both are read back as trees; ``pythonpath`` entries are made
absolute first (each export writes them relative to its own spec's directory), so moving a
spec does not count as a change. The answer is a list of key paths (added, removed, changed,
with both values) and a unified diff of the two YAML texts. Fiddle's own diffing aligns
*graphs* (shared objects, tags); a resolved spec is a plain tree, so a walk is enough here.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemorun.schemas.options import DEFAULT_TARGET

if TYPE_CHECKING:
    from nemorun.launchers.records import Record


@dataclass(frozen=True)
class Side:
    """One side of a diff: a label and its resolved spec (text and tree)."""

    label: str
    text: str
    tree: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """One key path whose value differs: ``before`` None when added, ``after`` when removed."""

    path: str
    kind: str
    """``added``, ``removed`` or ``changed``."""
    before: Any = None
    after: Any = None

    def describe(self) -> str:
        if self.kind == "added":
            return f"+ {self.path}: {_show(self.after)}"
        if self.kind == "removed":
            return f"- {self.path}: {_show(self.before)}"
        return f"~ {self.path}: {_show(self.before)} → {_show(self.after)}"


def side(ref: str, resolved_yaml: Callable[[Path], str]) -> Side:
    """A spec file's resolved spec, or a run's (by id, prefix or name). ``resolved_yaml(path)``
    loads a spec file and exports it as YAML, as a launch records it (`nemorun.api.diff`
    passes it: loading is above this layer)."""
    path = Path(ref)
    if path.is_file():
        base = path.resolve().parent
        text = resolved_yaml(path)
        label = str(path)
    elif "/" in ref or path.suffix.lower() in (".yaml", ".yml", ".toml", ".json"):
        from nemorun.errors import SpecError

        raise SpecError("no such spec file", file=ref, suggestion="give a spec file or a run")
    else:
        from nemorun.launchers.records import find_run

        return run_side(find_run(ref))
    return _normalised(label, text, base)


def run_side(record: Record) -> Side:
    """A run's recorded resolved spec (``resolved.yaml``), normalised as `side` does."""
    text = (record.dir / "resolved.yaml").read_text(encoding="utf-8")
    base = Path(record.data["spec"])
    base = (Path(record.data["cwd"]) / base).resolve().parent
    return _normalised(f"run {record.id}", text, base)


def _normalised(label: str, text: str, base: Path) -> Side:
    """The tree of ``text``: the default target left out, ``pythonpath`` made absolute from
    ``base`` (the spec's directory)."""
    import yaml

    tree = yaml.safe_load(text) or {}
    executor = tree.get("executor")
    if isinstance(executor, dict) and executor.get("target") == DEFAULT_TARGET:
        # Written or not, the default target is the same spec (a run records it explicitly).
        executor = {k: v for k, v in executor.items() if k != "target"}
        if executor:
            tree["executor"] = executor
        else:
            del tree["executor"]
    paths = tree.get("pythonpath")
    if isinstance(paths, list):
        tree["pythonpath"] = [str((base / str(p)).resolve()) for p in paths]
    return Side(label, text, tree)


def changes(before: Any, after: Any, prefix: str = "") -> list[Change]:
    """Every key path where ``after`` differs from ``before`` (mappings walked key by key)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[Change] = []
        for key in [*before, *(k for k in after if k not in before)]:
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in after:
                out.append(Change(path, "removed", before=before[key]))
            elif key not in before:
                out.append(Change(path, "added", after=after[key]))
            else:
                out.extend(changes(before[key], after[key], path))
        return out
    if before != after:
        return [Change(prefix or "(root)", "changed", before, after)]
    return []


def unified(a: Side, b: Side) -> str:
    """A unified diff of the two sides' YAML (normalised pythonpath)."""
    import yaml

    def text(s: Side) -> list[str]:
        dumped = yaml.safe_dump(s.tree, sort_keys=False, allow_unicode=True)
        return dumped.splitlines(keepends=True)

    return "".join(difflib.unified_diff(text(a), text(b), a.label, b.label))


def _show(value: Any) -> str:
    import json

    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)
