"""A `Skeleton` as YAML or TOML text, each key under the comment lines that explain it.

YAML is written line by line: each plain value by the exporters' `dump_yaml` (so strings are
quoted exactly where YAML 1.2 would read them as something else) and indented under its
parent. TOML goes through tomlkit, which keeps comments; a TOML table must follow its
parent's plain keys, so plain keys come first in each table, then its sub-tables.
"""

from __future__ import annotations

from typing import Any

from nemorun.compiler.dumps import dump_yaml
from nemorun.compiler.skeleton import Field, Section, Skeleton

FORMATS = ("yaml", "toml")
"""The formats a skeleton is written in: those that hold comments."""


def render(skeleton: Skeleton, fmt: str) -> str:
    if fmt == "yaml":
        lines = [f"# {line}" for line in skeleton.header]
        _yaml_section(skeleton.body, "", lines)
        return "\n".join(lines) + "\n"
    if fmt == "toml":
        return _toml(skeleton)
    raise ValueError(f"unknown format {fmt!r}")


def _left_out(field: Field) -> str:
    return f"{field.key}: left out, {field.left_out}"


# --- YAML ---------------------------------------------------------------------------------------


def _yaml_section(section: Section, pad: str, lines: list[str]) -> None:
    for field in section.fields:
        lines.extend(f"{pad}# {line}" for line in field.comment)
        if field.left_out is not None:
            lines.append(f"{pad}# {_left_out(field)}")
        elif not field.is_section():
            text = _yaml_flow(field.key, field.value) or dump_yaml({field.key: field.value})
            lines.extend(f"{pad}{line}" if line else line for line in text.rstrip("\n").split("\n"))
        elif field.value.fields or field.value.notes:
            key = dump_yaml({field.key: 0}).rstrip("\n").removesuffix(" 0")
            lines.append(f"{pad}{key}")
            _yaml_section(field.value, pad + "  ", lines)
        else:  # a class without arguments
            lines.append(f"{pad}{dump_yaml({field.key: {}}).rstrip()}")
    lines.extend(f"{pad}# {note}" for note in section.notes)


def _yaml_flow(key: str, value: Any) -> str | None:
    """``key: [a, b]`` for a short list of one-line scalars (as people write them), else None."""
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(v, (str, int, float, bool)) or v is None for v in value):
        return None
    items = [dump_yaml([v]).rstrip("\n") for v in value]
    if any("\n" in item or not item.startswith("- ") for item in items):
        return None
    head = dump_yaml({key: 0}).rstrip("\n").removesuffix(" 0")
    text = f"{head} [{', '.join(item[2:] for item in items)}]"
    return text if len(text) <= 100 and not any(_FLOW_UNSAFE & set(i[2:]) for i in items) else None


_FLOW_UNSAFE = set(",[]{}#&*!|>%@`")
"""Characters a plain scalar may hold in a block list but not inside ``[…]``."""


# --- TOML ---------------------------------------------------------------------------------------


def _toml(skeleton: Skeleton) -> str:
    import tomlkit

    doc = tomlkit.document()
    for line in skeleton.header:
        doc.add(tomlkit.comment(line))
    _toml_fill(doc, skeleton.body)
    return tomlkit.dumps(doc)


def _toml_fill(container: Any, section: Section) -> None:
    import tomlkit

    for field in section.fields:
        if field.is_section():
            continue
        for line in field.comment:
            container.add(tomlkit.comment(line))
        if field.left_out is not None:
            container.add(tomlkit.comment(_left_out(field)))
        else:
            container.add(field.key, _toml_value(field.value))
    for note in section.notes:
        container.add(tomlkit.comment(note))
    for field in section.fields:
        if field.is_section():
            container.add(tomlkit.nl())
            for line in field.comment:
                container.add(tomlkit.comment(line))
            table = tomlkit.table()
            _toml_fill(table, field.value)
            container.add(field.key, table)
            table.trivia.indent = ""  # its comment sits right above its header, not apart


def _toml_value(value: Any) -> Any:
    """Mappings as inline tables and lists as arrays, at any depth: a plain value is one line,
    never a table that would end its parent's keys."""
    import tomlkit

    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for key, item in value.items():
            table.append(str(key), _toml_value(item))
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        for item in value:
            array.append(_toml_value(item))
        return array
    return value
