"""`GraphWriter`: a call tree written back as a spec's plain tree, in the spec's own words.

The tree is a validated spec's (`Call` nodes, `EnvRef` values) or a Fiddle graph (``nemorun
import``): the two are node for node the same (`nemorun.compiler.graph` builds one from the
other), and writing the first never imports Fiddle, which costs a ``run`` half its time.

Enum members by name, paths and callables as strings, tuples and sets as lists; ``_target_``
only where the type hint does not already say it. Sharing is kept: a node reached twice is
written once and referred to (YAML anchors from `nemorun.compiler.dumps`, ``{_ref_: path}`` in
JSON and TOML). TOML has no null and JSON no infinity: such a value is an error naming its key.
"""

from __future__ import annotations

import enum
import math
import pathlib
import sys
import types
import typing
from dataclasses import dataclass, field, replace
from typing import Any

from nemorun.compiler.dumps import escape_text, key_text
from nemorun.errors import KeyPath, SpecError, SpecErrors
from nemorun.schemas.compose import REF_KEY
from nemorun.schemas.constructs import constant_reference
from nemorun.schemas.envrefs import EnvRef
from nemorun.schemas.hints import inspect_callable
from nemorun.schemas.imports import reference_of
from nemorun.schemas.values import CALL_KEY, Call, strip_annotated, takes_reference_text


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
        self.seen: dict[tuple[int, bool], _Shared] = {}
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
        template = _env_template(cfg)
        if template is not None:
            return escape_text(template)
        parts = _node_parts(cfg)
        assert parts is not None, cfg
        target, partial, arguments = parts
        # A task's root is a node of its own, even when the same Call is an argument elsewhere.
        key = (id(cfg), root)
        if key in self.seen:
            return self._again(self.seen[key], path)
        out: dict[str, Any] = {}
        self.seen[key] = _Shared(cfg, path, out)
        if root or not _annotation_names(annotation, target):
            out["_target_"] = reference_of(target)
        if partial and not root:
            out["_partial_"] = True
        schema = inspect_callable(target)
        for name, value in arguments.items():
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
        if _env_template(value) is not None or _node_parts(value) is not None:
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


def _node_parts(value: Any) -> tuple[Any, bool, dict[str, Any]] | None:
    """(callable, partial, arguments) of a node, a `Call` or a Fiddle buildable; None for a
    plain value. Fiddle is only asked when something imported it: otherwise no value is one
    of its buildables."""
    if isinstance(value, Call):
        return value.target, value.partial, value.args
    fdl = sys.modules.get("fiddle")
    if fdl is not None and isinstance(value, fdl.Buildable):
        return fdl.get_callable(value), isinstance(value, fdl.Partial), value.__arguments__
    return None


def _env_template(value: Any) -> str | None:
    """The ``${oc.env:…}`` text of an environment reference (an `EnvRef`, or its graph node)."""
    if isinstance(value, EnvRef):
        return value.template
    if "fiddle" in sys.modules:
        from nemorun.compiler.graph import is_env_config

        if is_env_config(value):
            return str(value.template)
    return None


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
