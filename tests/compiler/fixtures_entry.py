"""Tasks for the entry-point and compile tests: they report what they received, exactly.

Standard library only, so a generated entry point can import this module from an interpreter
that has neither nemorun nor fiddle. Each task writes a JSON report to the file ``out`` names.
"""

from __future__ import annotations

import enum
import json
import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Color(enum.Enum):
    RED = "r"
    GREEN = "g"


@dataclass
class Inner:
    size: int = 1
    color: Color = Color.RED


@dataclass
class Outer:
    first: Inner
    second: Inner
    extra: list[Inner] = field(default_factory=list)


def double(x: int) -> int:
    return 2 * x


def _describe(value: Any) -> Any:
    """A JSON picture of ``value`` that keeps its type."""
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__name__}.{value.name}"}
    if isinstance(value, pathlib.PurePath):
        return {"path": str(value)}
    if isinstance(value, (set, frozenset)):
        return {type(value).__name__: sorted(_describe(v) for v in value)}
    if isinstance(value, tuple):
        return {"tuple": [_describe(v) for v in value]}
    if isinstance(value, list):
        return [_describe(v) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): _describe(v) for k, v in value.items()}}
    if isinstance(value, (Inner, Outer)):
        return {type(value).__name__: {k: _describe(v) for k, v in vars(value).items()}}
    if callable(value):
        return {"callable": f"{value.__module__}:{value.__qualname__}"}
    return value


def probe(
    out: str,
    count: int = 0,
    ratio: float = 0.0,
    flag: bool = False,
    name: str = "",
    nothing: int | None = 5,
    where: pathlib.Path = pathlib.Path("."),
    color: Color = Color.RED,
    pair: tuple[int, str] = (0, ""),
    items: list[float] | None = None,
    table: dict[str, int] | None = None,
    tags: set[str] | None = None,
    inner: Inner | None = None,
    outer: Outer | None = None,
    fn: Callable[[int], int] | None = None,
    maybe: int | None = None,
    env_flag: bool = False,
    env_path: pathlib.Path | None = None,
    env_color: Color = Color.RED,
    env_text: str = "",
) -> None:
    """Write every argument, with its type, to ``out``."""
    args = dict(locals())
    report = {k: _describe(v) for k, v in args.items() if k != "out"}
    report["shared"] = outer is not None and outer.first is outer.second
    report["point"] = os.environ.get("NEMORUN_POINT")
    pathlib.Path(out).write_text(json.dumps(report, sort_keys=True), encoding="utf-8")


def echo(out: str, text: str, where: pathlib.Path = pathlib.Path(".")) -> None:
    """Append what the job received (argument, environment, run name) as one JSON line."""
    report = {
        "text": text,
        "where": str(where),
        "env": os.environ.get("HOSTILE"),
        "run_name": os.environ.get("NEMORUN_RUN_NAME"),
        "point": os.environ.get("NEMORUN_POINT"),
    }
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(report) + "\n")
