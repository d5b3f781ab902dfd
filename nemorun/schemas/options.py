"""nemorun's own option types: the options every target shares, the launcher, non-Python tasks.

They are plain dataclasses checked by the same validator as the user's code (`convert.py`), so
a typo in ``executor.partiton`` gets the same located, suggested error as one in a task argument.

Names shared by every target live in `ExecutorOptions`; each target subclasses it with its
engine's own words (sbatch long options with underscores for Slurm, SkyPilot's resource names,
docker's flags) in its own module, and the target's `nemorun.registry.TargetDef` names that
class.

What a value must look like beyond its type (a Slurm time, a docker size, a port) is declared
on its field as a `Format` (``option(SLURM_TIME)``), once: the validator checks it at the
value's line and the JSON Schema carries it (see `nemorun.schemas.formats`). Rules between
fields, and rules of one target about a field every target shares (docker wants an absolute
``workdir``), stay with the target's ``plan``, which ``validate`` runs too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nemorun.schemas.formats import Format, option
from nemorun.schemas.retries import CheckpointSignal, Retries

JOB_VARIABLES = (
    "NEMORUN_RUN_NAME",
    "NEMORUN_RUN_ID",
    "NEMORUN_RUN_DIR",
    "NEMORUN_POINT",
    "NEMORUN_POINT_DIR",
    "NEMORUN_HEAD_NODE",
    "NEMORUN_ATTEMPT",
)
"""The variables nemorun gives a job (the README lists them); ``env`` may not set them: on some
targets they would silently change the job's point or directories."""

COUNT = Format("a count", minimum=1)
ENV_NAME = Format(
    "a valid environment variable name",
    pattern="[A-Za-z_][A-Za-z0-9_]*",
    expected="letters, digits and '_', not starting with a digit",
    applies_to="keys",
    reserved=JOB_VARIABLES,
)
PORT = Format("a TCP port", minimum=1, maximum=65535)


@dataclass
class Container:
    """A container image to run the job in, and host paths to mount (``host:container[:ro]``)."""

    image: str
    mounts: list[str] = field(default_factory=list)

    def uses_image(self) -> bool:
        """True: the job runs in the image (Slurm's container may say otherwise)."""
        return True


@dataclass
class ExecutorOptions:
    """Options every target understands.

    Args:
        nodes: Number of machines the job spans.
        env: Environment variables for the job; names and values are passed unchanged.
        container: Image and mounts, where the target runs containers.
        workdir: Directory the job starts in.
        setup: Shell lines run before the task.
        python: The interpreter that runs Python tasks on the job's machine.
        retries: Run the task again when an attempt fails (`nemorun.schemas.retries`).
        checkpoint_signal: Signal the task before its time limit, so it can checkpoint.
    """

    nodes: int = option(COUNT, default=1)
    env: dict[str, str] = option(ENV_NAME, factory=dict)
    container: Container | None = None
    workdir: str | None = None
    setup: list[str] = field(default_factory=list)
    python: str | None = None
    retries: Retries | None = None
    checkpoint_signal: CheckpointSignal | None = None


DEFAULT_TARGET = "local"


@dataclass
class LauncherOptions:
    """How the task's processes are started.

    Args:
        kind: ``none`` runs the task once per node; ``torchrun`` starts ``nproc_per_node``
            workers per node with a rendezvous on the first node.
        nproc_per_node: Worker processes per node under torchrun.
        rdzv_port: Port of the torchrun rendezvous on the first node.
    """

    kind: Literal["none", "torchrun"] = "none"
    nproc_per_node: int = option(COUNT, default=1)
    rdzv_port: int = option(PORT, default=29500)


@dataclass
class ScriptTask:
    """A script run as a task: ``.py`` files by the job's Python, others by bash.

    Args:
        script: Path of the script, relative to the job's working directory.
        args: Arguments passed to it, unchanged.
    """

    script: str
    args: list[str] = field(default_factory=list)


@dataclass
class CommandTask:
    """A command run as a task: a string is a shell line, a list an argv.

    Args:
        command: The shell line, or the program and its arguments.
    """

    command: str | list[str]
