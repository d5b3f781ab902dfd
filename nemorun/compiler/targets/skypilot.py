"""The ``skypilot`` target: a SkyPilot task YAML; a sweep is one document per point.

The options are SkyPilot's own words (`SkyPilotOptions`, `plan`). ``run`` is a bash script that
writes the entry Python from a quoted heredoc to a file and runs it, on every node (under
torchrun: `_torchrun`); a large sweep ships that file once instead (`_entry`). A sweep of N
points is a stream of N documents (`_names`) that ``sky jobs launch FILE`` runs as a pipeline.

Two things differ from the shell targets, because the job runs on another machine:
- the spec's ``pythonpath`` directories are local: each is mounted (``file_mounts``) at
  ``~/.nemorun/pythonpath/<i>`` and ``PYTHONPATH`` names those copies (`_file_mounts`);
- an ``env`` value with ``${oc.env:…}`` is read where the job runs, so it is exported by
  ``setup`` and ``run`` rather than written under ``envs`` (whose values are literal).

Every option is checked before SkyPilot sees the task, each mistake a located `SpecError`: the
formats of single values on `SkyPilotOptions`' fields, the rest in `_Checks`.
`sky.Task.from_yaml` accepts every compiled task (tests/compiler/test_skypilot.py).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nemorun.compiler import torchrun
from nemorun.compiler.targets.checks import OptionChecks
from nemorun.compiler.torchrun import Macros, Var, Word
from nemorun.errors import SpecError
from nemorun.registry import TargetDef
from nemorun.schemas.convert import EnvRef
from nemorun.schemas.formats import Format, any_case, option
from nemorun.schemas.options import COUNT, ExecutorOptions
from nemorun.schemas.source import find_origin

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.schemas.spec import Spec

MACROS = Macros(
    node_rank=Word.of(Var("SKYPILOT_NODE_RANK")),
    head_node=Word.of(Var("NEMORUN_HEAD_NODE")),  # set by `run`: the first of SKYPILOT_NODE_IPS
    job_id=Word.of(Var("SKYPILOT_TASK_ID")),
)

# SkyPilot 0.14.1, sky/task.py: _VALID_NAME_REGEX.
TASK_NAME = re.compile(r"[a-zA-Z0-9]+(?:[._-]{1,2}[a-zA-Z0-9]+)*")
SKY_WORKDIR = "~/sky_workdir"
REMOTE_RUNS = ".nemorun/runs"
"""Under the node's home: a run's directories there (``ID/points/POINT``)."""
PYTHONPATH_MOUNT = "~/.nemorun/pythonpath"
"""Where the spec's ``pythonpath`` directories are mounted: ``~/.nemorun/pythonpath/<i>``."""
ENTRY_MOUNT = "~/.nemorun/entries"
"""Where a shipped entry is mounted: ``~/.nemorun/entries/<sha256 of it>.py``."""
EMBED_BYTES = 256 * 1024
"""A sweep's documents each embed the entry while that totals at most this many bytes (the
YAML stays one file); past it they share one shipped file (`_entry`)."""
RESOURCES = (
    "infra", "cloud", "region", "zone", "accelerators", "cpus", "memory", "instance_type",
    "use_spot", "disk_size",
)  # fmt: skip


_PORT_NUMBER = r"[0-9]{1,5}"
_POSITIVE = r"[0-9]*[1-9][0-9]*(?:\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*"
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


@dataclass(frozen=True)
class SkyPilotPlan:
    """What ``skypilot.yaml.j2`` needs beyond the `Job`."""

    names: tuple[str, ...]
    """The task name of each document (one per sweep point)."""
    resources: tuple[tuple[str, Any], ...]
    """(key, value) under ``resources:``, in a fixed order; values are YAML scalars or lists."""
    num_nodes: int
    envs: tuple[tuple[str, str], ...]
    """The spec's literal environment values, written under ``envs:`` after nemorun's own."""
    shell_env: tuple[tuple[str, EnvRef], ...]
    """Values read where the job runs (``${oc.env:…}``): exported by setup and run."""
    file_mounts: tuple[tuple[str, str], ...]
    """(remote path, local path or bucket URL), the spec's own then the pythonpath copies."""
    pythonpath: tuple[Word, ...]
    """The remote copies of the spec's ``pythonpath``: ``"$HOME"/.nemorun/pythonpath/<i>``."""
    workdir: str | None
    points_dir: Word | None = None
    """With a run: ``"$HOME"/.nemorun/runs/ID/points`` on the node, each point's directory's
    parent (the run's own directory is on the launching machine)."""
    torchrun: tuple[Word, ...] | None = None
    """The torchrun words that run the task on each node, or None without a launcher."""
    entry_file: Word | None = None
    """The shipped entry's path on the node (mounted by ``file_mounts``), or None when each
    document embeds the entry."""

    def stand_in(self, job: Job, indices: Sequence[str]) -> SkyPilotPlan:
        """The plan for stand-in points of these indices (`nemorun.compiler.stream`)."""
        return dataclasses.replace(self, names=tuple(f"{job.name}-{i}" for i in indices))


def plan(spec: Spec, job: Job) -> tuple[SkyPilotPlan, list[str]]:
    """The checked options, in SkyPilot's words.

    ``infra`` (or the older ``cloud`` / ``region`` / ``zone``), ``accelerators``, ``cpus``,
    ``memory``, ``instance_type``, ``use_spot``, ``disk_size``, ``ports``, ``job_recovery`` go
    under ``resources`` (`_resources`); ``container.image`` becomes ``image_id:
    docker:<image>``; ``nodes`` is ``num_nodes``; ``env`` is ``envs``; ``file_mounts`` and
    ``workdir`` are SkyPilot's (a local directory synced to the cluster, where ``setup`` and
    ``run`` start). ``NEMORUN_RUN_NAME`` and ``NEMORUN_POINT`` come first under ``envs``, so
    ``setup`` sees them too.
    """
    options = spec.executor
    assert isinstance(options, SkyPilotOptions)
    check = _Checks(spec)
    check.done()  # the checks below read the values themselves
    check.name(job.name)
    check.place(options)
    image = check.container(options)
    check.mounts(options)
    check.done()
    pythonpath, mounts = _file_mounts(spec, options)
    entry_file, entry_mount, warnings = _entry(job)
    return SkyPilotPlan(
        names=_names(job),
        resources=_resources(options, image),
        num_nodes=options.nodes,
        envs=tuple((k, str(v)) for k, v in job.env if not isinstance(v, EnvRef)),
        shell_env=tuple((k, v) for k, v in job.env if isinstance(v, EnvRef)),
        file_mounts=(*mounts, *entry_mount),
        pythonpath=pythonpath,
        workdir=options.workdir,
        points_dir=(
            Word.of(Var("HOME"), f"/{REMOTE_RUNS}/{job.run.id}/{job.points_subdir}")
            if job.run is not None
            else None
        ),
        torchrun=_torchrun(spec, job),
        entry_file=entry_file,
    ), warnings


def _entry(job: Job) -> tuple[Word | None, tuple[tuple[str, str], ...], list[str]]:
    """Where the documents find the entry: each embeds it (`EMBED_BYTES` allowing), else they
    share one file, shipped by ``file_mounts`` to ``~/.nemorun/entries/<sha256>.py``, so the
    stream grows with the number of points, not its square. Its source is the run's copy
    (`Job.entry_file`), else ``entry.py`` beside the YAML (``-o DIR``), which SkyPilot reads
    from the directory it runs in (said in a warning). Returns the node's path (None when
    embedded), the mount, and the warnings."""
    import hashlib

    from nemorun.compiler.job import ENTRY_FILE

    entry = job.entry
    if entry is None or len(entry.encode()) * job.num_points <= EMBED_BYTES:
        return None, (), []
    name = f"{hashlib.sha256(entry.encode()).hexdigest()[:16]}.py"
    remote = f"{ENTRY_MOUNT}/{name}"
    node_path = Word.of(Var("HOME"), f"/{ENTRY_MOUNT.removeprefix('~/')}/{name}")
    if job.entry_file is not None:
        return node_path, ((remote, str(job.entry_file)),), []
    warning = (
        f"the {job.num_points} documents share the entry instead of each holding it: "
        f"{ENTRY_FILE}, written beside them with -o DIR; run sky in that directory"
    )
    return node_path, ((remote, ENTRY_FILE),), [warning]


def _resources(options: SkyPilotOptions, image: str | None) -> tuple[tuple[str, Any], ...]:
    """The ``resources`` mapping, in a fixed order: `RESOURCES`, then ``image_id``,
    ``ports`` and ``job_recovery``."""
    ports = [port if isinstance(port, int) else port.strip() for port in options.ports]
    resources: list[tuple[str, Any]] = [
        (key, getattr(options, key)) for key in RESOURCES if getattr(options, key) is not None
    ]
    if image is not None:
        resources.append(("image_id", f"docker:{image}"))
    if ports:
        resources.append(("ports", ports))
    if options.job_recovery is not None:
        resources.append(("job_recovery", options.job_recovery))
    return tuple(resources)


def _names(job: Job) -> tuple[str, ...]:
    """The task name of each document: ``NAME``, or ``NAME-<point>`` for a sweep.

    The documents of a sweep differ only in their name and ``NEMORUN_POINT``: ``setup`` and
    ``run`` are the same text in each (written once by the template). ``sky jobs launch FILE``
    runs such a stream as a pipeline, one point after another (``sky launch`` takes one
    document only). A large sweep's documents share one shipped entry (`_entry`).
    """
    if job.is_sweep():
        from nemorun.compiler.points import Points

        if isinstance(job.points, Points):  # index i is point i: no Point made
            return tuple(f"{job.name}-{index}" for index in range(job.num_points))
        return tuple(f"{job.name}-{point.index}" for point in job.points)
    return (job.name,)


def _file_mounts(
    spec: Spec, options: SkyPilotOptions
) -> tuple[tuple[Word, ...], tuple[tuple[str, str], ...]]:
    """The remote copies of the spec's ``pythonpath`` (``"$HOME"/.nemorun/pythonpath/<i>``),
    and ``file_mounts``: the spec's own, then those copies."""
    home = PYTHONPATH_MOUNT.removeprefix("~/")
    pythonpath = tuple(f"{home}/{i}" for i in range(len(spec.pythonpath)))
    mounts = [*options.file_mounts.items()]
    mounts += [(f"~/{remote}", str(local)) for remote, local in zip(pythonpath, spec.pythonpath)]
    return tuple(Word.of(Var("HOME"), "/", remote) for remote in pythonpath), tuple(mounts)


def _torchrun(spec: Spec, job: Job) -> tuple[Word, ...] | None:
    """The torchrun words for ``launcher: {kind: torchrun}``, or None without a launcher.

    SkyPilot runs ``run`` once on each node, so each runs torchrun with
    ``--node-rank="$SKYPILOT_NODE_RANK"``, the rendezvous on the first line of
    ``$SKYPILOT_NODE_IPS`` and ``--rdzv-id="$SKYPILOT_TASK_ID"`` (the same on every node of a
    task, different for every task). See `nemorun.compiler.torchrun`.
    """
    if job.launcher.kind != "torchrun":
        return None
    program = (
        torchrun.python_program(job.python, Var("NEMORUN_ENTRY"))
        if job.entry is not None
        else tuple(Word.of(word) for word in job.argv)
    )
    return torchrun.command(spec.launcher, spec.executor.nodes, MACROS, program)


class _Checks(OptionChecks):
    """Collects located errors about the spec's SkyPilot options.

    The formats of single values (``infra``, cloud names from SkyPilot 0.14's list,
    ``<name>[:<count>]`` accelerators, cpus, memory, disk size, ports, the recovery strategy,
    mount paths) are declared on `SkyPilotOptions`' fields; checked here: the task name
    (SkyPilot's rule), ``infra`` with ``cloud``/``region``/``zone``, nemorun's own environment
    names and mount paths, the container, and values that SkyPilot reads where you launch (an
    ``${oc.env:…}`` there cannot be).
    """

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self.named = "name" in spec.tree

    def name(self, name: str) -> None:
        """The task name follows SkyPilot's rule (`TASK_NAME`); the error suggests a fixed one."""
        if TASK_NAME.fullmatch(name):
            return
        fixed = re.sub(r"[._-]{3,}", "--", re.sub(r"[^A-Za-z0-9._-]+", "-", name))
        fixed = fixed.strip("._-") or "my-job"
        origin = find_origin(self.origins, ("name",))
        self.errors.append(
            SpecError(
                "not a valid SkyPilot task name"
                if self.named
                else "the spec's file name is not a valid SkyPilot task name",
                ("name",),
                origin.at_value() if origin is not None else None,
                expected="ASCII letters, digits and single or double '.', '_' or '-' between "
                "them, starting and ending with a letter or digit",
                found=repr(name),
                suggestion=f"name: {fixed}",
                file=None if self.named else str(self.source),
            )
        )

    def place(self, options: SkyPilotOptions) -> None:
        """``infra`` says the place in one value: ``cloud``, ``region`` and ``zone`` (the
        older words) cannot come with it."""
        located = [k for k in ("cloud", "region", "zone") if getattr(options, k) is not None]
        if options.infra is not None and located:
            place = [options.cloud or options.infra.split("/")[0], options.region, options.zone]
            self.error(
                located[0],
                f"infra and {located[0]} exclude each other",
                suggestion="write the place as one infra: cloud[/region[/zone]] "
                f"(here infra: {'/'.join(str(p) for p in place if p is not None)})",
            )

    def container(self, options: SkyPilotOptions) -> str | None:
        """The image, named without SkyPilot's ``docker:`` prefix; SkyPilot mounts no host
        paths into its container."""
        container = options.container
        if container is None:
            return None
        if container.mounts:
            self.error(
                ("container", "mounts"),
                "SkyPilot mounts no host paths into its container",
                suggestion="copy them with executor.file_mounts (remote path: local path)",
            )
        image = container.image
        if image.lower().startswith("docker:"):
            self.error(
                ("container", "image"),
                "the image is written without SkyPilot's 'docker:' prefix",
                found=repr(image),
                suggestion=f"image: {image[len('docker:') :]}",
            )
        elif not image or any(ch.isspace() for ch in image):
            self.error(
                ("container", "image"),
                "not an image name",
                expected="an image reference like nvcr.io/nvidia/pytorch:24.01-py3",
                found=repr(image),
            )
        return image

    def mounts(self, options: SkyPilotOptions) -> None:
        """Destinations that are nemorun's or SkyPilot's own (their format is the field's)."""
        for remote in options.file_mounts:
            key = ("file_mounts", remote)
            if remote.rstrip("/") in (PYTHONPATH_MOUNT, "~/.nemorun") or remote.startswith(
                f"{PYTHONPATH_MOUNT}/"
            ):
                self.error(key, f"nemorun mounts the spec's pythonpath under {PYTHONPATH_MOUNT}")
            elif remote.rstrip("/") == ENTRY_MOUNT or remote.startswith(f"{ENTRY_MOUNT}/"):
                self.error(key, f"nemorun mounts a large sweep's entry under {ENTRY_MOUNT}")
            elif remote == SKY_WORKDIR and options.workdir is not None:
                self.error(key, f"{SKY_WORKDIR} is where SkyPilot puts the workdir")


TARGET = TargetDef(
    name="skypilot",
    options=SkyPilotOptions,
    plan=plan,
    template="skypilot.yaml.j2",
    suffix=".yaml",
    launch="nemorun.launchers.skypilot:SkyPilotTarget",
    launchers=("none", "torchrun"),
)
