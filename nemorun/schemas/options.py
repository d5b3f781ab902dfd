"""nemorun's own option types: executor options per target, the launcher, non-Python tasks.

They are plain dataclasses checked by the same validator as the user's code (`convert.py`), so
a typo in ``executor.partiton`` gets the same located, suggested error as one in a task argument.

Targets are registered by name in `TARGET_OPTIONS`. Names shared by every target live in
`ExecutorOptions`; each target adds its engine's own words (sbatch long options with
underscores for Slurm, SkyPilot's resource names, docker's flags).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nemorun.errors import KeyPath, Origin, SpecError, did_you_mean


@dataclass
class Container:
    """A container image to run the job in, and host paths to mount (``host:container[:ro]``)."""

    image: str
    mounts: list[str] = field(default_factory=list)


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
    """

    nodes: int = 1
    env: dict[str, str] = field(default_factory=dict)
    container: Container | None = None
    workdir: str | None = None
    setup: list[str] = field(default_factory=list)
    python: str | None = None


@dataclass
class LocalOptions(ExecutorOptions):
    """Runs on this machine.

    Args:
        max_parallel: How many sweep points run at once.
    """

    max_parallel: int = 1


@dataclass
class SlurmOptions(ExecutorOptions):
    """sbatch options, by their long names with underscores (``cpus_per_task``).

    Args:
        account: Account to charge (``--account``).
        partition: Partition to run in (``--partition``).
        time: Time limit: minutes, ``MM:SS``, ``HH:MM:SS`` or ``D-HH[:MM[:SS]]``.
        gpus_per_node: GPUs on each node, a count or ``type:count`` (``a100:8``).
        extra: Any other sbatch long option, checked against sbatch's own list.
        max_array_size: Largest job array the cluster accepts; bigger sweeps are split.
    """

    account: str | None = None
    partition: str | None = None
    qos: str | None = None
    time: str | int | None = None
    ntasks: int | None = None
    ntasks_per_node: int | None = None
    cpus_per_task: int | None = None
    gpus: str | int | None = None
    gpus_per_node: str | int | None = None
    gpus_per_task: str | int | None = None
    gres: str | None = None
    mem: str | None = None
    mem_per_cpu: str | None = None
    mem_per_gpu: str | None = None
    constraint: str | None = None
    exclude: str | None = None
    nodelist: str | None = None
    reservation: str | None = None
    exclusive: bool | None = None
    requeue: bool | None = None
    signal: str | None = None
    mail_type: str | None = None
    mail_user: str | None = None
    comment: str | None = None
    wckey: str | None = None
    licenses: str | None = None
    time_min: str | int | None = None
    array_parallelism: int | None = None
    max_array_size: int = 1001
    job_name: str | None = None
    output: str | None = None
    error: str | None = None
    extra: dict[str, bool | int | str] = field(default_factory=dict)


@dataclass
class DockerOptions(ExecutorOptions):
    """``docker run`` options.

    Args:
        gpus: Value of ``--gpus`` (``all``, a count, or ``device=0,1``).
        shm_size: Value of ``--shm-size`` (``16g``).
    """

    gpus: str | int | None = None
    shm_size: str | None = None
    ipc: str | None = None
    network: str | None = None
    user: str | None = None
    name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class SkyPilotOptions(ExecutorOptions):
    """SkyPilot task resources, in SkyPilot's own words.

    Args:
        infra: Where to run: ``aws``, ``gcp/us-central1``, ``k8s``…
        accelerators: ``H100:8`` style accelerator request.
    """

    infra: str | None = None
    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    accelerators: str | None = None
    cpus: str | int | None = None
    memory: str | int | None = None
    instance_type: str | None = None
    use_spot: bool | None = None
    disk_size: int | None = None
    ports: list[int | str] = field(default_factory=list)
    job_recovery: str | None = None
    file_mounts: dict[str, str] = field(default_factory=dict)


TARGET_OPTIONS: dict[str, type[ExecutorOptions]] = {
    "local": LocalOptions,
    "slurm": SlurmOptions,
    "docker": DockerOptions,
    "skypilot": SkyPilotOptions,
}
DEFAULT_TARGET = "local"


def target_options(
    name: object, path: KeyPath = (), origin: Origin | None = None, where: str = "--target"
) -> type[ExecutorOptions]:
    """The option class of target ``name``: the one lookup of a target's name, whether it comes
    from ``--target``, ``executor.target`` or a task's own executor. An unknown name is a
    `SpecError` that suggests the closest target, at ``path`` (and ``origin``) when the spec
    wrote it, else labelled ``where`` (the command-line flag)."""
    if isinstance(name, str) and name in TARGET_OPTIONS:
        return TARGET_OPTIONS[name]
    raise SpecError(
        "unknown target",
        path,
        origin,
        expected="one of " + ", ".join(TARGET_OPTIONS),
        found=repr(name),
        suggestion=did_you_mean(str(name), TARGET_OPTIONS),
        file=None if path else where,
    )


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
    nproc_per_node: int = 1
    rdzv_port: int = 29500


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
