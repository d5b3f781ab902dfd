"""The spec's settings that name directories (``pythonpath``, ``templates``): each is relative
to the file that wrote it (a base spec's own, for ``extends``), or to the current directory
when an override set it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemorun.errors import Collector, KeyPath, SpecError
from nemorun.schemas.convert import INVALID, Validator
from nemorun.schemas.entries import env_read_by_nemorun
from nemorun.schemas.source import find_origin, value_origin

if TYPE_CHECKING:
    from nemorun.schemas.spec import Resolved


def pythonpath(tree: dict[str, Any], resolved: Resolved, errors: Collector) -> list[Path]:
    raw = tree.get("pythonpath", [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        errors.add(
            SpecError(
                "wrong type",
                ("pythonpath",),
                value_origin(resolved.origins, ("pythonpath",)),
                expected="a list of directories, relative to the spec file",
                found=repr(raw),
            )
        )
        return []
    nul = [i for i, p in enumerate(raw) if "\0" in p]
    for i in nul:
        errors.add(_nul_in_path(("pythonpath", i), raw[i], resolved))
    return [
        (_written_in(resolved, ("pythonpath", i)) / p).resolve()
        for i, p in enumerate(raw)
        if i not in nul
    ]


def _nul_in_path(path: KeyPath, value: str, resolved: Resolved) -> SpecError:
    return SpecError(
        "a path cannot hold a NUL character",
        path,
        value_origin(resolved.origins, path),
        found=repr(value),
        suggestion="remove the NUL character",
    )


def templates(v: Validator, tree: dict[str, Any], resolved: Resolved) -> Path | None:
    raw = tree.get("templates")
    if raw is None or env_read_by_nemorun(v, raw, ("templates",)):
        return None
    value = v.value(raw, str, ("templates",))
    if value is INVALID:
        return None
    if "\0" in value:
        v.errors.add(_nul_in_path(("templates",), value, resolved))
        return None
    directory = (_written_in(resolved, ("templates",)) / value).resolve()
    if not directory.is_dir():
        v.error(
            ("templates",),
            f"no such template directory: {directory}",
            suggestion="the path is relative to the spec file that names it",
            at_value=True,
        )
        return None
    return directory


def _written_in(resolved: Resolved, path: KeyPath) -> Path:
    """The directory a relative path written at ``path`` is relative to: that of the file it
    was written in (a base spec's own directory, for ``extends``), or the current directory
    for a command-line override."""
    origin = find_origin(resolved.origins, path)
    if origin is not None and origin.is_override():
        return Path.cwd()
    if origin is not None and origin.file is not None:
        return Path(origin.file).parent
    return resolved.source.parent
