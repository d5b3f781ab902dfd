"""Stand-ins for the signatures of ML libraries (optimizers, modules, loggers, callbacks, a
protocol), for `test_signature_semantics`. Plain Python: the job's entry imports this module
where neither nemorun nor Fiddle is installed.

Each ``fit_*`` task returns the arguments it received, so a test sees what the job gets.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Literal, Protocol

# --- an optimizer library --------------------------------------------------------------------


class Optimizer:
    def __init__(self, params: list[float], defaults: dict[str, Any]) -> None:
        self.params = list(params)
        self.defaults = defaults


class SGD(Optimizer):
    def __init__(self, params: list[float], lr: float = 0.01, momentum: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum})


class Lion(Optimizer):
    def __init__(self, params: list[float], lr: float, beta: float = 0.9) -> None:
        super().__init__(params, {"lr": lr, "beta": beta})


def make_adam(params: list[float], beta: float = 0.9) -> Adam:
    return Adam(params, {"beta": beta})


class Adam(Optimizer):
    pass


def make_anything(params: list[float], scale: float = 1.0):  # type: ignore[no-untyped-def]
    """A factory without a return annotation: what it makes cannot be checked."""
    return SGD(params, lr=scale)


def make_schedule(warmup: int) -> Callable[[int], float]:
    def schedule(step: int) -> float:
        return min(1.0, step / warmup)

    return schedule


def warmup(step):  # type: ignore[no-untyped-def]
    """An unannotated function, as schedulers' ``lr_lambda`` takes."""
    return step * 10


CONSTANT = 3

# --- modules ---------------------------------------------------------------------------------


class Module:
    def __call__(self, x: float) -> float:
        return x


class Linear(Module):
    def __init__(self, size: int = 4) -> None:
        self.size = size


def make_linear(size: int = 8) -> Linear:
    return Linear(size)


def make_logger() -> CSVLogger:
    return CSVLogger("logs")


def make_untyped(size: int = 2):  # type: ignore[no-untyped-def]
    return Linear(size)


# --- loggers and callbacks: base classes without an __init__ of their own ---------------------


class Logger:
    def log(self, value: float) -> None:
        pass


class CSVLogger(Logger):
    def __init__(self, save_dir: str, flush: int = 10) -> None:
        self.save_dir = save_dir
        self.flush = flush


class Callback:
    pass


class Checkpoint(Callback):
    def __init__(self, every: int = 1) -> None:
        self.every = every


# --- a protocol --------------------------------------------------------------------------------


class Sink(Protocol):
    def write(self, text: str) -> None: ...


class Named(Protocol):
    name: str

    def write(self, text: str) -> None: ...


class FileSink:
    def __init__(self, path: str = "out.txt") -> None:
        self.path = path

    def write(self, text: str) -> None:
        pass


class NamedSink(FileSink):
    name: str = "named"


class LateNamedSink(FileSink):
    """Has ``name`` only once built: whether it implements `Named` cannot be told."""

    def __init__(self, path: str = "out.txt") -> None:
        super().__init__(path)
        self.name = path


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


# --- tasks: each returns what it received ------------------------------------------------------


def fit_unions(
    version: int | str = 0,
    tag: str | int = "",
    devices: list[int] | str | int = "auto",
    ratio: str | float = "",
    count: float | int = 0,
    scale: float | str = 1.0,
    flag: str | bool = "",
    level: str | Level = "",
    mode: int | Literal["auto"] = "auto",
) -> dict[str, Any]:
    return dict(locals())


def fit_factories(
    optimizer: Callable[[list[float]], Optimizer] | None = None,
    make: Callable[..., Optimizer] | None = None,
    schedule: Callable[[int], float] | None = None,
) -> dict[str, Any]:
    return dict(locals())


def fit_classes(
    model: Module | None = None,
    logger: Logger | None = None,
    callbacks: list[Callback] | None = None,
    sink: Sink | None = None,
    named: Named | None = None,
    loggers: Logger | list[Logger] | bool = False,
    either: Callback | Logger | None = None,
) -> dict[str, Any]:
    return dict(locals())


def fit_untyped(lr_lambda=None, options=None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return {"lr_lambda": lr_lambda, "options": options}


def fit_flag(flag: bool = False) -> dict[str, Any]:
    return {"flag": flag}
