"""The spec's ``tracking:`` table: which experiment trackers a launch hands the run to.

Plain option dataclasses, checked by the same validator as every other option (located errors,
"did you mean"), and exported to the JSON Schema. What they mean at launch is in
`nemorun.launchers.tracking`; nothing here imports a tracker's library.

``required`` (default true) decides what a tracker that cannot be reached does to a launch: stop
it with an error before anything is submitted, or (false) let it go on untracked, with a
warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from nemorun.errors import KeyPath

if TYPE_CHECKING:
    from nemorun.schemas.convert import Validator


@dataclass
class MlflowTracking:
    """An MLflow tracking server.

    Args:
        uri: The server's address (``http://host:5000``), as the job will reach it too.
        experiment: The experiment the run goes in (created when missing; default: the run's
            name).
        required: Refuse to launch when the server does not answer (false: warn, launch).
    """

    uri: str
    experiment: str | None = None
    required: bool = True


@dataclass
class WandbTracking:
    """Weights & Biases.

    Args:
        project: The W&B project.
        mode: ``online`` sends to the W&B server; ``offline`` writes files only (``wandb sync``
            uploads them later).
        entity: The team or user owning the project (default: your W&B default).
        dir: Where W&B keeps its files (default: the run's directory).
        required: Refuse to launch when W&B cannot start the run (false: warn, launch).
    """

    project: str
    mode: Literal["online", "offline"] = "online"
    entity: str | None = None
    dir: str | None = None
    required: bool = True


@dataclass
class TensorboardTracking:
    """TensorBoard event files.

    Args:
        dir: The log directory; each run writes under ``DIR/RUN_ID`` (``TENSORBOARD_LOGDIR``).
        required: Refuse to launch when the events cannot be written (false: warn, launch).
    """

    dir: str
    required: bool = True


@dataclass
class TrackingOptions:
    """The trackers a launch creates the run in; the job gets each one's run in its
    environment (``MLFLOW_RUN_ID``, ``WANDB_RUN_ID``, ``TENSORBOARD_LOGDIR``...).

    Args:
        mlflow: An MLflow tracking server.
        wandb: Weights & Biases.
        tensorboard: TensorBoard event files.
    """

    mlflow: MlflowTracking | None = None
    wandb: WandbTracking | None = None
    tensorboard: TensorboardTracking | None = None

    def chosen(self) -> dict[str, Any]:
        """The trackers set, by name, in a fixed order."""
        named = {"mlflow": self.mlflow, "wandb": self.wandb, "tensorboard": self.tensorboard}
        return {name: options for name, options in named.items() if options is not None}


def validate_tracking(v: Validator, tree: dict[str, Any]) -> TrackingOptions:
    """The spec's ``tracking:`` (none: no tracker), errors added to ``v``."""
    from nemorun.schemas.entries import instantiate, own_options
    from nemorun.schemas.values import INVALID

    raw = tree.get("tracking")
    if raw is None:
        return TrackingOptions()
    path: KeyPath = ("tracking",)
    options = instantiate(own_options(v, raw, TrackingOptions, path))
    if options is INVALID or not isinstance(options, TrackingOptions):
        return TrackingOptions()
    mlflow = options.mlflow
    if mlflow is not None and not mlflow.uri.startswith(("http://", "https://")):
        v.error(
            (*path, "mlflow", "uri"),
            "nemorun hands runs to an MLflow tracking server",
            expected="an http:// or https:// address (the job must reach it too)",
            found=repr(mlflow.uri),
            at_value=True,
            suggestion="start one with 'mlflow server --backend-store-uri sqlite:///mlflow.db'",
        )
    return options
