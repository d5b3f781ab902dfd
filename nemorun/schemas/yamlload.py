"""The YAML loader: a tree of plain values with the origin of every key path.

YAML aliases load as *one shared object* (the same dict at two paths): sharing becomes one
shared `fdl.Config` in the graph, and origins are recorded under every path reaching it.
Plain (unquoted) scalars keep their source text, so a ``str`` field given ``007`` or ``yes``
receives exactly what the user wrote. (LibYAML marks such scalars with style ``""``, PyYAML
with ``None``: both count as plain.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from nemorun.errors import KeyPath, Origin, SpecError, SpecErrors
from nemorun.schemas.document import MAX_DEPTH, MAX_PATHS, Document, too_deep


def load_yaml(text: str, path: Path, display: str) -> Document:
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        builder = _YamlBuilder(loader, display)
        tree = builder.build(node, ()) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        raise SpecErrors([_yaml_syntax_error(exc, text, display)]) from None
    except yaml.YAMLError as exc:
        raise SpecErrors([SpecError(f"YAML error: {exc}", file=display)]) from None
    finally:
        loader.dispose()
    if builder.errors:
        raise SpecErrors(builder.errors)
    return Document(path, display, tree, builder.origins)


def _yaml_syntax_error(exc: Any, text: str, display: str) -> SpecError:
    """PyYAML's problem at its position, with the construct it was reading and a likely fix."""
    mark = exc.problem_mark or exc.context_mark
    origin = Origin(display, mark.line + 1, mark.column + 1) if mark else Origin(display)
    problem = exc.problem or exc.context or "invalid YAML"
    context, cmark = exc.context, exc.context_mark
    suggestion = None
    if "another document" in problem:
        problem = "a spec file holds one YAML document, and this starts a second one"
        suggestion = "remove the '---' line (or the text after it)"
    elif "mapping values are not allowed" in problem:
        suggestion = (
            "check the indentation (a key lines up with its siblings), "
            "or quote a value that contains ': '"
        )
    elif (
        exc.problem and context and cmark is not None and (mark is None or cmark.line != mark.line)
    ):
        problem += f" ({context} that starts at line {cmark.line + 1}, column {cmark.column + 1})"
    if mark is not None:
        lines = text.splitlines()
        line = lines[mark.line] if mark.line < len(lines) else ""
        if "\t" in line[: mark.column + 1]:
            suggestion = "indent with spaces: YAML does not allow tabs"
    return SpecError(f"YAML syntax error: {problem}", origin=origin, suggestion=suggestion)


_COLLECTION_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


_TIMESTAMP = "tag:yaml.org,2002:timestamp"


_INT = re.compile(r"[-+]?[0-9]+")
_OCTAL = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INFINITY = re.compile(r"([-+]?)\.(?:inf|Inf|INF)")


def core_scalar(text: str) -> Any:
    """A plain scalar as the YAML 1.2 core schema reads it, which is what TOML, JSON, the
    command line and every current YAML library agree on. PyYAML implements YAML 1.1, where
    ``yes``/``no``/``on``/``off`` are booleans, ``017`` is octal 15, ``1:30`` is 90, ``1_000``
    is 1000 and ``1e-3`` is text: a value the user wrote would reach the job as another one."""
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.fullmatch(text):
        return int(text)
    if _OCTAL.fullmatch(text):
        return int(text[2:], 8)
    if _HEX.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT.fullmatch(text):
        return float(text)
    infinity = _INFINITY.fullmatch(text)
    if infinity:
        return float(f"{infinity.group(1)}inf")
    if text in (".nan", ".NaN", ".NAN"):
        return float("nan")
    return text  # dates and times included: a date is no spec value, a `str` gets the text


class _YamlBuilder:
    """Turns composed YAML nodes into plain values, recording positions; aliases stay shared."""

    def __init__(self, loader: Any, display: str) -> None:
        self.loader = loader
        self.display = display
        self.origins: dict[KeyPath, Origin] = {}
        self.memo: dict[int, Any] = {}
        self.errors: list[SpecError] = []
        self.building: set[int] = set()
        """Collections under construction: an alias to one of them would make a cycle."""

    def build(self, node: Any, path: KeyPath, key_node: Any = None) -> Any:
        import yaml

        if len(path) > MAX_DEPTH:
            raise SpecErrors([too_deep(self._origin(node, key_node))])
        self._record(node, path, key_node)
        if id(node) in self.building:
            self.errors.append(
                SpecError(
                    "this alias refers to a node that contains it; a spec cannot be a cycle",
                    path=path,
                    origin=self._origin(node, key_node),
                    suggestion="copy the values instead of using the alias here",
                )
            )
            return None
        if id(node) in self.memo:
            self._record_below(node, path, set())
            return self.memo[id(node)]
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            if node.tag not in _COLLECTION_TAGS:
                self.errors.append(
                    SpecError(
                        f"the YAML tag {node.tag} is not supported",
                        path=path,
                        origin=self._origin(node, key_node).at_value(),
                        suggestion="remove the tag: a spec holds plain mappings, lists and scalars",
                    )
                )
            self.building.add(id(node))
            try:
                return self._build_collection(node, path)
            finally:
                self.building.discard(id(node))
        try:
            if node.style in (None, "") and node.tag == self.loader.resolve(
                yaml.ScalarNode, node.value, (True, False)
            ):  # a plain scalar with no tag of its own: read as YAML 1.2 reads it
                value = core_scalar(node.value)
            elif node.tag == _TIMESTAMP:  # a date is no spec value: the text, as a str gets it
                value = node.value
            else:
                value = self.loader.construct_object(node, deep=True)
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            message = str(exc).split(":")[0] if "Exceeds the limit" in str(exc) else str(exc)
            self.errors.append(
                SpecError(
                    f"cannot read this value: {message}",
                    path=path,
                    origin=self._origin(node, key_node).at_value(),
                    suggestion="quote it if it is text; numbers this long are not supported",
                )
            )
            value = None
        self.memo[id(node)] = value
        return value

    def _build_collection(self, node: Any, path: KeyPath) -> Any:
        import yaml

        if isinstance(node, yaml.MappingNode):
            own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
            self.loader.flatten_mapping(node)  # puts the ``<<: *base`` pairs first
            merged = len(node.value) - own
            out: dict[Any, Any] = {}
            own_keys: set[Any] = set()
            self.memo[id(node)] = out
            for index, (k_node, v_node) in enumerate(node.value):
                key = self._key(k_node)
                key_path = (*path, key)
                if index >= merged:  # the mapping's own keys override merged ones
                    if key in own_keys:
                        self.errors.append(
                            SpecError(
                                "duplicate key",
                                path=key_path,
                                origin=self._origin(k_node, None),
                                suggestion="remove one of the two entries",
                            )
                        )
                    own_keys.add(key)
                    if key in out:  # replaces a merged value: forget where that one was
                        stale = [p for p in self.origins if p[: len(key_path)] == key_path]
                        for p in stale:
                            del self.origins[p]
                out[key] = self.build(v_node, key_path, k_node)
            return out
        items: list[Any] = []
        self.memo[id(node)] = items
        for i, item in enumerate(node.value):
            items.append(self.build(item, (*path, i)))
        return items

    def _key(self, k_node: Any) -> Any:
        """A mapping key: strings and integers as read; any other scalar (``ON``, ``no``,
        ``1.5``, ``null``) as the text written, since keys name things."""
        import yaml

        key = self.loader.construct_object(k_node, deep=True)
        if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
            return key
        if isinstance(k_node, yaml.ScalarNode):
            return k_node.value
        return str(key)

    def _origin(self, node: Any, key_node: Any) -> Origin:
        import yaml

        anchor = key_node if key_node is not None else node
        mark = anchor.start_mark
        text = None
        if isinstance(node, yaml.ScalarNode) and not node.style:
            text = node.value  # plain scalar: style is None (PyYAML) or "" (LibYAML)
        vmark = node.start_mark
        return Origin(
            self.display,
            mark.line + 1,
            mark.column + 1,
            text=text,
            value_line=vmark.line + 1,
            value_column=vmark.column + 1,
        )

    def _record(self, node: Any, path: KeyPath, key_node: Any) -> None:
        self.origins.setdefault(path, self._origin(node, key_node))

    def _record_below(self, node: Any, path: KeyPath, stack: set[int]) -> None:
        """Origins for the paths under a second reference to a shared node."""
        import yaml

        if id(node) in stack or len(path) > MAX_DEPTH or len(self.origins) > MAX_PATHS:
            return
        stack = stack | {id(node)}
        if isinstance(node, yaml.MappingNode):
            for k_node, v_node in node.value:
                key = self._key(k_node)
                self.origins.setdefault((*path, key), self._origin(v_node, k_node))
                self._record_below(v_node, (*path, key), stack)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.origins.setdefault((*path, i), self._origin(item, None))
                self._record_below(item, (*path, i), stack)
