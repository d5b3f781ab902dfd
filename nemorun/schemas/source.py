"""Read a YAML or TOML spec into plain Python values plus the position of every key.

The tree is made of plain dicts, lists and scalars, so everything downstream (merging, overrides,
OmegaConf interpolation, validation) works on ordinary data. Positions live beside it in
`Document.origins`, keyed by key path. Three things are not obvious:

- YAML aliases load as *one shared object* (the same dict at two paths). Sharing is meaningful:
  it becomes one shared `fdl.Config` in the graph. Origins are recorded under every path that
  reaches a shared node.
- `tomllib` returns no positions. `_toml_key_lines` recovers each key's line by scanning the source
  for table headers and ``key =`` lines; keys inside inline tables fall back to their table's line
  (`Document.origin` walks up to the nearest known ancestor).
- JSON values are read by `json` (so ``1e-3`` is a number, as JSON says, not YAML 1.1's
  string); their positions come from reading the same text as YAML flow style.

Plain (unquoted) scalars also keep their source text, so a `str` field given ``007`` or ``yes``
receives exactly what the user wrote rather than YAML 1.1's reading of it. (LibYAML marks such
scalars with style ``""``, PyYAML with ``None``: both count as plain.)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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


def value_origin(origins: dict[KeyPath, Origin], path: KeyPath) -> Origin | None:
    """Where the value at ``path`` was written (`find_origin`, pointing at the value)."""
    origin = find_origin(origins, path)
    return origin.at_value() if origin else None


def display_name(path: Path) -> str:
    """Paths in messages are relative to the current directory when that is shorter."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# Spec files read from elsewhere: absolute path → the file that stands for it (`read_from`).
_STAND_INS: ContextVar[dict[Path, Path] | None] = ContextVar("nemorun_spec_stand_ins", default=None)


@contextmanager
def read_from(stand_ins: dict[Path, Path]) -> Iterator[None]:
    """While active, the spec file at absolute path ``P`` is read from ``stand_ins[P]`` but
    keeps its own path, so ``extends``, ``pythonpath`` and messages resolve as at ``P``:
    ``nemorun rerun`` reads a run's copies of its spec files this way."""
    token = _STAND_INS.set({k.resolve(): v for k, v in stand_ins.items()})
    try:
        yield
    finally:
        _STAND_INS.reset(token)


def read_path(path: Path) -> Path:
    """The file read for spec file ``path``: itself, or its stand-in (`read_from`)."""
    stand_ins = _STAND_INS.get()
    return stand_ins.get(path.resolve(), path) if stand_ins else path


def load_document(path: Path) -> Document:
    """Load ``path`` (YAML, TOML or JSON by suffix) or raise `SpecErrors`."""
    display = display_name(path)
    source = read_path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecErrors([SpecError("no such spec file", file=display)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecErrors([SpecError(f"cannot read spec file: {exc}", file=display)]) from None
    except ValueError:  # a NUL character in the path
        raise SpecErrors(
            [SpecError("a file path cannot hold a NUL character", file=repr(display))]
        ) from None
    return parse_document(text, path, display)


MAX_DEPTH = 100
"""Deeper nesting than this is refused: no spec needs it, and every later stage walks the tree."""
MAX_PATHS = 200_000
"""More key paths than this (counting every path through a YAML alias) is refused at once: a
few lines of nested aliases can name billions of paths (an alias bomb)."""


def parse_document(text: str, path: Path, display: str | None = None) -> Document:
    display = display or display_name(path)
    try:
        document = _parse(text, path, display)
    except RecursionError:
        raise SpecErrors([_too_deep(Origin(display))]) from None
    check_size(document.tree, display)
    return document


def _too_deep(origin: Origin) -> SpecError:
    return SpecError(
        f"the spec nests more than {MAX_DEPTH} levels deep",
        origin=origin,
        suggestion="flatten it: no experiment needs this depth",
    )


def check_size(tree: Any, display: str) -> None:
    """Refuse a tree deeper than `MAX_DEPTH` or with more than `MAX_PATHS` key paths, walking
    each shared node once (so the check itself is linear in the file)."""
    paths: dict[int, int] = {}
    stack: list[tuple[Any, int, bool]] = [(tree, 0, False)]
    while stack:
        node, depth, done = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise SpecErrors([_too_deep(Origin(display))])
        children = list(node.values()) if isinstance(node, dict) else list(node)
        if done:
            count = len(children)
            for child in children:
                count += paths.get(id(child), 0)
            paths[id(node)] = count
            if count > MAX_PATHS:
                raise SpecErrors(
                    [
                        SpecError(
                            f"the spec names more than {MAX_PATHS:,} key paths (counting every "
                            "path through its shared parts: YAML aliases, _ref_)",
                            origin=Origin(display),
                            suggestion="aliases of aliases multiply: write the values out, or "
                            "share fewer levels",
                        )
                    ]
                )
        elif id(node) not in paths:
            paths[id(node)] = 0  # a cycle back here counts nothing more
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children)


def _parse(text: str, path: Path, display: str) -> Document:
    suffix = path.suffix.lower()
    if suffix in TOML_SUFFIXES:
        return _load_toml(text, path, display)
    if suffix in JSON_SUFFIXES:
        return _load_json(text, path, display)
    if suffix in YAML_SUFFIXES:
        return _load_yaml(text, path, display)
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
            raise SpecErrors([_too_deep(self._origin(node, key_node))])
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
            if node.tag == _TIMESTAMP:  # a date is no spec value: the text, as a str gets it
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


# --- JSON -------------------------------------------------------------------------------------

# Characters JSON strings may hold raw but a YAML reader refuses or reads as line breaks.
_NOT_YAML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\x85\u2028\u2029\ufeff]")


def _load_json(text: str, path: Path, display: str) -> Document:
    """Values by JSON's own rules (``1e-3`` is a number); positions from reading the same text
    as YAML, whose flow style JSON is, once the characters YAML refuses are blanked out."""
    import json

    try:
        tree = json.loads(text)
    except json.JSONDecodeError as exc:
        origin = Origin(display, exc.lineno, exc.colno)
        raise SpecErrors([SpecError(f"JSON syntax error: {exc.msg}", origin=origin)]) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise SpecErrors([_unreadable_number(exc, display)]) from None
    origins: dict[KeyPath, Origin] = {}
    try:
        origins = _load_yaml(_NOT_YAML.sub(" ", text), path, display).origins
    except SpecErrors as exc:
        duplicates = [e for e in exc.errors if e.message == "duplicate key"]
        if duplicates:
            raise SpecErrors(duplicates) from None
    lone = list(_lone_surrogates(tree, ()))
    if lone:
        raise SpecErrors(
            [
                SpecError(
                    "a \\ud800-\\udfff escape that is half of a pair: no text can hold it",
                    at,
                    find_origin(origins, at),
                    file=display,
                    suggestion="write the whole character, or both halves of the pair",
                )
                for at in lone
            ]
        )
    return Document(path, display, tree, origins)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogates(node: Any, path: KeyPath) -> Iterator[KeyPath]:
    """Paths whose key or text holds a lone surrogate (JSON's ``\\ud800`` escape decodes to
    one; no file, command line or environment can carry it)."""
    for at, value in _leaves(node, path):
        if isinstance(value, str) and _SURROGATE.search(value):
            yield at


def _leaves(node: Any, path: KeyPath) -> Iterator[tuple[KeyPath, Any]]:
    """Every scalar of a loaded tree and every mapping key, with its path (a key's path is the
    path it names)."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*path, key), key
            yield from _leaves(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _leaves(child, (*path, i))
    else:
        yield path, node


# --- TOML -------------------------------------------------------------------------------------

_TOML_ERROR_POS = re.compile(r"\(at line (\d+), column (\d+)\)")
_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_TOML_KEY = re.compile(
    r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*="""
)
_TOML_KEY_PART = re.compile(r"""\s*("([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(\.|$)""")


def _unreadable_number(exc: ValueError, display: str) -> SpecError:
    message = str(exc).split(":")[0] if "Exceeds the limit" in str(exc) else str(exc)
    return SpecError(
        f"cannot read a value: {message}",
        file=display,
        suggestion="quote it if it is text; numbers this long are not supported",
    )


def _load_toml(text: str, path: Path, display: str) -> Document:
    try:
        tree = tomllib.loads(text)
    except ValueError as exc:
        if not isinstance(exc, tomllib.TOMLDecodeError):  # a number too long to convert
            raise SpecErrors([_unreadable_number(exc, display)]) from None
        message = str(exc)
        match = _TOML_ERROR_POS.search(message)
        origin = Origin(display, int(match.group(1)), int(match.group(2))) if match else None
        if origin is None and "(at end of document)" in message:
            lines = text.splitlines() or [""]
            origin = Origin(display, len(lines), len(lines[-1]) + 1)
        problem = _TOML_ERROR_POS.sub("", message).replace("(at end of document)", "").strip()
        suggestion = None
        if problem.startswith("Cannot overwrite a value"):
            problem += " (the key is set twice)"
            suggestion = "remove one of the two entries"
            if origin is not None and origin.line is not None:  # point at the key, not the end
                line = (text.splitlines() or [""])[origin.line - 1]
                origin = Origin(display, origin.line, len(line) - len(line.lstrip()) + 1)
        raise SpecErrors(
            [
                SpecError(
                    f"TOML syntax error: {problem}",
                    origin=origin,
                    file=display,
                    suggestion=suggestion,
                )
            ]
        ) from None
    origins = _toml_key_lines(text, display)
    dates = list(_toml_dates(tree, ()))
    if dates:
        raise SpecErrors(
            [
                SpecError(
                    "a TOML date or time is no spec value",
                    at,
                    find_origin(origins, at),
                    found=str(value),
                    suggestion=f'quote it to pass the text: "{value}"',
                )
                for at, value in dates
            ]
        )
    return Document(path, display, tree, origins)


def _toml_dates(node: Any, path: KeyPath) -> Iterator[tuple[KeyPath, Any]]:
    import datetime

    for at, value in _leaves(node, path):
        if isinstance(value, (datetime.date, datetime.time)):
            yield at, value


def _split_toml_key(raw: str) -> list[str]:
    parts = []
    for m in _TOML_KEY_PART.finditer(raw):
        parts.append(m.group(2) if m.group(2) is not None else (m.group(3) or m.group(4) or ""))
    return parts


def _toml_key_lines(text: str, display: str) -> dict[KeyPath, Origin]:
    """Recover the line of every table header and ``key = value`` line (not exact for multi-line
    strings and arrays, whose inner lines are skipped)."""
    origins: dict[KeyPath, Origin] = {(): Origin(display, 1, 1)}
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
