"""Export a resolved spec as a format-1 spec in YAML, TOML or JSON (Python lives in `pyexport`).

The task part is written from the validated call tree, node for node the Fiddle graph that
runs (without importing Fiddle), and loading the export gives the same graph (property-tested).
Values are written in the spec's own words: enum members by name, paths and callables as
strings, tuples and sets as lists. ``_target_`` is written only where the type hint does not
already say it.

The text writers and each format's limits live in `nemorun.compiler.dumps`; the graph is
written back by `nemorun.compiler.graphwriter`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from nemorun.compiler.dumps import dump, escape_text, key_text, relative_path
from nemorun.compiler.graphwriter import GraphWriter, ref_text
from nemorun.errors import KeyPath
from nemorun.schemas.hints import MISSING
from nemorun.schemas.spec import Spec, TaskSpec
from nemorun.schemas.versions import CURRENT_VERSION, VERSION_KEY

FORMATS = ("python", "yaml", "toml", "json")


def export(spec: Spec, fmt: str, dest_dir: Path | None = None) -> str:
    """``spec`` as text in ``fmt``; ``dest_dir`` is where the file will live (for pythonpath)."""
    if fmt == "python":
        from nemorun.compiler.pyexport import python_module

        return python_module(spec, dest_dir or Path.cwd())
    tree = spec_tree(spec, fmt, dest_dir or Path.cwd())
    return dump(tree, fmt)


def spec_tree(spec: Spec, fmt: str, dest_dir: Path) -> dict[str, Any]:
    """The plain tree of a format-1 spec equivalent to ``spec``."""
    raw = spec.resolved.tree
    out: dict[str, Any] = {VERSION_KEY: CURRENT_VERSION}
    for key in ("name", "description"):
        if raw.get(key) is not None:  # as validated: `name: 0.1` is the text "0.1"
            out[key] = _plain(getattr(spec, key), fmt)
    if spec.pythonpath:  # paths are text: a '${' in one is literal, so it is escaped
        out["pythonpath"] = [escape_text(relative_path(p, dest_dir)) for p in spec.pythonpath]
    if spec.templates is not None:
        out["templates"] = escape_text(relative_path(spec.templates, dest_dir))
    writer = GraphWriter(fmt)  # one writer for every task: sharing across tasks is kept

    def task_tree(name: str, task: TaskSpec, source: Any) -> dict[str, Any]:
        if task.is_python():
            assert task.call is not None
            return writer.root(task.call, task.path)
        return _plain(source, fmt)  # a script or command task: as written

    if spec.single_task:
        out["task"] = task_tree(next(iter(spec.tasks)), spec.task, spec.tree["task"])
    else:
        tasks: dict[str, Any] = {}
        for name, task in spec.tasks.items():
            source_task = spec.tree["tasks"][name]["task"]
            entry: dict[str, Any] = {"task": task_tree(name, task, source_task)}
            source = raw["tasks"][name]
            if source.get("executor") is not None:
                entry["executor"] = _plain(_validated(source["executor"], task.executor), fmt)
            if task.after:
                entry["after"] = list(task.after)
            tasks[name] = entry
        out["tasks"] = tasks
    for key in ("executor", "launcher"):
        if raw.get(key):
            out[key] = _plain(_validated(raw[key], getattr(spec, key)), fmt)
    if raw.get("packager") is not None:
        out["packager"] = _plain(raw["packager"], fmt)
    # Sweep values are written as the spec wrote them: interpolations in them resolve at
    # each point (see `nemorun.schemas.interpolate`), so they are not escaped as resolved text is.
    # An axis the command line set or swept again is no longer the spec's: it leaves the written
    # ``sweep:`` (else the record, run again, would sweep what this run did not).
    swept = {axis.path for axis in spec.axes if axis.source == "spec"}
    sweep = {
        k: v
        for k, v in _plain(raw.get("sweep") or {}, fmt, escape=False).items()
        if _sweep_path(str(k), raw) in swept
    }
    for i, axis in enumerate(spec.axes):
        if axis.source != "spec":
            written = ref_text(axis.path[1:] if axis.path[0] == "task" else axis.path)
            sweep[written] = [_plain(v, fmt, escape=False) for v in axis.values]
        else:
            written = next((k for k in sweep if _sweep_path(str(k), raw) == axis.path), "")
        if written:
            sweep[written] = _as_validated(spec, i, sweep[written], fmt)
    if sweep:
        out["sweep"] = sweep
    _keep_swept_interpolations(spec, out)
    return out


def _validated(raw: Any, validated: Any) -> Any:
    """A raw option section with each scalar as validation read it: ``partition: nan`` is the
    text ``"nan"`` (a float to YAML and TOML writers, which would write ``.nan`` or ``nan``)."""
    if isinstance(raw, dict):
        if dataclasses.is_dataclass(validated):
            return {k: _validated(v, getattr(validated, str(k), v)) for k, v in raw.items()}
        if isinstance(validated, dict):
            return {k: _validated(v, validated.get(k, v)) for k, v in raw.items()}
        return raw
    if (
        isinstance(raw, list)
        and isinstance(validated, (list, tuple))
        and len(raw) == len(validated)
    ):
        return [_validated(r, v) for r, v in zip(raw, validated)]
    if isinstance(validated, str) and not isinstance(raw, str):
        return validated
    return raw


def _sweep_path(key: str, raw: dict[str, Any]) -> KeyPath:
    from nemorun.schemas.compose import split_path
    from nemorun.schemas.spec import task_path

    return task_path(split_path(key), raw)


def _as_validated(spec: Spec, index: int, written: list[Any], fmt: str) -> list[Any]:
    """Sweep values as each point read them where the text typed was taken for a string
    (``tag=0.1,0.2`` for a ``str`` argument): JSON and TOML keep no text, so the export writes
    the string itself.

    Only a value typed as text the export would not write back (``1.50`` is written ``1.5``;
    any number in JSON or TOML) can read differently, so only those points are validated: a
    1,000-value ``range`` costs nothing here."""
    from nemorun.compiler.entry import spec_at

    axis = spec.axes[index]
    out = list(written)
    for j, value in enumerate(axis.values):
        if isinstance(value, str) or j >= len(out):
            continue
        typed = axis.origin_of(j)
        text = typed.text if typed is not None else None
        if text is None or (fmt == "yaml" and text == _yaml_text(value)):
            continue  # the loaded export reads the same value, with the same text
        point = tuple(j if k == index else 0 for k in range(len(spec.axes)))
        got = _validated_at(spec_at(spec, point), axis.path)
        if isinstance(got, str):
            out[j] = escape_text(got)
    return out


def _yaml_text(value: Any) -> str:
    """How the YAML export writes a scalar (``0.1``, ``true``, ``null``)."""
    import yaml

    return str(yaml.safe_dump(value, default_flow_style=True)).split("\n", 1)[0]


def _validated_at(spec: Spec, path: KeyPath) -> Any:
    """The validated value at ``path`` (a task argument, the name, an option), or None."""
    from nemorun.schemas.convert import Call

    node: Any = None
    rel: KeyPath = ()
    for task in spec.tasks.values():
        if task.call is not None and path[: len(task.path)] == task.path:
            node, rel = task.call, path[len(task.path) :]
    if node is None and path[:1] in (("name",), ("description",)):
        return getattr(spec, str(path[0]))
    if node is None and path[:1] in (("executor",), ("launcher",)):
        node, rel = getattr(spec, str(path[0])), path[1:]
    for part in rel:
        if isinstance(node, Call):
            node = node.args.get(str(part))
        elif isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, (list, tuple)) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif dataclasses.is_dataclass(node):
            node = getattr(node, str(part), None)
        else:
            return None
    return node


def _keep_swept_interpolations(spec: Spec, out: dict[str, Any]) -> None:
    """Write back, as written, each interpolation whose value follows the sweep.

    The task is written from point 0's graph, where ``tag: lr_${task.optim.lr}`` is already
    ``lr_0.1``; written so, every point of the loaded export would get point 0's tag. An axis
    moved alone to its second value shows which interpolations follow it."""
    from nemorun.compiler.entry import spec_at
    from nemorun.schemas.compose import get_path

    if not spec.resolved.interpolations or not spec.axes:
        return
    first = spec_at(spec, spec.point)
    moved = []
    for i, axis in enumerate(spec.axes):
        if len(axis) > 1:
            moved.append(spec_at(spec, tuple(1 if k == i else 0 for k in range(len(spec.axes)))))
    for path, text in spec.resolved.interpolations:
        try:
            here = get_path(first.tree, path)
            varies = any(get_path(other.tree, path) != here for other in moved)
        except KeyError:
            continue
        if varies:
            _put(out, path, text)


def _put(tree: dict[str, Any], path: KeyPath, value: Any) -> None:
    from nemorun.schemas.compose import get_path

    try:
        node = get_path(tree, path[:-1])
    except KeyError:
        return  # not written (a default): nothing to correct
    last = path[-1]
    if isinstance(node, dict):
        node[last] = value
        return
    if isinstance(node, list) and isinstance(last, int) and 0 <= last < len(node):
        node[last] = value


def _plain(value: Any, fmt: str, escape: bool = True) -> Any:
    """A raw spec section with TOML's missing null handled by leaving ``None`` out; strings
    escaped (resolved text) unless ``escape`` is False (text still to be resolved)."""
    if isinstance(value, dict):
        return {
            key_text(k, fmt): _plain(v, fmt, escape)
            for k, v in value.items()
            if v is not None or fmt != "toml"
        }
    if isinstance(value, list):
        return [_plain(v, fmt, escape) for v in value]
    if isinstance(value, str) and escape:
        return escape_text(value)
    return value


__all__ = ["FORMATS", "MISSING", "GraphWriter", "dump", "export", "relative_path", "spec_tree"]
