"""The first line of a spec that tells an editor where its JSON Schema is.

YAML gets yaml-language-server's ``# yaml-language-server: $schema=<ref>`` (VS Code's YAML
extension, Neovim, Helix, Zed…); TOML gets taplo's ``#:schema <ref>`` (Even Better TOML). The
schema file is the one ``nemorun schema SPEC -o FILE`` writes, kept in a ``.nemorun/`` directory
beside the spec, named after the spec file (`schema_file`): one schema per spec, since each
describes its own task's arguments, and out of the way of ``nemorun validate configs/*``, which
would read a ``.json`` beside the specs as one more spec. The reference is relative to the spec
(``./.nemorun/train.yaml.schema.json``), so it holds in every checkout; both servers resolve it
from the document's own directory.
"""

from __future__ import annotations

import re
from pathlib import Path

SCHEMA_DIR = ".nemorun"
"""Where a spec's schema file lives, relative to the spec's directory."""

_YAML_MODELINE = re.compile(r"#\s*yaml-language-server\s*:.*\$schema=")
_TOML_DIRECTIVE = re.compile(r"#:schema\s")


def schema_file(spec_path: Path) -> Path:
    """The schema file of the spec at ``spec_path``: ``<dir>/.nemorun/<file name>.schema.json``."""
    return spec_path.parent / SCHEMA_DIR / f"{spec_path.name}.schema.json"


def schema_ref(spec_path: Path) -> str:
    """The reference a modeline writes: the schema file, relative to the spec."""
    return f"./{SCHEMA_DIR}/{spec_path.name}.schema.json"


def modeline(spec_path: Path, fmt: str) -> str:
    """The modeline (no newline) for a spec at ``spec_path`` in ``fmt`` (``yaml`` or ``toml``)."""
    if fmt == "toml":
        return f"#:schema {schema_ref(spec_path)}"
    if fmt == "yaml":
        return f"# yaml-language-server: $schema={schema_ref(spec_path)}"
    raise ValueError(f"no modeline for {fmt} specs: only YAML and TOML have one")


def add_modeline(text: str, spec_path: Path, fmt: str) -> tuple[str, Path]:
    """``text`` with its modeline as the first line, and the schema file it points at.

    A modeline already in the file's leading comment lines is replaced (so the result is the
    same however often this runs); nothing else changes. ``fmt`` is ``"yaml"`` or ``"toml"``;
    the caller writes the schema file (``nemorun schema SPEC -o <that path>``). Used by
    ``nemorun fmt --modeline`` and by ``nemorun new``."""
    pattern = _TOML_DIRECTIVE if fmt == "toml" else _YAML_MODELINE
    line = modeline(spec_path, fmt)
    lines = text.splitlines(keepends=True)
    head = 0
    while head < len(lines) and lines[head].lstrip().startswith("#"):
        head += 1
    kept = [old for old in lines[:head] if not pattern.match(old.lstrip())]
    return "".join([line + "\n", *kept, *lines[head:]]), schema_file(spec_path)


def format_of(spec_path: Path) -> str | None:
    """``"yaml"`` or ``"toml"`` from the file's suffix; None for a format without a modeline."""
    suffix = spec_path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix == ".toml":
        return "toml"
    return None
