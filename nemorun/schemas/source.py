"""Read a YAML or TOML spec into plain Python values plus the position of every key.

The tree is made of plain dicts, lists and scalars, so everything downstream (merging, overrides,
OmegaConf interpolation, validation) works on ordinary data. Positions live beside it in
`Document.origins`, keyed by key path (`nemorun.schemas.document`). The loaders live
by format (`yamlload`, `tomlload`); JSON is here: its values are read by `json` (so ``1e-3``
is a number, as JSON says, not YAML 1.1's string), and its positions come from reading the
same text as YAML flow style.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from nemorun.errors import KeyPath, Origin, SpecError, SpecErrors
from nemorun.schemas.document import (
    MAX_DEPTH,
    MAX_PATHS,
    Document,
    check_size,
    find_origin,
    leaves,
    too_deep,
    unreadable_number,
    value_origin,
)
from nemorun.schemas.tomlload import load_toml
from nemorun.schemas.yamlload import load_yaml

__all__ = [  # the loaders' users import these from here; each has its home module
    "MAX_DEPTH",
    "MAX_PATHS",
    "Document",
    "check_size",
    "display_name",
    "find_origin",
    "load_document",
    "parse_document",
    "read_from",
    "read_path",
    "value_origin",
]

YAML_SUFFIXES = (".yaml", ".yml")


TOML_SUFFIXES = (".toml",)


JSON_SUFFIXES = (".json",)


def display_name(path: Path) -> str:
    """Paths in messages are relative to the current directory when that is shorter."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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


def parse_document(text: str, path: Path, display: str | None = None) -> Document:
    display = display or display_name(path)
    try:
        document = _parse(text, path, display)
    except RecursionError:
        raise SpecErrors([too_deep(Origin(display))]) from None
    check_size(document.tree, display)
    return document


def _parse(text: str, path: Path, display: str) -> Document:
    suffix = path.suffix.lower()
    if suffix in TOML_SUFFIXES:
        return load_toml(text, path, display)
    if suffix in JSON_SUFFIXES:
        return _load_json(text, path, display)
    if suffix in YAML_SUFFIXES:
        return load_yaml(text, path, display)
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
        raise SpecErrors([unreadable_number(exc, display)]) from None
    origins: dict[KeyPath, Origin] = {}
    try:
        origins = load_yaml(_NOT_YAML.sub(" ", text), path, display).origins
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
    for at, value in leaves(node, path):
        if isinstance(value, str) and _SURROGATE.search(value):
            yield at
