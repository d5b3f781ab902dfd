"""Read a YAML or TOML spec into plain Python values plus the position of every key.

The tree is made of plain dicts, lists and scalars, so everything downstream (merging, overrides,
OmegaConf interpolation, validation) works on ordinary data. Positions live beside it in
`Document.origins`, keyed by key path. Two things are not obvious:

- YAML aliases load as *one shared object* (the same dict at two paths). Sharing is meaningful:
  it becomes one shared `fdl.Config` in the graph. Origins are recorded under every path that
  reaches a shared node.
- `tomllib` returns no positions. `_toml_key_lines` recovers each key's line by scanning the source
  for table headers and ``key =`` lines; keys inside inline tables fall back to their table's line
  (`Document.origin` walks up to the nearest known ancestor).

Plain (unquoted) scalars also keep their source text, so a `str` field given ``007`` or ``yes``
receives exactly what the user wrote rather than YAML 1.1's reading of it.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemorun.errors import KeyPath, Origin, SpecError, SpecErrors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

YAML_SUFFIXES = (".yaml", ".yml")
TOML_SUFFIXES = (".toml",)
JSON_SUFFIXES = (".json",)


@dataclass
class Document:
    """One spec file as loaded: its tree, and the origin of every key path in it."""

    path: Path
    display: str
    tree: Any
    origins: dict[KeyPath, Origin] = field(default_factory=dict)

    def origin(self, path: KeyPath) -> Origin | None:
        """The origin of ``path``, or of its nearest ancestor with a known position."""
        return find_origin(self.origins, path)


def find_origin(origins: dict[KeyPath, Origin], path: KeyPath) -> Origin | None:
    for n in range(len(path), -1, -1):
        found = origins.get(path[:n])
        if found is not None:
            return found
    return None


def display_name(path: Path) -> str:
    """Paths in messages are relative to the current directory when that is shorter."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_document(path: Path) -> Document:
    """Load ``path`` (YAML, TOML or JSON by suffix) or raise `SpecErrors`."""
    display = display_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecErrors([SpecError("no such spec file", file=display)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecErrors([SpecError(f"cannot read spec file: {exc}", file=display)]) from None
    return parse_document(text, path, display)


def parse_document(text: str, path: Path, display: str | None = None) -> Document:
    display = display or display_name(path)
    suffix = path.suffix.lower()
    if suffix in TOML_SUFFIXES:
        return _load_toml(text, path, display)
    if suffix in YAML_SUFFIXES or suffix in JSON_SUFFIXES:
        return _load_yaml(text, path, display)  # JSON is YAML 1.2 flow style
    raise SpecErrors(
        [
            SpecError(
                "unknown spec format",
                file=display,
                expected="a .yaml, .yml, .toml or .json file",
                found=repr(path.suffix or "no suffix"),
            )
        ]
    )


# --- YAML -------------------------------------------------------------------------------------


def _load_yaml(text: str, path: Path, display: str) -> Document:
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        builder = _YamlBuilder(loader, display)
        tree = builder.build(node, ()) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        origin = Origin(display, mark.line + 1, mark.column + 1) if mark else Origin(display)
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecErrors(
            [SpecError(f"YAML syntax error: {problem}", origin=origin, file=display)]
        ) from None
    except yaml.YAMLError as exc:
        raise SpecErrors([SpecError(f"YAML error: {exc}", file=display)]) from None
    finally:
        loader.dispose()
    if builder.errors:
        raise SpecErrors(builder.errors)
    return Document(path, display, tree, builder.origins)


class _YamlBuilder:
    """Turns composed YAML nodes into plain values, recording positions; aliases stay shared."""

    def __init__(self, loader: Any, display: str) -> None:
        self.loader = loader
        self.display = display
        self.origins: dict[KeyPath, Origin] = {}
        self.memo: dict[int, Any] = {}
        self.errors: list[SpecError] = []

    def build(self, node: Any, path: KeyPath, key_node: Any = None) -> Any:
        import yaml

        self._record(node, path, key_node)
        if id(node) in self.memo:
            self._record_below(node, path, set())
            return self.memo[id(node)]
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            self.memo[id(node)] = out
            for k_node, v_node in node.value:
                key = self.loader.construct_object(k_node, deep=True)
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    key = str(key)
                if key in out:
                    self.errors.append(
                        SpecError(
                            "duplicate key",
                            path=(*path, key),
                            origin=self._origin(k_node, None),
                            suggestion="remove one of the two entries",
                        )
                    )
                out[key] = self.build(v_node, (*path, key), k_node)
            return out
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = []
            self.memo[id(node)] = items
            for i, item in enumerate(node.value):
                items.append(self.build(item, (*path, i)))
            return items
        value = self.loader.construct_object(node, deep=True)
        self.memo[id(node)] = value
        return value

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

        if id(node) in stack or len(path) > 64:
            return
        stack = stack | {id(node)}
        if isinstance(node, yaml.MappingNode):
            for k_node, v_node in node.value:
                key = self.loader.construct_object(k_node, deep=True)
                self.origins.setdefault((*path, key), self._origin(v_node, k_node))
                self._record_below(v_node, (*path, key), stack)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.origins.setdefault((*path, i), self._origin(item, None))
                self._record_below(item, (*path, i), stack)


# --- TOML -------------------------------------------------------------------------------------

_TOML_ERROR_POS = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*=""")
_TOML_KEY_PART = re.compile(r"""\s*("([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(\.|$)""")


def _load_toml(text: str, path: Path, display: str) -> Document:
    try:
        tree = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_ERROR_POS.search(message)
        origin = Origin(display, int(match.group(1)), int(match.group(2))) if match else None
        problem = _TOML_ERROR_POS.sub("", message).strip()
        raise SpecErrors(
            [SpecError(f"TOML syntax error: {problem}", origin=origin, file=display)]
        ) from None
    return Document(path, display, tree, _toml_key_lines(text, display))


def _split_toml_key(raw: str) -> list[str]:
    parts = []
    for m in _TOML_KEY_PART.finditer(raw):
        parts.append(m.group(2) if m.group(2) is not None else (m.group(3) or m.group(4) or ""))
    return parts


def _toml_key_lines(text: str, display: str) -> dict[KeyPath, Origin]:
    """Recover the line of every table header and ``key = value`` line (not exact for multi-line
    strings and arrays, whose inner lines are skipped)."""
    origins: dict[KeyPath, Origin] = {}
    table: KeyPath = ()
    array_counts: dict[KeyPath, int] = {}
    in_multiline: str | None = None
    depth = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if in_multiline is not None:
            if line.count(in_multiline) % 2 == 1:
                in_multiline = None
            continue
        if depth > 0:
            depth += line.count("[") - line.count("]")
            continue
        header = _TOML_HEADER.match(line)
        if header and "=" not in line.split("#")[0]:
            key = tuple(_split_toml_key(header.group(2)))
            if header.group(1) == "[[":
                index = array_counts.get(key, 0)
                array_counts[key] = index + 1
                table = (*key, index)
                origins.setdefault(key, Origin(display, lineno, 1))
            else:
                table = key
            origins[table] = Origin(display, lineno, 1)
            continue
        m = _TOML_KEY.match(line)
        if not m:
            continue
        key_path = (*table, *_split_toml_key(m.group(1)))
        column = len(line) - len(line.lstrip()) + 1
        rest = line[m.end() :].strip()
        value_column = line.find(rest, m.end()) + 1 if rest else None
        origins[key_path] = Origin(
            display, lineno, column, value_line=lineno, value_column=value_column
        )
        for quote in ('"""', "'''"):
            if rest.startswith(quote) and rest.count(quote) == 1:
                in_multiline = quote
        if rest.startswith("[") and in_multiline is None:
            depth = rest.count("[") - rest.count("]")
    return origins
