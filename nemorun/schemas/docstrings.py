"""Parameter descriptions read from docstrings, for hover docs and the JSON Schema.

Three styles are read, in any docstring of a callable: Google (``Args:`` then ``name (type):
text``), Sphinx (``:param name: text``) and numpy (``Parameters`` underlined with dashes, then
``name : type`` with the text indented below). A class documents its arguments either on the
class (torch, transformers) or on its ``__init__`` (Lightning, some scikit-learn); both are read,
the class's text first.

What is tricky: an item's text may run over several lines (joined) and paragraphs (kept apart
by a blank line); a section ends where the indentation falls back to its header's; ``*args`` and
``**kwargs`` are named without their stars; numpy may name several parameters on one line.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

GOOGLE_SECTIONS = (
    "Args",
    "Arguments",
    "Parameters",
    "Params",
    "Keyword Args",
    "Keyword Arguments",
    "Other Parameters",
    "Attributes",
)
NUMPY_SECTIONS = ("Parameters", "Other Parameters", "Attributes")
"""Sections that name arguments; scikit-learn's fitted ``Attributes`` end in ``_``, so they
never collide with a parameter's name."""

_GOOGLE_ITEM = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:(?:\s+(.*))?$")
_NUMPY_ITEM = re.compile(r"^(\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?::.*)?$")
_SPHINX_ITEM = re.compile(
    r"^:(?:param|parameter|arg|argument|key|keyword)\s+(?:[^:]*\s)?\*{0,2}(\w+)\s*:\s*(.*)$"
)
_DASHES = re.compile(r"^\s*-{3,}\s*$")


def parameter_docs(target: Any) -> dict[str, str]:
    """Parameter name → description, from ``target``'s docstring and, for a class, from its own
    ``__init__``'s (the first that documents a name wins)."""
    docs: dict[str, str] = {}
    for doc in _docstrings(target):
        for name, text in parse_parameter_docs(doc).items():
            docs.setdefault(name, text)
    return docs


def _docstrings(target: Any) -> list[str]:
    out = [inspect.getdoc(target) or ""]
    if isinstance(target, type):
        init = next(
            (vars(c)["__init__"] for c in target.__mro__ if "__init__" in vars(c)), object.__init__
        )
        if init is not object.__init__:
            out.append(inspect.cleandoc(getattr(init, "__doc__", None) or ""))
    return out


def parse_parameter_docs(doc: str) -> dict[str, str]:
    """Descriptions from one (cleaned) docstring in any of the three styles."""
    lines = doc.expandtabs().splitlines()
    out: dict[str, str] = {}
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        indent = _indent(lines[i])
        if _SPHINX_ITEM.match(stripped):
            end = _block_end(lines, i + 1, indent)
            _add(out, _SPHINX_ITEM, lines[i:end], indent)
            i = end
        elif stripped in NUMPY_SECTIONS and i + 1 < len(lines) and _DASHES.match(lines[i + 1]):
            end = _numpy_section_end(lines, i + 2, indent)
            _add(out, _NUMPY_ITEM, lines[i + 2 : end], indent)
            i = end
        elif stripped.endswith(":") and stripped[:-1].strip() in GOOGLE_SECTIONS:
            end = _block_end(lines, i + 1, indent)
            body = lines[i + 1 : end]
            first = next((ln for ln in body if ln.strip()), None)
            if first is not None:
                _add(out, _GOOGLE_ITEM, body, _indent(first))
            i = end
        else:
            i += 1
    return out


def _add(out: dict[str, str], item: re.Pattern[str], lines: list[str], indent: int) -> None:
    """Each item of ``lines`` (those starting at ``indent``) with the text that follows it."""
    names: list[str] = []
    paragraphs: list[list[str]] = []

    def flush() -> None:
        text = "\n\n".join(" ".join(p) for p in paragraphs if p)
        for name in names:
            if text:
                out.setdefault(name, text)

    for line in lines:
        stripped = line.strip()
        if stripped and _indent(line) <= indent:
            flush()
            match = item.match(stripped)
            names = _names(match) if match else []
            first = match.groups()[-1] if match and item is not _NUMPY_ITEM else None
            paragraphs = [[first.strip()] if first and first.strip() else []]
        elif not stripped:
            paragraphs.append([])
        elif names:
            paragraphs[-1].append(stripped)
    flush()


def _names(match: re.Match[str]) -> list[str]:
    return [n.strip().lstrip("*") for n in match.group(1).split(",")]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """The index of the first non-blank line at or left of ``indent`` from ``start``."""
    for j in range(start, len(lines)):
        if lines[j].strip() and _indent(lines[j]) <= indent:
            return j
    return len(lines)


def _numpy_section_end(lines: list[str], start: int, indent: int) -> int:
    """A numpy section runs to the next underlined header (or a Sphinx field list)."""
    for j in range(start, len(lines)):
        underlined = j + 1 < len(lines) and _DASHES.match(lines[j + 1])
        if lines[j].strip() and _indent(lines[j]) <= indent and underlined:
            return j
        if _SPHINX_ITEM.match(lines[j].strip()):
            return j
    return len(lines)
