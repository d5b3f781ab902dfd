"""The hand-off of a run to trackers (the spec's ``tracking:``): MLflow, W&B, TensorBoard.

At launch, in `nemorun.launchers.launch.start_run`, in this order:

1. `start_tracking`, before compile: each tracker creates its run (or, for W&B and TensorBoard,
   chooses its id and directory) and says which variables the job gets (``MLFLOW_RUN_ID``...).
   They are an *input* of compile (`RunContext.env`), like the run's id: compile stays pure.
2. `Tracking.describe`, once the record's files are written and before anything is submitted:
   the run gets the resolved spec as parameters (flat key paths), nemorun's run id and
   directory, the target, the git commit and dirty flag, and the compiled artifacts.
3. `Tracking.refs` go into ``run.json``; `mirror` is called by `records.save_state` whenever
   the run's state changes (running, completed, failed, cancelled).

A tracker that fails in 1 or 2 stops the launch with a `LaunchError` before submitting (each
adapter bounds its waits), unless its ``required`` is false: then a warning, and the run goes
on without it. Mirroring never fails a command: a tracker that does not answer then keeps its
last state. One adapter module per library (`ADAPTERS`), imported only when the spec names it;
each has ``open_run(options, run) -> Opened``, ``describe(ref, details) -> warnings`` and
``mirror(ref, state)``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from nemorun.launchers.base import LaunchError

if TYPE_CHECKING:
    from nemorun.schemas.tracking import TrackingOptions

ADAPTERS = {
    "mlflow": "nemorun.launchers.tracking_mlflow",
    "wandb": "nemorun.launchers.tracking_wandb",
    "tensorboard": "nemorun.launchers.tracking_tensorboard",
}

MIRRORED = ("running", "completed", "failed", "cancelled")
"""The run states a tracker is told about."""


class TrackerError(Exception):
    """A tracker that cannot do what was asked (its message says which and why)."""


@dataclass(frozen=True)
class TrackedRun:
    """The nemorun run a tracker's run stands for."""

    id: str
    name: str
    dir: Path
    target: str


@dataclass(frozen=True)
class Opened:
    """A tracker's run: what ``run.json`` keeps to reach it again, and the job's variables."""

    ref: Mapping[str, str]
    env: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Details:
    """What a tracker's run is told about the nemorun run (`Tracking.describe`)."""

    params: Mapping[str, str]
    tags: Mapping[str, str]
    artifacts: Path
    """The run's ``artifacts`` directory: every compiled file."""


@dataclass
class Tracking:
    """The trackers' runs of one launch."""

    opened: dict[str, Opened] = field(default_factory=dict)
    required: dict[str, bool] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def env(self) -> tuple[tuple[str, str], ...]:
        return tuple(pair for opened in self.opened.values() for pair in opened.env)

    @property
    def refs(self) -> list[dict[str, str]]:
        """What ``run.json`` keeps under ``tracking``: one entry per tracker."""
        return [{"tracker": name, **o.ref} for name, o in self.opened.items()]

    def describe(self, run_dir: Path, target: str) -> None:
        """Give each tracker's run the resolved spec, provenance and artifacts of the run."""
        details = run_details(run_dir, target)
        for name, opened in list(self.opened.items()):
            try:
                said = _adapter(name).describe(opened.ref, details)
            except Exception as exc:  # a library's own failure is the tracker's
                self._failed(name, exc)
                del self.opened[name]
                continue
            self.warnings += [f"tracking.{name}: {w}" for w in said]

    def abort(self) -> None:
        """The launch failed after the trackers' runs were created: mark them failed."""
        mirror(self.refs, "failed")

    def _failed(self, name: str, exc: BaseException) -> None:
        said = (
            str(exc) if isinstance(exc, (TrackerError, OSError)) else f"{type(exc).__name__}: {exc}"
        )
        why = f"tracking.{name}: {said}"
        if self.required.get(name, True):
            self.abort()
            raise LaunchError(
                f"{why}; nothing was submitted (set tracking.{name}.required: false to "
                "launch without it)"
            ) from None
        self.warnings.append(f"{why}; the run is not tracked there")


def start_tracking(options: TrackingOptions, run: TrackedRun) -> Tracking:
    """Create each tracker's run for ``run`` (see the module docstring)."""
    tracking = Tracking()
    for name, chosen in options.chosen().items():
        tracking.required[name] = bool(chosen.required)
        try:
            tracking.opened[name] = _adapter(name).open_run(chosen, run)
        except Exception as exc:  # a library's own failure is the tracker's
            tracking._failed(name, exc)
    return tracking


def mirror(refs: Sequence[Mapping[str, Any]], state: str) -> None:
    """Tell each tracker's run that the nemorun run is now ``state`` (see `MIRRORED`)."""
    if state not in MIRRORED:
        return
    for ref in refs:
        # A run's end is told once: a tracker that fails then (W&B's service, starting under
        # load) gets a second try before it stays behind.
        for _ in range(2 if state != "running" else 1):
            try:
                _adapter(str(ref["tracker"])).mirror(ref, state)
                break
            except Exception:  # a tracker down must not fail `ls` or `status`
                continue


def run_details(run_dir: Path, target: str) -> Details:
    """The parameters and tags of a recorded run (its ``resolved.yaml``, ``provenance.json``)."""
    import yaml

    from nemorun.launchers.keypaths import as_text, flatten

    tree = yaml.safe_load((run_dir / "resolved.yaml").read_text(encoding="utf-8")) or {}
    params = {key: as_text(value) for key, value in flatten(tree).items()}
    try:
        provenance = json.loads((run_dir / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        provenance = {}
    git = provenance.get("git")
    tags = {"nemorun.run_id": run_dir.name, "nemorun.run_dir": str(run_dir)}
    tags["nemorun.target"] = target
    if isinstance(git, dict):
        tags["nemorun.git_commit"] = str(git.get("commit"))
        tags["nemorun.git_dirty"] = "true" if git.get("dirty") else "false"
    else:
        tags["nemorun.git_commit"] = str(git or "unknown")
    return Details(params, tags, run_dir / "artifacts")


def _adapter(name: str) -> ModuleType:
    return importlib.import_module(ADAPTERS[name])
