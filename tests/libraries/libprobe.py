"""Task functions for the real-library tests: each takes values typed with a library's own
classes, so a spec's ``_target_`` mappings are checked against the library's real signatures,
and returns (or prints) what it received."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from torch.optim.lr_scheduler import LRScheduler


def show(**values: Any) -> dict[str, Any]:
    """Whatever the spec gives, built."""
    return values


def fit(optimizer: Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]) -> Any:
    """The factory pattern of training code: the task supplies the parameters."""
    return optimizer(torch.nn.Linear(2, 2).parameters())


def schedule(scheduler: Callable[[torch.optim.Optimizer], LRScheduler]) -> Any:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=1.0)
    return scheduler(optimizer)


def tensors(dtype: torch.dtype, device: torch.device) -> Any:
    return torch.zeros(2, dtype=dtype, device=device)


def warmup(step: int) -> float:
    return min(1.0, (step + 1) / 10)


class ToyData(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> Any:
        return torch.tensor([float(index)])


def report(
    trainer: Trainer,
    callbacks: list[Callback],
    logger: Logger,
    interval: timedelta,
    dtype: torch.dtype,
    lstm: torch.nn.Module,
) -> None:
    """Print, as JSON, what the job received: the proof that runs the artifact."""
    print(
        "REPORT "
        + json.dumps(
            {
                "trainer_max_epochs": trainer.max_epochs,
                "trainer_logger": type(trainer.logger).__name__,
                "callbacks": [type(c).__name__ for c in callbacks],
                "logger_version": [logger.version, type(logger.version).__name__],
                "interval_seconds": interval.total_seconds(),
                "dtype": str(dtype),
                "lstm_hidden": getattr(lstm, "hidden_size", None),
            }
        )
    )
