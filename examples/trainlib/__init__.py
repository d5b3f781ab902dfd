"""A tiny training library used by the example specs in ``configs/``.

Pure Python, so the examples run anywhere: `train` fits a small linear model to synthetic data
with SGD or Adam and prints its loss. The nested dataclass configs are what nemorun specs fill in.
"""

from trainlib.loop import Activation, DataConfig, ModelConfig, OptimConfig, train

__all__ = ["Activation", "DataConfig", "ModelConfig", "OptimConfig", "train"]
