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
- JSON has no infinity (``Infinity`` is an extension strict readers refuse): an infinite float
  is an error that names the key.
- JSON files are read by the YAML loader, so JSON text is also written to mean the same in
  YAML 1.1 (see `dump_json`); a literal ``${`` in any string is escaped as ``\\${``.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import pathlib
import re
import types
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import fiddle as fdl

from nemorun.errors import KeyPath, SpecError, SpecErrors
from nemorun.schemas.compose import REF_KEY
from nemorun.schemas.constructs import constant_reference
from nemorun.schemas.hints import MISSING, inspect_callable
from nemorun.schemas.imports import reference_of
from nemorun.schemas.spec import Spec, TaskSpec
from nemorun.schemas.values import CALL_KEY, strip_annotated, takes_reference_text
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
    from nemorun.compiler.graph import spec_graphs

    raw = spec.resolved.tree
    out: dict[str, Any] = {VERSION_KEY: CURRENT_VERSION}
    for key in ("name", "description"):
        if raw.get(key) is not None:  # as validated: `name: 0.1` is the text "0.1"
            out[key] = _plain(getattr(spec, key), fmt)
    if spec.pythonpath:  # paths are text: a '${' in one is literal, so it is escaped
        out["pythonpath"] = [escape_text(relative_path(p, dest_dir)) for p in spec.pythonpath]
    if spec.templates is not None:
        out["templates"] = escape_text(relative_path(spec.templates, dest_dir))
    writer = GraphWriter(fmt)
    graphs = spec_graphs(spec)  # every task's graph alive at once, sharing as in the spec

    def task_tree(name: str, task: TaskSpec, source: Any) -> dict[str, Any]:
        if task.is_python():
            return writer.root(graphs[name], task.path)
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
    sweep = dict(_plain(raw.get("sweep") or {}, fmt, escape=False))
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


_INTERPOLATION = re.compile(r"(\\*)\$\{(?!oc\.env:)")


def escape_text(text: str) -> str:
    """``text`` as a spec string that loads back as ``text``, not as an interpolation.

    A literal ``${`` is written ``\\${`` (and backslashes right before it are doubled), the
    escape OmegaConf undoes while resolving; ``${oc.env:…}`` stays a reference.
    """
    return _INTERPOLATION.sub(lambda m: m.group(1) * 2 + "\\${", text)


def relative_path(path: Path, base: Path) -> str:
    """``path`` relative to the directory ``base`` (as written in an exported file), or
    absolute when there is no relative way (another drive)."""
    try:
        return os.path.relpath(path, base.resolve())
    except ValueError:
        return str(path)


def key_text(key: Any, fmt: str) -> Any:
    """A mapping key as the format can hold it: YAML keeps integer, bool and null keys as they
    are; JSON and TOML keys are strings, so such a key would load back as another value."""
    if isinstance(key, str) or fmt == "yaml":
        return key
    raise SpecError(
        f"{fmt.upper()} keys are text, so the key {key!r} would load back as {str(key)!r}",
        suggestion="export as yaml or python",
    )


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


@dataclass
class _Shared:
    """Where a buildable's mapping is written in full, for ``_ref_`` to point at."""

    node: Any
    """The buildable, held so that its id is not reused by another while the writer lives."""
    home: KeyPath
    content: dict[str, Any]
    waiting: list[dict[str, Any]] = field(default_factory=list)
    """Other places that need a ``_ref_`` but were reached before any nameable home."""


class GraphWriter:
    """Turns Fiddle buildables into spec mappings, tracking shared nodes.

    YAML writes a shared node once with an anchor. JSON and TOML write it in full at its first
    place that a ``_ref_`` key path can name (keys holding ``.`` cannot be named) and
    ``{_ref_: path}`` at every other place.

    A node is shared when it is the same object at two places of the graphs given to `root`.
    The writer holds every node it has met, so no address is reused for another node while it
    lives (that once aliased unrelated sub-configs of different tasks); graphs built together
    (`graph.spec_graphs`) make a sub-config the spec shares between tasks one node.
    """

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.seen: dict[int, _Shared] = {}
        self.errors: list[SpecError] = []

    def root(self, buildable: Any, path: KeyPath) -> dict[str, Any]:
        result = self.node(buildable, path, typing.Any, root=True)
        for shared in self.seen.values():
            if shared.waiting:
                self.errors.append(
                    SpecError(
                        f"this sub-config is shared, and {self.fmt.upper()} can only say so with "
                        "'_ref_: KEY.PATH', which cannot name a key holding '.' (or an empty key)",
                        shared.home,
                        suggestion="export as yaml, or rename the keys on the way to it",
                    )
                )
                shared.waiting.clear()
        if self.errors:
            raise SpecErrors(self.errors)
        return result

    def key(self, key: Any, path: KeyPath) -> Any:
        """`key_text`, with a refused key recorded as an error at ``path``."""
        try:
            return key_text(key, self.fmt)
        except SpecError as exc:
            self.errors.append(replace(exc, path=(*path, key)))
            return str(key)

    def node(self, cfg: Any, path: KeyPath, annotation: Any, root: bool = False) -> Any:
        from nemorun.compiler.graph import is_env_config

        if is_env_config(cfg):
            return escape_text(cfg.template)
        if id(cfg) in self.seen:
            return self._again(self.seen[id(cfg)], path)
        out: dict[str, Any] = {}
        self.seen[id(cfg)] = _Shared(cfg, path, out)
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
            return escape_text(str(value))
        if isinstance(value, (list, tuple)):
            item = _item_annotation(annotation)
            return [self.value(v, (*path, i), item) for i, v in enumerate(value)]
        if isinstance(value, (set, frozenset)):
            item = _item_annotation(annotation)
            items = sorted(value, key=lambda v: (type(v).__name__, repr(v)))
            return [self.value(v, (*path, i), item) for i, v in enumerate(items)]
        if isinstance(value, dict):
            item = _value_annotation(annotation)
            return {self.key(k, path): self.value(v, (*path, k), item) for k, v in value.items()}
        if isinstance(value, float) and not math.isfinite(value) and self.fmt == "json":
            self.errors.append(
                SpecError(f"JSON has no {value}", path, suggestion="export as yaml, toml or python")
            )
            return None
        if value is None and self.fmt == "toml":
            self.errors.append(
                SpecError("TOML has no null", path, suggestion="export as yaml or json")
            )
            return None
        if isinstance(value, str):
            return escape_text(value)
        if callable(value) and not isinstance(value, (int, float, bool)):
            ref = reference_of(value)
            return ref if takes_reference_text(annotation) else {CALL_KEY: ref}
        constant = constant_reference(value)
        if constant is not None:  # torch.float16: read back by its hint (`constructs`)
            return ".".join(constant)
        return value

    def _again(self, shared: _Shared, path: KeyPath) -> dict[str, Any]:
        """A second place of a shared node: an alias (YAML) or a ``_ref_`` to its home."""
        if self.fmt == "yaml":
            return shared.content  # the same object twice: PyYAML writes an anchor and an alias
        if nameable(shared.home):
            return {REF_KEY: ref_text(shared.home)}
        if not nameable(path):
            placeholder: dict[str, Any] = {}
            shared.waiting.append(placeholder)
            return placeholder
        # The first place cannot be named: write the node here in full, refer to it from there.
        content = dict(shared.content)
        shared.content.clear()
        shared.content[REF_KEY] = ref_text(path)
        old_home = shared.home
        shared.home, shared.content = path, content
        for other in self.seen.values():
            if other is not shared and other.home[: len(old_home)] == old_home:
                other.home = (*path, *other.home[len(old_home) :])
        for other in self.seen.values():
            if other.waiting and nameable(other.home):
                for placeholder in other.waiting:
                    placeholder[REF_KEY] = ref_text(other.home)
                other.waiting.clear()
        return content


def nameable(path: KeyPath) -> bool:
    """True when ``_ref_: a.b.0`` text can name ``path`` (see `nemorun.schemas.compose`)."""
    for part in path:
        if isinstance(part, int):
            continue
        if not part or "." in part:
            return False
        if part.isdigit() and not (part.isascii() and str(int(part)) == part):
            return False
    return True


def ref_text(path: KeyPath) -> str:
    """The ``_ref_`` value naming ``path``: keys and list indices joined with dots."""
    return ".".join(str(part) for part in path)


def _annotation_names(annotation: Any, target: Any) -> bool:
    """True when the hint alone says which class to build (so ``_target_`` can be left out)."""
    annotation = strip_annotated(annotation)
    is_union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = typing.get_args(annotation) if is_union else (annotation,)
    classes = [o for o in options if o is not type(None)]
    return len(classes) == 1 and classes[0] is target


def _item_annotation(annotation: Any) -> Any:
    args = typing.get_args(strip_annotated(annotation))
    return args[0] if len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis) else typing.Any


def _value_annotation(annotation: Any) -> Any:
    args = typing.get_args(strip_annotated(annotation))
    return args[1] if len(args) == 2 else typing.Any


# --- serialisers ------------------------------------------------------------------------------


def dump(tree: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return dump_json(tree)
    if fmt == "toml":
        import tomlkit

        return tomlkit.dumps(_toml_order(tree))
    if fmt == "yaml":
        return dump_yaml(tree)
    raise ValueError(f"unknown format {fmt!r}")


# JSON specs are read by the YAML loader (JSON is YAML flow style), so the text must also mean
# the same in YAML 1.1: exponent floats need a dot (``1.0e-05``: YAML 1.1 reads ``1e-05`` as a
# string), and characters YAML refuses or reads as line breaks are written as ``\uXXXX``.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![\w.])(-?\d+)([eE][-+]?\d+)')
_YAML_UNSAFE = re.compile(
    r"[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def dump_json(tree: Any) -> str:
    """Indented JSON that the YAML-based loader reads back exactly."""

    def number(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)
        return f"{match.group(1)}.0{match.group(2)}"

    text = json.dumps(tree, indent=2, ensure_ascii=False)
    text = _JSON_TOKEN.sub(number, text)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n"


def dump_yaml(tree: Any) -> str:
    """Block-style YAML, keys in order; shared mappings written once with readable anchors."""
    import yaml

    names = _anchor_names(tree)

    class Dumper(yaml.SafeDumper):
        def generate_anchor(self, node: Any) -> Any:
            for key, represented in self.represented_objects.items():
                if represented is node and key in names:
                    return names[key]
            return super().generate_anchor(node)

    Dumper.add_representer(str, yaml_str)
    return yaml.dump(tree, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=100)


_YAML_BREAKS = re.compile(r"[\r\x85\u2028\u2029]")


def yaml_str(dumper: Any, data: str) -> Any:
    """Multi-line strings as ``|`` blocks; strings holding line breaks other than ``\\n`` always
    double-quoted (PyYAML would fold or normalise those breaks in any other style)."""
    style = '"' if _YAML_BREAKS.search(data) else "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _anchor_names(tree: Any) -> dict[int, str]:
    """A name for each mapping or list reached twice, after the key it is first written under."""
    first: dict[int, KeyPath] = {}
    shared: list[int] = []

    def walk(node: Any, path: KeyPath) -> None:
        if not isinstance(node, (dict, list)):
            return
        if id(node) in first:
            if id(node) not in shared:
                shared.append(id(node))
            return
        first[id(node)] = path
        for key, item in node.items() if isinstance(node, dict) else enumerate(node):
            walk(item, (*path, key))

    walk(tree, ())
    names: dict[int, str] = {}
    for ident in shared:
        base = _anchor_base(first[ident])
        name, n = base, 2
        while name in names.values():
            name, n = f"{base}_{n}", n + 1
        names[ident] = name
    return names


def _anchor_base(path: KeyPath) -> str:
    """``model`` for ``task.model``; ``leaves_1`` for ``task.leaves[1]``."""
    indices: list[str] = []
    for part in reversed(path):
        if isinstance(part, int):
            indices.insert(0, str(part))
            continue
        key = re.sub(r"[^A-Za-z0-9_-]", "_", part)
        if not re.search(r"[A-Za-z0-9]", key):
            key = "shared"
        return "_".join([key, *indices])
    return "_".join(["shared", *indices])


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


__all__ = ["FORMATS", "MISSING", "GraphWriter", "dump", "export", "relative_path", "spec_tree"]
