"""Export a resolved spec as a format-1 spec in YAML, TOML or JSON (Python lives in `pyexport`).

The task part is written from the Fiddle graph, so what is exported is exactly what would run,
and loading the export gives the same graph (property-tested). Values are written in the
spec's own words: enum members by name, paths and callables as strings, tuples and sets as
lists. ``_target_`` is written only where the type hint does not already say it.

What a format cannot say is defined once here:
- Sharing: YAML anchors (named after the first path that holds the node); ``{_ref_: path}`` in
  JSON and TOML.
- TOML has no null: a ``None`` equal to the parameter's default is left out, any other ``None``
  is an error that names the key.
"""

from __future__ import annotations

import enum
import json
import os
import pathlib
import re
import types
import typing
from pathlib import Path
from typing import Any

import fiddle as fdl

from nemorun.errors import KeyPath, SpecError, SpecErrors, format_path
from nemorun.schemas.convert import _strip_annotated
from nemorun.schemas.hints import MISSING, inspect_callable
from nemorun.schemas.imports import reference_of
from nemorun.schemas.spec import Spec
from nemorun.schemas.versions import CURRENT_VERSION, VERSION_KEY

FORMATS = ("python", "yaml", "toml", "json")


def export(spec: Spec, fmt: str, dest_dir: Path | None = None) -> str:
    """``spec`` as text in ``fmt``; ``dest_dir`` is where the file will live (for pythonpath)."""
    if fmt == "python":
        from nemorun.compiler.pyexport import python_module

        return python_module(spec)
    tree = spec_tree(spec, fmt, dest_dir or Path.cwd())
    return dump(tree, fmt)


def spec_tree(spec: Spec, fmt: str, dest_dir: Path) -> dict[str, Any]:
    """The plain tree of a format-1 spec equivalent to ``spec``."""
    from nemorun.compiler.graph import task_graph

    raw = spec.resolved.tree
    out: dict[str, Any] = {VERSION_KEY: CURRENT_VERSION}
    for key in ("name", "description"):
        if raw.get(key) is not None:
            out[key] = raw[key]
    if spec.pythonpath:
        out["pythonpath"] = [_relative(p, dest_dir) for p in spec.pythonpath]
    if spec.single_task:
        out["task"] = GraphWriter(fmt).root(task_graph(spec), ("task",))
    else:
        tasks: dict[str, Any] = {}
        writer = GraphWriter(fmt)
        for name, task in spec.tasks.items():
            entry: dict[str, Any] = {"task": writer.root(task_graph(spec, task), ("tasks", name))}
            source = raw["tasks"][name]
            if source.get("executor") is not None:
                entry["executor"] = _plain(source["executor"], fmt)
            if task.after:
                entry["after"] = list(task.after)
            tasks[name] = entry
        out["tasks"] = tasks
    for key in ("executor", "launcher"):
        if raw.get(key):
            out[key] = _plain(raw[key], fmt)
    if raw.get("packager") is not None:
        out["packager"] = raw["packager"]
    sweep = dict(_plain(raw.get("sweep") or {}, fmt))
    for axis in spec.axes:
        if axis.source != "spec":
            key = format_path(axis.path[1:] if axis.path[0] == "task" else axis.path)
            sweep[key] = [_plain(v, fmt) for v in axis.values]
    if sweep:
        out["sweep"] = sweep
    return out


def _relative(path: Path, base: Path) -> str:
    try:
        return os.path.relpath(path, base.resolve())
    except ValueError:
        return str(path)


def _plain(value: Any, fmt: str) -> Any:
    """A raw spec section with TOML's missing null handled by leaving ``None`` out."""
    if isinstance(value, dict):
        return {str(k): _plain(v, fmt) for k, v in value.items() if v is not None or fmt != "toml"}
    if isinstance(value, list):
        return [_plain(v, fmt) for v in value]
    return value


class GraphWriter:
    """Turns Fiddle buildables into spec mappings, tracking shared nodes."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.seen: dict[int, tuple[KeyPath, dict[str, Any]]] = {}
        self.errors: list[SpecError] = []

    def root(self, buildable: Any, path: KeyPath) -> dict[str, Any]:
        result = self.node(buildable, path, typing.Any, root=True)
        if self.errors:
            raise SpecErrors(self.errors)
        return result

    def node(self, cfg: Any, path: KeyPath, annotation: Any, root: bool = False) -> Any:
        from nemorun.compiler.graph import is_env_config

        if is_env_config(cfg):
            return cfg.template
        if id(cfg) in self.seen:
            first_path, first = self.seen[id(cfg)]
            if self.fmt == "yaml":
                return first  # the same object twice: PyYAML writes an anchor and an alias
            return {"_ref_": format_path(first_path).replace("[", ".").replace("]", "")}
        out: dict[str, Any] = {}
        self.seen[id(cfg)] = (path, out)
        target = fdl.get_callable(cfg)
        if root or not _annotation_names(annotation, target):
            out["_target_"] = reference_of(target)
        if isinstance(cfg, fdl.Partial) and not root:
            out["_partial_"] = True
        schema = inspect_callable(target)
        for name, value in cfg.__arguments__.items():
            param = schema.params.get(name)
            ann = param.annotation if param else (schema.var_keyword or typing.Any)
            if value is None and self.fmt == "toml":
                if param is not None and param.default is None:
                    continue
                self.errors.append(
                    SpecError(
                        "TOML has no null, and this None is not the default",
                        (*path, name),
                        suggestion="export as yaml or json, or give the key a value",
                    )
                )
                continue
            out[name] = self.value(value, (*path, name), ann)
        return out

    def value(self, value: Any, path: KeyPath, annotation: Any) -> Any:
        if isinstance(value, fdl.Buildable):
            return self.node(value, path, annotation)
        if isinstance(value, enum.Enum):
            return value.name
        if isinstance(value, pathlib.PurePath):
            return str(value)
        if isinstance(value, (list, tuple)):
            item = _item_annotation(annotation)
            return [self.value(v, (*path, i), item) for i, v in enumerate(value)]
        if isinstance(value, (set, frozenset)):
            item = _item_annotation(annotation)
            items = sorted(value, key=lambda v: (type(v).__name__, repr(v)))
            return [self.value(v, (*path, i), item) for i, v in enumerate(items)]
        if isinstance(value, dict):
            item = _value_annotation(annotation)
            return {str(k): self.value(v, (*path, str(k)), item) for k, v in value.items()}
        if value is None and self.fmt == "toml":
            self.errors.append(
                SpecError("TOML has no null", path, suggestion="export as yaml or json")
            )
            return None
        if callable(value) and not isinstance(value, (str, int, float, bool)):
            return reference_of(value)
        return value


def _annotation_names(annotation: Any, target: Any) -> bool:
    """True when the hint alone says which class to build (so ``_target_`` can be left out)."""
    annotation = _strip_annotated(annotation)
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = typing.get_args(annotation) if is_union else (annotation,)
    classes = [o for o in options if o is not type(None)]
    return len(classes) == 1 and classes[0] is target


def _item_annotation(annotation: Any) -> Any:
    args = typing.get_args(_strip_annotated(annotation))
    return args[0] if len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis) else typing.Any


def _value_annotation(annotation: Any) -> Any:
    args = typing.get_args(_strip_annotated(annotation))
    return args[1] if len(args) == 2 else typing.Any


# --- serialisers ------------------------------------------------------------------------------


def dump(tree: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(tree, indent=2, ensure_ascii=False) + "\n"
    if fmt == "toml":
        import tomlkit

        return tomlkit.dumps(_toml_order(tree))
    if fmt == "yaml":
        return dump_yaml(tree)
    raise ValueError(f"unknown format {fmt!r}")


def dump_yaml(tree: Any) -> str:
    """Block-style YAML, keys in order; shared mappings written once with readable anchors."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def str_repr(dumper: yaml.SafeDumper, data: str) -> Any:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    Dumper.add_representer(str, str_repr)
    text = yaml.dump(tree, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)
    names: dict[str, str] = {}
    used: set[str] = set()
    for match in re.finditer(r"&(id\d+)", text):
        path_names = _anchor_candidates(text, match.start())
        name = next((n for n in path_names if n not in used), match.group(1))
        used.add(name)
        names[match.group(1)] = name
    for old, new in names.items():
        text = re.sub(rf"([&*]){old}\b", rf"\g<1>{new}", text)
    return text


def _anchor_candidates(text: str, pos: int) -> list[str]:
    """Name an anchor after the key it is written under (``model: &model``)."""
    line_start = text.rfind("\n", 0, pos) + 1
    key = text[line_start:pos].strip().rstrip(":").strip("- ").strip()
    key = re.sub(r"[^A-Za-z0-9_-]", "_", key) or "shared"
    return [key, *(f"{key}_{i}" for i in range(2, 100))]


def _toml_order(tree: Any) -> Any:
    """Scalars before tables in each mapping, so tomlkit writes keys under their own table."""
    if isinstance(tree, dict):
        plain = {k: _toml_order(v) for k, v in tree.items() if not _is_table(v)}
        tables = {k: _toml_order(v) for k, v in tree.items() if _is_table(v)}
        return {**plain, **tables}
    if isinstance(tree, list):
        return [_toml_order(v) for v in tree]
    return tree


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
    )


__all__ = ["FORMATS", "MISSING", "GraphWriter", "dump", "export", "spec_tree"]
