"""The TOML loader. `tomllib` returns no positions: `_toml_key_lines` recovers each key's line
by scanning the source for table headers and ``key =`` lines; keys inside inline tables fall
back to their table's line (`Document.origin` walks up to the nearest known ancestor)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nemorun.errors import KeyPath, Origin, SpecError, SpecErrors
from nemorun.schemas.document import Document, find_origin, leaves, unreadable_number

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

_TOML_ERROR_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


_TOML_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


_TOML_KEY = re.compile(
    r"""^\s*((?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+)(?:\s*\.\s*(?:"[^"]*"|'[^']*'|[A-Za-z0-9_-]+))*)\s*="""
)


_TOML_KEY_PART = re.compile(r"""\s*("([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*(\.|$)""")


def load_toml(text: str, path: Path, display: str) -> Document:
    try:
        tree = tomllib.loads(text)
    except ValueError as exc:
        if not isinstance(exc, tomllib.TOMLDecodeError):  # a number too long to convert
            raise SpecErrors([unreadable_number(exc, display)]) from None
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

    for at, value in leaves(node, path):
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
