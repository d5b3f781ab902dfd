"""An export's plain tree as text, and what each format cannot say.

`dump` writes YAML, TOML or JSON. JSON files are read by the YAML loader, so JSON text is also
written to mean the same in YAML 1.1 (see `dump_json`); a literal ``${`` in any string is
escaped as ``\\${`` (`escape_text`); a key a format cannot hold is refused (`key_text`).
"""

from __future__ import annotations

import enum
import json
import os
import re
from pathlib import Path
from typing import Any

from nemorun.errors import KeyPath, SpecError
from nemorun.schemas.yamlload import core_scalar

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
    are; JSON and TOML keys are strings, so such a key would load back as another value. An
    enum member is written by its name, as validation reads it back."""
    if isinstance(key, enum.Enum):
        return key.name
    if isinstance(key, str) or fmt == "yaml":
        return key
    raise SpecError(
        f"{fmt.upper()} keys are text, so the key {key!r} would load back as {str(key)!r}",
        suggestion="export as yaml or python",
    )


def dump(tree: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return dump_json(tree)
    if fmt == "toml":
        import tomlkit

        return tomlkit.dumps(_toml_order(tree))
    if fmt == "yaml":
        return dump_yaml(tree)
    raise ValueError(f"unknown format {fmt!r}")


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
    if style is None and core_scalar(data) != data:  # YAML 1.2 would read it as no string
        style = "'"  # (`1e3`, `0o17`: PyYAML's YAML 1.1 leaves them plain)
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
