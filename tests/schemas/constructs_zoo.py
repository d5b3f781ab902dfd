"""Stand-ins for the typing constructs of real libraries' signatures (torch, Lightning,
transformers), for `test_typing_constructs`. `probe` writes what it received, with types, to
a JSON file, so a test sees what the job got."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Generic,
    NamedTuple,
    NotRequired,
    Required,
    TypedDict,
    TypeVar,
    overload,
)

T = TypeVar("T")


class Schedule(TypedDict):
    name: str
    warmup: NotRequired[int]


class Extras(TypedDict, total=False):
    beta: float
    steps: Required[int]


class ImageSize(NamedTuple):
    width: int
    height: int = 224


class Bucket(Generic[T]):
    def __init__(self, items: list[T], label: str = "bucket") -> None:
        self.items = items
        self.label = label

    def __repr__(self) -> str:
        return f"Bucket({self.items!r}, {self.label!r})"


class Logger:
    def __repr__(self) -> str:
        return f"{type(self).__name__}({vars(self)})"


class CsvLogger(Logger):
    def __init__(self, folder: str, flush_every: int = 10) -> None:
        self.folder = folder
        self.flush_every = flush_every


@dataclass(frozen=True)
class AtLeast:
    """A constraint spelled like annotated-types' ``Ge``, without that library."""

    ge: int


@dataclass(frozen=True)
class Between:
    """Like annotated-types' ``Interval``."""

    gt: float | None = None
    le: float | None = None


@dataclass(frozen=True)
class Length:
    """Like annotated-types' ``Len``."""

    min_length: int = 0
    max_length: int | None = None


class RecurrentBase:
    """A base class that documents its arguments.

    Args:
        mode: Which cell.
        hidden_size: Features in the hidden state.
        layers: How many layers.
    """

    def __init__(self, mode: str, hidden_size: int, layers: int = 1) -> None:
        self.mode = mode
        self.hidden_size = hidden_size
        self.layers = layers

    def __repr__(self) -> str:
        return f"{type(self).__name__}({vars(self)})"


class Lstm(RecurrentBase):
    """Forwards everything, filling ``mode`` itself (``torch.nn.LSTM``'s shape)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__("lstm", *args, **kwargs)


class Gru(RecurrentBase):
    """Forwards everything, and declares what it takes in a typed overload."""

    @overload
    def __init__(self, hidden_size: int, layers: int = 1, *, gated: bool = True) -> None: ...

    @overload
    def __init__(self, *args: Any, **kwargs: Any) -> None: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.gated = kwargs.pop("gated", True)
        super().__init__("gru", *args, **kwargs)


class Opaque(RecurrentBase):
    """Forwards to its base in a way nobody can follow: left unchecked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs = {k.lower(): v for k, v in kwargs.items()}
        super().__init__("opaque", *args, **kwargs)


def _shown(value: Any) -> Any:
    """What a value is, with its type, as JSON."""
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return {type(value).__name__: [_shown(v) for v in value]}
    if isinstance(value, dict):
        return {"dict": {k: _shown(v) for k, v in value.items()}}
    if value is None or type(value) in (int, float, str, bool):
        return value
    return {type(value).__name__: repr(value)}


def probe(
    out: str,
    schedule: Schedule | None = None,
    extras: Extras | None = None,
    size: ImageSize | None = None,
    bucket: Bucket[int] | None = None,
    interval: datetime.timedelta | None = None,
    root: os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    numbers: Iterable[int] = (),
    names: Collection[str] = (),
    loggers: Iterable[Logger] = (),
    batch: Annotated[int, AtLeast(1)] = 1,
    dropout: Annotated[float, Between(gt=0.0, le=1.0)] = 0.5,
    tags: Annotated[list[str], Length(1, 2)] = ("a",),  # type: ignore[assignment]
    model: RecurrentBase | None = None,
) -> None:
    received = dict(locals())
    del received["out"]
    with open(out, "w", encoding="utf-8") as f:
        json.dump({k: _shown(v) for k, v in received.items()}, f)


class StackedLstm(Lstm):
    """Inherits `Lstm`'s forwarding ``__init__``."""
