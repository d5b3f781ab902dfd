"""Training entry point and its configs."""

from __future__ import annotations

import enum
import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


class Activation(enum.Enum):
    RELU = "relu"
    GELU = "gelu"
    TANH = "tanh"


@dataclass
class ModelConfig:
    """Shape of the model.

    Args:
        hidden_size: Width of the hidden layer.
        layers: Number of hidden layers.
        activation: Non-linearity between layers.
        dropout: Probability of dropping a unit while training.
    """

    hidden_size: int = 64
    layers: int = 2
    activation: Activation = Activation.RELU
    dropout: float = 0.0


@dataclass
class OptimConfig:
    """Optimiser settings.

    Args:
        name: Which optimiser.
        lr: Learning rate.
        betas: Adam's moment decay rates.
        weight_decay: L2 penalty.
    """

    name: Literal["sgd", "adam"] = "sgd"
    lr: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0


@dataclass
class DataConfig:
    """Synthetic data.

    Args:
        path: Where a real run would read its data from (printed only).
        batch_size: Examples per step.
        features: Input dimension.
    """

    path: Path = Path("/tmp/data")
    batch_size: int = 16
    features: int = 4
    tags: list[str] = field(default_factory=list)


def train(
    model: ModelConfig,
    optim: OptimConfig,
    data: DataConfig | None = None,
    steps: int = 100,
    seed: int = 0,
    tag: str = "",
    log_every: int = 20,
) -> float:
    """Fit a linear model to synthetic data and return the final loss.

    Args:
        model: Model shape.
        optim: Optimiser settings.
        data: Data settings (defaults when omitted).
        steps: Number of optimisation steps.
        seed: Random seed of the data and initialisation.
        tag: Free-form label printed with every log line.
        log_every: Print the loss every this many steps.
    """
    data = data or DataConfig()
    rng = random.Random(seed)
    true_w = [rng.uniform(-1, 1) for _ in range(data.features)]
    w = [0.0] * data.features
    m = [0.0] * data.features
    v = [0.0] * data.features
    point = os.environ.get("NEMORUN_POINT", "0")
    print(
        f"[{tag or 'train'}] point={point} model={model.hidden_size}x{model.layers}"
        f" {model.activation.name} optim={optim.name} lr={optim.lr} data={data.path}",
        flush=True,
    )
    loss = math.inf
    for step in range(1, steps + 1):
        grad = [0.0] * data.features
        loss = 0.0
        for _ in range(data.batch_size):
            x = [rng.gauss(0, 1) for _ in range(data.features)]
            err = sum(a * b for a, b in zip(w, x)) - sum(a * b for a, b in zip(true_w, x))
            loss += err * err / data.batch_size
            for i in range(data.features):
                grad[i] += 2 * err * x[i] / data.batch_size + optim.weight_decay * w[i]
        for i in range(data.features):
            if optim.name == "adam":
                b1, b2 = optim.betas
                m[i] = b1 * m[i] + (1 - b1) * grad[i]
                v[i] = b2 * v[i] + (1 - b2) * grad[i] ** 2
                m_hat = m[i] / (1 - b1**step)
                v_hat = v[i] / (1 - b2**step)
                w[i] -= optim.lr * m_hat / (math.sqrt(v_hat) + 1e-8)
            else:
                w[i] -= optim.lr * grad[i]
        if step % log_every == 0 or step == steps:
            print(f"[{tag or 'train'}] step {step} loss {loss:.6f}", flush=True)
            _log_metrics({"step": step, "loss": loss})
    return loss


def _log_metrics(values: dict[str, float]) -> None:
    """One line of ``$NEMORUN_POINT_DIR/metrics.jsonl`` (read by ``nemorun compare`` and
    ``nemorun metrics``), when nemorun launched the job."""
    where = os.environ.get("NEMORUN_POINT_DIR")
    if where:
        with open(os.path.join(where, "metrics.jsonl"), "a", encoding="utf-8") as out:
            out.write(json.dumps(values) + "\n")
