"""Types for the conversion tests: one of each kind of annotation the validator understands.

Specs in the tests name these as ``zoo_types:<name>`` with ``pythonpath:`` pointing at this
directory, exactly as a user's spec names their own code.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = 3


class Swapped(enum.Enum):
    """Each member's value is the other's name: the name must win."""

    UP = "DOWN"
    DOWN = "UP"


@dataclass
class Inner:
    size: int = 1
    label: str = "inner"


@dataclass
class Outer:
    inner: Inner = field(default_factory=Inner)
    scale: float = 1.0


@dataclass
class Base:
    width: int = 8


@dataclass
class Wide(Base):
    """A subclass of `Base`: accepted where a `Base` is annotated."""

    extra: int = 0


@dataclass
class Unrelated:
    width: int = 8


class Tokenizer:
    """Not a dataclass: a class whose typed ``__init__`` is its schema."""

    def __init__(self, vocab: int, lowercase: bool = True) -> None:
        self.vocab = vocab
        self.lowercase = lowercase


@dataclass
class NeedsName:
    name: str
    size: int = 2


def double(x: float) -> float:
    return 2 * x


@dataclass
class Zoo:
    """A task whose arguments cover every supported annotation; all have defaults."""

    count: int = 0
    rate: float = 0.0
    tag: str = ""
    flag: bool = False
    where: Path = Path("/tmp")
    color: Color = Color.RED
    swapped: Swapped = Swapped.UP
    mode: Literal["fast", "slow", 3] = "fast"
    maybe: int | None = None
    either: int | str | None = None
    sized: int | Inner = 0
    numbers: list[int] = field(default_factory=list)
    varied: tuple[int, ...] = ()
    pair: tuple[int, str] = (0, "")
    table: dict[str, float] = field(default_factory=dict)
    unique: set[int] = field(default_factory=set)
    outer: Outer = field(default_factory=Outer)
    backup: Outer | None = None
    base: Base = field(default_factory=Base)
    tokenizer: Tokenizer | None = None
    fn: Callable[[float], float] = double
    anything: Any = None
    named: NeedsName | None = None


def with_kwargs(size: int = 1, **kwargs: int) -> dict[str, Any]:
    """Extra keyword arguments must be ints."""
    return {"size": size, **kwargs}


def with_required(model: Inner, steps: int, tag: str = "") -> None:
    """A task with required arguments."""
