"""Training code shaped like Lightning's, for the JSON Schema and editor tests: base classes as
hints, subclasses named by ``_target_``, a factory, and docs in every style and place."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Any, Literal


class Accelerator(enum.Enum):
    CPU = "cpu"
    GPU = "gpu"


class Logger:
    """Base of every logger."""

    def __init__(self, prefix: str = "") -> None:
        """Args:
        prefix: Put before every metric name.
        """
        self.prefix = prefix


class CSVLogger(Logger):
    def __init__(self, save_dir: str, name: str = "lightning_logs", flush_every: int = 100) -> None:
        """Log to a CSV file.

        Args:
            save_dir: Save directory of the CSV files.
            name: Experiment name.
            flush_every: How often to flush logs to disk.
        """
        super().__init__()
        self.save_dir, self.name, self.flush_every = save_dir, name, flush_every


class TensorBoardLogger(Logger):
    """Log to TensorBoard.

    :param log_dir: Where the event files go.
    """

    def __init__(self, log_dir: str, prefix: str = "") -> None:
        super().__init__(prefix)
        self.log_dir = log_dir


def make_logger(version: int, root: str = "/tmp/logs") -> Logger:
    """A CSV logger for one version.

    Parameters
    ----------
    version : int
        The version to log under.
    root : str
        Where the versions are.
    """
    return CSVLogger(f"{root}/v{version}")


class Callback:
    """Base of every callback."""


class ModelCheckpoint(Callback):
    """Save the model periodically.

    Parameters
    ----------
    monitor : str
        Quantity to monitor.
    save_top_k : int
        How many of the best models to keep.
    """

    def __init__(self, monitor: str | None = None, save_top_k: int = 1) -> None:
        self.monitor, self.save_top_k = monitor, save_top_k


class EarlyStopping(Callback):
    def __init__(
        self, monitor: str, patience: int = 3, mode: Literal["min", "max"] = "min"
    ) -> None:
        """Stop when a metric stops improving.

        :param monitor: Quantity to be monitored.
        :param patience: Checks with no improvement after which training stops.
        :param mode: Whether the quantity should go down or up.
        """
        self.monitor, self.patience, self.mode = monitor, patience, mode


class Trainer:
    def __init__(
        self,
        max_epochs: int = 1,
        accelerator: Accelerator = Accelerator.CPU,
        precision: Literal["32", "16-mixed", "bf16-mixed"] = "32",
        logger: Logger | None = None,
        callbacks: list[Callback] | None = None,
        default_root_dir: str | None = None,
        plugins: Any = None,
    ) -> None:
        """Customize every aspect of training.

        Args:
            max_epochs: Stop training once this number of epochs is reached.
            accelerator: The hardware to run on.
            precision: Double, full or half precision.
            logger: Logger for experiment tracking: a :class:`~editor_zoo.Logger` or
                ``None``.
            callbacks: Add a callback or list of callbacks.
            default_root_dir: Default path for logs and weights.
            plugins: Anything at all (not annotated in the library).
        """
        self.max_epochs, self.accelerator, self.precision = max_epochs, accelerator, precision
        self.logger, self.callbacks, self.default_root_dir = logger, callbacks, default_root_dir
        self.plugins = plugins


def warmup(step: int) -> float:
    """A learning-rate factor."""
    return min(1.0, step / 10)


def fit(
    trainer: Trainer,
    tag: str = "",
    seed: int = 0,
    labels: set[str] | None = None,
    schedule: Callable[[int], float] | None = None,
    make_logger: Callable[..., Logger] | None = None,
    loggers: Iterable[Logger] = (),
    devices: list[int] | str | int = "auto",
) -> str:
    """Fit a model and say what the job received.

    Args:
        trainer: The trainer that runs the loop.
        tag: A label for the run.
        seed: Random seed.
        labels: More labels.
        schedule: The learning-rate schedule.
        make_logger: Makes the logger, given the run's name.
        loggers: More loggers.
        devices: Which devices, how many, or "auto".
    """
    return f"{type(trainer.logger).__name__} {[type(c).__name__ for c in trainer.callbacks or []]}"
