"""Every kind of argument type nemorun supports, for the round-trip tests.

Specs point at this module with ``pythonpath:`` (its directory) and ``_target_: typezoo:…``.
The tasks only report what they received: `zoo_task` returns its arguments, `show` prints one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union


class Color(enum.Enum):
    """An enum with string values."""

    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Level(enum.Enum):
    """An enum with int values."""

    LOW = 1
    MID = 2
    HIGH = 3


def square(x: float) -> float:
    """A module-level function, passed by reference to `Callable` arguments."""
    return x * x


def negate(x: float) -> float:
    return -x


@dataclass
class Leaf:
    """A small nested config; the one shared through a YAML alias in the tests."""

    name: str
    weight: float = 1.0
    color: Color = Color.RED


@dataclass
class HeavyLeaf(Leaf):
    """A subclass, given by ``_target_`` where the hint says `Leaf`."""

    mass: int = 0


@dataclass
class Bundle:
    """A config holding configs; shared whole, or holding a shared Leaf."""

    first: Leaf
    second: Leaf | None = None


@dataclass
class Scalars:
    """Every scalar type; all required."""

    i: int
    f: float
    s: str
    b: bool
    p: Path
    color: Color
    level: Level
    mode: Literal["train", "eval", "test"]
    rank: Literal[1, 2, 3]


@dataclass
class Containers:
    """Every container type, holding scalars and configs."""

    ints: list[int] = field(default_factory=list)
    floats: tuple[float, ...] = ()
    pair: tuple[str, int] = ("a", 0)
    table: dict[str, float] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)
    frozen: frozenset[int] = frozenset()
    paths: list[Path] = field(default_factory=list)
    colors: list[Color] = field(default_factory=list)
    color_set: set[Color] = field(default_factory=set)
    leaves: list[Leaf] = field(default_factory=list)
    by_name: dict[str, Leaf] = field(default_factory=dict)
    nested: list[list[int]] = field(default_factory=list)
    bundle: Bundle | None = None


@dataclass
class Options:
    """Optional, Union (both spellings), Any and Callable arguments, all with defaults."""

    maybe_int: Optional[int] = None  # noqa: UP045 (typing.Union on purpose)
    maybe_text: str | None = "text"
    maybe_leaf: Optional[Leaf] = None  # noqa: UP045 (typing.Union on purpose)
    maybe_path: Path | None = None
    number_or_text: Union[int, str] = 0  # noqa: UP007 (typing.Union on purpose)
    leaf_or_number: Union[Leaf, float] = 0.0  # noqa: UP007 (typing.Union on purpose)
    anything: Any = None
    fn: Callable[[float], float] = square
    bundle: Optional[Bundle] = None  # noqa: UP045 (typing.Union on purpose)


class Plain:
    """A plain class with a typed ``__init__``, a required argument and ``**kwargs``."""

    def __init__(self, size: int, label: str = "plain", **extra: float) -> None:
        self.size = size
        self.label = label
        self.extra = extra


def zoo_task(
    scalars: Scalars,
    containers: Containers,
    options: Options,
    plain: Plain,
    left: Leaf,
    right: Leaf,
    steps: int = 1,
) -> dict[str, Any]:
    """The task: takes one of each root config (``left`` and ``right`` may be one shared Leaf)."""
    return {
        "scalars": scalars,
        "containers": containers,
        "options": options,
        "plain": plain,
        "left": left,
        "right": right,
        "steps": steps,
    }


def show(
    value: Path,
    label: str = "value",
    count: int | None = None,
    level: Level = Level.LOW,
    flag: bool = False,
    rank: Literal[1, 2, 3] = 1,
    either: int | str = 0,
    ratio: float = 0.0,
) -> None:
    """Print the arguments with their types (the env-reference tests read them from stdout)."""
    print(
        f"{label}: value={value!r} count={count!r} level={level!r} flag={flag!r} rank={rank!r}"
        f" either={either!r} ratio={ratio!r}",
        flush=True,
    )
