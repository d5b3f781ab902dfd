"""A task that returns what it received, for the YAML-reading tests."""

from __future__ import annotations

import enum
import os
from dataclasses import InitVar, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, NewType


def take(  # type: ignore[no-untyped-def]
    text: str = "",
    count: int = 0,
    ratio: float = 0.0,
    either: str | int = "",
    interval: int | timedelta | None = None,
    untyped=None,
    steps: int = 100,
    folder: Path = Path("."),
    **extra: Any,
) -> dict[str, Any]:
    return {
        "folder": folder,
        "text": text,
        "count": count,
        "ratio": ratio,
        "either": either,
        "interval": interval,
        "untyped": untyped,
        "steps": steps,
        **extra,
    }


@dataclass
class Student:
    hidden: int = 1


@dataclass
class Teacher:
    hidden: int = 1


def distill(student: Student, teacher: Teacher) -> dict[str, Any]:
    return {"student": student, "teacher": teacher}


class AtLeast:
    """An annotated-types-like bound, read by attribute."""

    def __init__(self, ge: int) -> None:
        self.ge = ge


def bounded(workers: Annotated[int, AtLeast(1)] | str = 1) -> dict[str, Any]:
    return {"workers": workers}


def _data_root() -> str:
    return os.environ["VALUES_ZOO_DATA_ROOT"]  # read when the job makes the default


@dataclass
class Data:
    root: str = field(default_factory=_data_root)
    size: int = 1


def read(data: Data) -> dict[str, Any]:
    return {"data": data}


class Size(NamedTuple):
    w: int
    h: int


def sizes(s: frozenset[Size] = frozenset(), plain: frozenset[int] = frozenset()) -> dict[str, Any]:
    return {"s": s, "plain": plain}


class Split(enum.Enum):
    TRAIN = "train"
    VAL = "val"


def weighted(weights: dict[Split, float] | None = None) -> dict[str, Any]:
    return {"weights": weights}


class Verbose:
    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose


class Sink:
    def __init__(self, save_dir: str, name: str = "x") -> None:
        self.save_dir = save_dir


class MySink(Verbose, Sink):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Sink.__init__(self, *args, **kwargs)


def sink(out: Sink) -> dict[str, Any]:
    return {"out": out}


UserId = NewType("UserId", int)


@dataclass
class Scaled:
    x: int
    scale: InitVar[float] = 1.0

    def __post_init__(self, scale: float) -> None:
        self.x = int(self.x * scale)


def newtypes(uid: UserId = UserId(0), scaled: Scaled | None = None) -> dict[str, Any]:
    return {"uid": uid, "scaled": scaled}


def limited(n: Annotated[int, AtLeast(0)] | None = None) -> dict[str, Any]:
    return {"n": n}


def pick(split: Literal[Split.TRAIN, "all"] = "all") -> dict[str, Any]:
    return {"split": split}
