"""``nemorun migrate``: rewrite a spec of an older format (or NeMo-Run's YAML) as format 1.

The migrations themselves are registered in `nemorun.schemas.versions`; this module only reads
the file, runs them and writes the result in the file's own format (YAML stays YAML).
"""

from __future__ import annotations

from pathlib import Path

from nemorun.schemas import versions
from nemorun.schemas.source import load_document


def migrate_file(path: Path) -> tuple[str, list[str]]:
    """The text of ``path`` in the current format, and the summaries of the steps applied."""
    document = load_document(path)
    version = versions.detect_version(document.tree, document.display, document.origins)
    if version == versions.CURRENT_VERSION:
        return path.read_text(encoding="utf-8"), []
    tree, _, applied = versions.upgrade(document.tree, document.origins, version)
    from nemorun.compiler.dumps import dump

    fmt = "toml" if path.suffix.lower() == ".toml" else "json" if path.suffix == ".json" else "yaml"
    body = dump(tree, fmt)
    if fmt == "json":
        return body, applied
    header = f"# Migrated from spec format {version} by 'nemorun migrate'.\n"
    return header + body, applied
