"""nemorun's own option types: executor options per target, the launcher, non-Python tasks.

They are plain dataclasses checked by the same validator as the user's code (`convert.py`), so
a typo in ``executor.partiton`` gets the same located, suggested error as one in a task argument.

Targets are registered by name in `TARGET_OPTIONS`. Names shared by every target live in
`ExecutorOptions`; each target adds its engine's own words (sbatch long options with
underscores for Slurm, SkyPilot's resource names, docker's flags).

What a value must look like beyond its type (a Slurm time, a docker size, a port) is declared
on its field as a `Format` (``option(SLURM_TIME)``), once: the validator checks it at the
value's line and the JSON Schema carries it (see `nemorun.schemas.formats`). Rules between
fields, and rules of one target about a field every target shares (docker wants an absolute
``workdir``), stay with the target's ``plan``, which ``validate`` runs too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from nemorun.errors import KeyPath, Origin, SpecError, did_you_mean
from nemorun.schemas.formats import Format, any_case, option

# --- formats ----------------------------------------------------------------------------------

COUNT = Format("a count", minimum=1)
ENV_NAME = Format(
    "a valid environment variable name",
    pattern="[A-Za-z_][A-Za-z0-9_]*",
    expected="letters, digits and '_', not starting with a digit",
    applies_to="keys",
)
PORT = Format("a TCP port", minimum=1, maximum=65535)
_PORT_NUMBER = r"[0-9]{1,5}"
_POSITIVE = r"[0-9]*[1-9][0-9]*(?:\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*"

SLURM_TIME = Format(
    "a Slurm time",
    pattern=r"[0-9]+(?::[0-9]{1,2}){0,2}"  # minutes, MM:SS, HH:MM:SS
    r"|[0-9]+-[0-9]+(?::[0-9]{1,2}){0,2}"  # D-HH, D-HH:MM, D-HH:MM:SS
    f"|{any_case('infinite')}|{any_case('unlimited')}",
    expected="minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (or UNLIMITED)",
    example="04:00:00",
    minimum=0,
)
SLURM_GPUS = Format(
    "a GPU count",
    pattern=r"(?:[A-Za-z0-9_.-]+:)?[0-9]+",
    expected="a count or type:count, like 8 or a100:8",
    example="a100:8",
    minimum=0,
)
SLURM_MEMORY = Format(
    "a Slurm memory size",
    pattern=r"[0-9]+(?:[KMGTkmgt][Bb]?)?",
    expected="megabytes, or a whole number with a unit K, M, G or T, like 4000 or 64G",
    example="64G",
)
_MAIL_TYPES = (
    "NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT",
    "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS",
)  # fmt: skip
_ANY_MAIL_TYPE = "|".join(any_case(t) for t in _MAIL_TYPES)  # sbatch reads them in any case
SLURM_MAIL_TYPE = Format(
    "a list of mail types",
    pattern=f"(?:{_ANY_MAIL_TYPE})(?:,(?:{_ANY_MAIL_TYPE}))*",
    expected="comma-separated " + ", ".join(_MAIL_TYPES),
    example="END,FAIL",
    choices=_MAIL_TYPES,
    choice_of=str.upper,
)
SLURM_SIGNAL = Format(
    "a signal",
    pattern=r"(?:[RB]:)?[A-Za-z0-9]+(?:@[0-9]+)?",
    expected="[R:|B:]SIGNAL[@SECONDS], like USR1@90",
    example="USR1@90",
)

DOCKER_GPUS = Format(
    "a --gpus value",
    pattern=r'[1-9][0-9]*|(?![0-9-]*$)[A-Za-z0-9=,:"._-]+',  # a written count is at least 1
    expected="'all', a count or 'device=0,1'",
    example="all",
    minimum=1,
)
DOCKER_SIZE = Format(  # docker's own size syntax (go-units RAMInBytes): 64m, 1.5g, 1GiB, 512 MB
    "a size",
    pattern=r"[0-9]+(?:\.[0-9]+)* ?[kKmMgGtTpP]?[iI]?[bB]?",
    expected="a number with a unit, like 64m or 16g",
    example="16g",
    fractions=True,
)
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_IPC_MODES = ("none", "private", "shareable", "host")
DOCKER_IPC = Format(
    "an IPC mode",
    pattern=f"{'|'.join(_IPC_MODES)}|container:{_NAME}",
    expected=", ".join(_IPC_MODES) + " or container:NAME",
    choices=_IPC_MODES,
)
DOCKER_NETWORK = Format(
    "a network",
    pattern=f"{_NAME}|container:{_NAME}",
    expected="none, host, bridge, a network's name or container:NAME",
)
DOCKER_USER = Format(
    "a user",
    pattern=r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?::[A-Za-z0-9_][A-Za-z0-9_.-]*)?",
    expected="NAME or UID, optionally followed by :GROUP or :GID",
)
DOCKER_CONTAINER_NAME = Format(
    "a container name",
    pattern=_NAME,
    expected="letters, digits, '_', '.' and '-', starting with a letter or digit",
)
DOCKER_LABEL_KEY = Format(
    "a label key",
    pattern=r"[A-Za-z0-9][A-Za-z0-9_./-]*",
    expected="letters, digits, '.', '_', '/' and '-', like com.example.team",
    applies_to="keys",
)

# SkyPilot 0.14.1, sky/utils/schemas.py: the `cloud` enum and the clouds of the `infra` pattern.
SKYPILOT_CLOUDS = (
    "aws", "azure", "gcp", "ibm", "lambda", "scp", "oci", "kubernetes", "runpod", "vast",
    "vsphere", "cudo", "fluidstack", "paperspace", "primeintellect", "do", "nebius", "ssh",
    "slurm", "hyperbolic", "seeweb", "shadeform", "yotta", "mithril", "verda",
)  # fmt: skip
_KUBERNETES = ("kubernetes", "k8s")
_ANY_CLOUD = "|".join(any_case(c) for c in SKYPILOT_CLOUDS)
SKYPILOT_INFRA = Format(
    "an infra",
    pattern=f"(?:\\*|{_ANY_CLOUD})(?:/[^/\\s]+){{0,2}}"
    f"|(?:{'|'.join(any_case(k) for k in _KUBERNETES)})(?:/[^/\\s]+)*",
    expected="cloud[/region[/zone]], '*' for any cloud, or k8s[/<context>]",
    choices=(*SKYPILOT_CLOUDS, *_KUBERNETES),
    choice_of=lambda value: value.split("/")[0].lower(),
)
SKYPILOT_CLOUD = Format(
    "a cloud SkyPilot knows",
    pattern=_ANY_CLOUD,
    expected="one of " + ", ".join(SKYPILOT_CLOUDS),
    choices=SKYPILOT_CLOUDS,
    choice_of=str.lower,
)
SKYPILOT_ACCELERATORS = Format(
    "an accelerator request",
    pattern=f"[A-Za-z0-9][A-Za-z0-9_.+-]*(?::(?:{_POSITIVE}))?",
    expected="<name>[:<count>] with a positive count, like H100:8",
    example="H100:8",
    fractions=True,
)
SKYPILOT_CPUS = Format(
    "a cpus amount",
    pattern=f"(?:{_POSITIVE})\\+?",
    expected="a positive number, or '<number>+' for at least",
    example="8+",
    exclusive_minimum=0,
    fractions=True,
)
SKYPILOT_MEMORY = Format(
    "a memory amount",
    pattern=f"(?:{_POSITIVE})(?:[KkMmGgTtPp][BbIi])?\\+?",
    expected="GB as a positive number, '<number><unit>' (KB, MB, GB, TB, PB) or '<number>+' "
    "for at least",
    example="32+",
    exclusive_minimum=0,
    fractions=True,
)
_RECOVERY_STRATEGIES = ("EAGER_NEXT_REGION", "FAILOVER")  # sky/jobs/recovery_strategy.py
SKYPILOT_RECOVERY = Format(
    "a recovery strategy",
    pattern="|".join(any_case(s) for s in _RECOVERY_STRATEGIES),
    expected="one of " + ", ".join(_RECOVERY_STRATEGIES),
    choices=_RECOVERY_STRATEGIES,
    choice_of=str.upper,
)


def _port_range(value: str) -> str | None:
    low, _, high = value.partition("-")
    numbers = [int(low), int(high or low)]
    if not 1 <= numbers[0] <= numbers[1] <= 65535:
        return "not a port or port range"
    return None


SKYPILOT_PORT = Format(
    "a port or port range",
    pattern=f"{_PORT_NUMBER}(?:-{_PORT_NUMBER})?",
    expected="a port 1 to 65535, or a range 'from-to' with from <= to",
    minimum=1,
    maximum=65535,
    rule=_port_range,
    applies_to="items",
)
SKYPILOT_MOUNT_DESTINATION = Format(
    "a mount destination",
    pattern=r"~|[/~][^\n]*[^/\n]",
    expected="an absolute path on the cluster (starting with '/' or '~'), not ending with '/'",
    applies_to="keys",
)
SKYPILOT_MOUNT_SOURCE = Format(
    "a mount source",
    pattern=r"[^\n]*[^/\n]",
    expected="a local path or a bucket URL, not ending with '/'",
    applies_to="values",
)
SKYPILOT_INSTANCE_TYPE = Format(
    "an instance type", pattern=r"[\s\S]*\S[\s\S]*", expected="a name like p5.48xlarge"
)


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

    nodes: int = option(COUNT, default=1)
    env: dict[str, str] = option(ENV_NAME, factory=dict)
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

    max_parallel: int = option(COUNT, default=1)


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
    time: str | int | None = option(SLURM_TIME)
    ntasks: int | None = option(COUNT)
    ntasks_per_node: int | None = option(COUNT)
    cpus_per_task: int | None = option(COUNT)
    gpus: str | int | None = option(SLURM_GPUS)
    gpus_per_node: str | int | None = option(SLURM_GPUS)
    gpus_per_task: str | int | None = option(SLURM_GPUS)
    gres: str | None = None
    mem: str | None = option(SLURM_MEMORY)
    mem_per_cpu: str | None = option(SLURM_MEMORY)
    mem_per_gpu: str | None = option(SLURM_MEMORY)
    constraint: str | None = None
    exclude: str | None = None
    nodelist: str | None = None
    reservation: str | None = None
    exclusive: bool | None = None
    requeue: bool | None = None
    signal: str | None = option(SLURM_SIGNAL)
    mail_type: str | None = option(SLURM_MAIL_TYPE)
    mail_user: str | None = None
    comment: str | None = None
    wckey: str | None = None
    licenses: str | None = None
    time_min: str | int | None = option(SLURM_TIME)
    array_parallelism: int | None = option(COUNT)
    max_array_size: int = option(COUNT, default=1001)
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

    gpus: str | int | None = option(DOCKER_GPUS)
    shm_size: str | None = option(DOCKER_SIZE)
    ipc: str | None = option(DOCKER_IPC)
    network: str | None = option(DOCKER_NETWORK)
    user: str | None = option(DOCKER_USER)
    name: str | None = option(DOCKER_CONTAINER_NAME)
    labels: dict[str, str] = option(DOCKER_LABEL_KEY, factory=dict)


@dataclass
class SkyPilotOptions(ExecutorOptions):
    """SkyPilot task resources, in SkyPilot's own words.

    Args:
        infra: Where to run: ``aws``, ``gcp/us-central1``, ``k8s``…
        accelerators: ``H100:8`` style accelerator request.
    """

    infra: str | None = option(SKYPILOT_INFRA)
    cloud: str | None = option(SKYPILOT_CLOUD)
    region: str | None = None
    zone: str | None = None
    accelerators: str | None = option(SKYPILOT_ACCELERATORS)
    cpus: str | int | None = option(SKYPILOT_CPUS)
    memory: str | int | None = option(SKYPILOT_MEMORY)
    instance_type: str | None = option(SKYPILOT_INSTANCE_TYPE)
    use_spot: bool | None = None
    disk_size: int | None = option(COUNT)
    ports: list[int | str] = option(SKYPILOT_PORT, factory=list)
    job_recovery: str | None = option(SKYPILOT_RECOVERY)
    file_mounts: dict[str, str] = option(
        SKYPILOT_MOUNT_DESTINATION, SKYPILOT_MOUNT_SOURCE, factory=dict
    )


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
