"""The canonical spelling of a spec file (``nemorun fmt``): same comments, same key order (but
``nemorun:`` first), same meaning, one layout.

Meaning is what `nemorun.schemas.source` reads, so it is checked, not hoped for: the text is
loaded before and after, and a rewrite whose tree (types, values, shared aliases) or whose
*written text* of any plain scalar differs is refused. The written text matters because a
``str`` field receives a plain scalar as typed (``007``, ``1e3``, ``yes``): respelling a number
is therefore never lossless without the task's types, and numbers keep their spelling.

YAML goes through ruamel.yaml's round-trip mode with a resolver that reads every plain scalar
as text: ruamel's own typing (YAML 1.2 with ``1_000`` as an int) is not nemorun's, and text
re-emits exactly as written. Quoted strings keep their quotes (unquoting ``"yes"`` could retype
it), in double quotes unless the text holds ``"`` or ``\\`` (single quotes spare the escapes).
TOML goes through tomlkit: no indentation, ``key = value``, at most one blank line in a row.
"""

from __future__ import annotations

import collections
import io
from pathlib import Path
from typing import Any

from nemorun.errors import Origin, SpecError, SpecErrors
from nemorun.schemas.source import JSON_SUFFIXES, TOML_SUFFIXES, Document, parse_document

INDENT = 2
"""Spaces per nesting level; a sequence's ``-`` is indented by the same two under its key."""


def can_format(path: Path) -> bool:
    """Whether ``fmt`` rewrites files like ``path``: YAML and TOML, not JSON (which has one
    spelling per value already, and no comments to keep)."""
    return path.suffix.lower() not in JSON_SUFFIXES


def format_spec(text: str, path: Path, display: str) -> str:
    """``text`` (the spec file at ``path``) in canonical form; `SpecErrors` if it does not
    parse, or if no rewrite keeps its meaning (then the caller must keep the file as it is)."""
    before = parse_document(text, path, display)
    if path.suffix.lower() in TOML_SUFFIXES:
        formatted = _format_toml(text)
    else:
        formatted = _format_yaml(text, display)
    try:
        after = parse_document(formatted, path, display)
    except SpecErrors:
        after = None
    if path.suffix.lower() not in TOML_SUFFIXES:
        _check_comments_kept(text, formatted, display)
    if after is None or reading(after) != reading(before):
        raise SpecErrors(
            [
                SpecError(
                    "fmt cannot rewrite this file without changing what it means; "
                    "it is left as it is",
                    file=display,
                    suggestion="please report the file; meanwhile format it by hand",
                )
            ]
        )
    return formatted


def reading(document: Document) -> Any:
    """What nemorun reads from a file, comparable with ``==``: the tree with exact types (``1``,
    ``1.0`` and ``True`` differ, as do ``0.0`` and ``-0.0``; NaN equals NaN) and aliases as
    shared nodes, plus the written text of every plain scalar, by key path."""
    return _exact(document.tree, {}), {path: o.text for path, o in document.origins.items()}


def _exact(value: Any, seen: dict[int, int]) -> Any:
    if isinstance(value, (dict, list)):
        if id(value) in seen:
            return ("shared", seen[id(value)])
        seen[id(value)] = len(seen)
        if isinstance(value, list):
            return ("list", tuple(_exact(item, seen) for item in value))
        items = sorted(value.items(), key=lambda kv: (type(kv[0]).__name__, repr(kv[0])))
        return ("map", tuple((_exact(k, seen), _exact(v, seen)) for k, v in items))
    return (type(value).__name__, repr(value))


# --- YAML -------------------------------------------------------------------------------------


def _format_yaml(text: str, display: str) -> str:
    from ruamel.yaml import YAML, YAMLError

    yaml = YAML(typ="rt")
    yaml.Resolver = _plain_scalars_as_text()
    yaml.Representer = _quotes_representer()
    yaml.preserve_quotes = True
    yaml.indent(mapping=INDENT, sequence=2 * INDENT, offset=INDENT)
    yaml.width = 1 << 16  # never re-wrap a line the user wrote
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        raise SpecErrors([_ruamel_error(exc, display)]) from None
    if data is None:  # only comments (or nothing): nothing to lay out
        return text.rstrip() + "\n" if text.strip() else ""
    _nemorun_first(data)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def yaml_comments(text: str) -> list[tuple[int, str]]:
    """Every comment of a YAML text as (line, text): a ``#`` outside every token the scanner
    reads (so not one inside a quoted or block string), through the end of its line."""
    import yaml

    covered: list[tuple[int, int]] = []
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        while loader.check_token():
            token = loader.get_token()
            covered.append((token.start_mark.index, token.end_mark.index))
    finally:
        loader.dispose()
    found = []
    offset = 0
    spans = iter(sorted(covered))
    span = next(spans, None)
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        column = line.find("#")
        while column >= 0:
            at = offset + column
            while span is not None and span[1] <= at:
                span = next(spans, None)
            inside = span is not None and span[0] <= at < span[1]
            if not inside and (column == 0 or line[column - 1] in " \t"):
                found.append((number, line[column:].rstrip()))
                break
            column = line.find("#", column + 1)
        offset += len(line)
    return found


def _check_comments_kept(text: str, formatted: str, display: str) -> None:
    """ruamel.yaml drops some comments (one after an alias, for one): refuse to lose any."""
    kept = collections.Counter(comment for _, comment in yaml_comments(formatted))
    for line, comment in yaml_comments(text):
        if kept[comment] > 0:
            kept[comment] -= 1
            continue
        raise SpecErrors(
            [
                SpecError(
                    f"fmt cannot keep this comment ({comment[:40]}); the file is left as it is",
                    origin=Origin(display, line),
                    suggestion="the formatter loses some comments (next to an alias *name, "
                    "or after an empty block scalar): move it, or format this file by hand",
                )
            ]
        )


def _plain_scalars_as_text() -> type:
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    class PlainAsText(VersionedResolver):
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
            if kind is ScalarNode and implicit[0]:
                return self.DEFAULT_SCALAR_TAG
            return super().resolve(kind, value, implicit)

    return PlainAsText


def _quotes_representer() -> type:
    from ruamel.yaml.representer import RoundTripRepresenter
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

    class Quotes(RoundTripRepresenter):
        def represent_quoted(self, data: Any) -> Any:
            style = "'" if ('"' in data or "\\" in data) else '"'
            anchor = data.yaml_anchor(any=True)
            return self.represent_scalar("tag:yaml.org,2002:str", data, style=style, anchor=anchor)

    Quotes.add_representer(SingleQuotedScalarString, Quotes.represent_quoted)
    Quotes.add_representer(DoubleQuotedScalarString, Quotes.represent_quoted)
    return Quotes


def _nemorun_first(data: Any) -> None:
    """Move the top-level ``nemorun`` key first. Its comments move with it: the comment lines
    above it join the file's head comment, and the lines below it stay above the key that
    followed it (ruamel keeps a comment line with the key *before* it)."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if not isinstance(data, CommentedMap) or "nemorun" not in data:
        return
    keys = list(data)
    at = keys.index("nemorun")
    if at == 0:
        return
    holder, last = _last_key(data, keys[at - 1])
    before_eol, before_lines = _split_comment(holder.ca.items.get(last))
    own_eol, own_lines = _split_comment(data.ca.items.get("nemorun"))
    head_lines = before_lines.lstrip("\n")
    if isinstance(holder[last], (dict, list)):  # a comment after "key:" would land inside
        head_lines, own_lines = head_lines + own_lines.lstrip("\n"), ""
    _set_comment(holder.ca.items, last, before_eol, own_lines, CommentToken)
    _set_comment(data.ca.items, "nemorun", own_eol, "", CommentToken)
    if head_lines.strip("\n"):
        head = data.ca.comment
        flush = "".join(line.lstrip(" ") for line in head_lines.splitlines(keepends=True))
        token = CommentToken(flush, CommentMark(0))
        if head is None:
            data.ca.comment = [None, [token]]
        else:
            head[1] = [*(head[1] or []), token]
    data.move_to_end("nemorun", last=False)


def _last_key(mapping: Any, key: Any) -> tuple[Any, Any]:
    """The mapping and key whose comment holds the lines below ``mapping[key]``: the last key of
    its innermost last mapping (ruamel keeps a comment line with the key above it)."""
    from ruamel.yaml.comments import CommentedMap

    while isinstance(mapping[key], CommentedMap) and mapping[key]:
        mapping, key = mapping[key], list(mapping[key])[-1]
    return mapping, key


def _split_comment(entry: Any) -> tuple[str, str]:
    """A key's trailing comment token as (the comment on its own line, the lines after it)."""
    token = entry[2] if entry and len(entry) > 2 else None
    if token is None:
        return "", ""
    eol, _, lines = token.value.partition("\n")
    return eol, lines


def _set_comment(items: dict[Any, Any], key: Any, eol: str, lines: str, token_type: Any) -> None:
    from ruamel.yaml.error import CommentMark

    entry = items.get(key)
    if not eol and not lines:
        if entry:
            entry[2] = None
        return
    if entry is None or entry[2] is None:
        token = token_type(f"{eol}\n{lines}", CommentMark(1 if eol else 0))
        items[key] = [None, None, token, None] if entry is None else [*entry[:2], token, *entry[3:]]
    else:
        entry[2].value = f"{eol}\n{lines}"


def _ruamel_error(exc: Any, display: str) -> SpecError:
    mark = getattr(exc, "problem_mark", None)
    origin = Origin(display, mark.line + 1, mark.column + 1) if mark else Origin(display)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return SpecError(
        f"fmt cannot read this YAML: {problem}",
        origin=origin,
        suggestion="nemorun reads it, but the formatter does not: simplify the construct here",
    )


# --- TOML -------------------------------------------------------------------------------------


def _format_toml(text: str) -> str:
    import tomlkit

    document = tomlkit.parse(text)
    _toml_nemorun_first(document.body)
    _tidy_toml(document)
    return document.as_string().rstrip("\n") + "\n"  # no TOML value ends the file


def _tidy_toml(container: Any) -> None:
    """No indentation, ``key = value``, at most one blank line in a row, in every table."""
    from tomlkit import items

    blank = False
    kept = []
    for key, item in container.body:
        if isinstance(item, items.Whitespace):
            if "\n" not in item.s:
                continue  # spaces at a line's start: indentation
            if blank:
                continue
            blank = True
            item._s = "\n"  # tomlkit has no setter for a blank line's text
            kept.append((key, item))
            continue
        blank = False
        if isinstance(key, items.SingleKey):
            key = items.SingleKey(key.key, key.t, " = ", key.as_string().strip())
        if hasattr(item, "trivia") and not isinstance(item, items.Whitespace):
            item.trivia.indent = ""
        if isinstance(item, items.Table):
            _tidy_toml(item.value)
        elif isinstance(item, items.AoT):
            for table in item.body:
                table.trivia.indent = ""
                _tidy_toml(table.value)
        kept.append((key, item))
    container.body[:] = kept


def _toml_nemorun_first(body: list[Any]) -> None:
    """Move ``nemorun = …`` (and the comment lines right above it) before the other keys."""
    keys = [i for i, (key, _) in enumerate(body) if key is not None]
    at = next((i for i in keys if body[i][0].key == "nemorun"), None)
    if at is None or at == keys[0]:
        return
    start = at
    while start > 0 and body[start - 1][0] is None and _is_comment(body[start - 1][1]):
        start -= 1
    first = keys[0]
    moved = body[start : at + 1]
    del body[start : at + 1]
    body[first:first] = moved


def _is_comment(item: Any) -> bool:
    from tomlkit import items

    return isinstance(item, items.Comment)
