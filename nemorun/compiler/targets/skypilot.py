"""The ``skypilot`` target: a SkyPilot task YAML; a sweep is one document per point.

The options are SkyPilot's own words (`SkyPilotOptions`): ``infra`` (or the older ``cloud`` /
``region`` / ``zone``), ``accelerators``, ``cpus``, ``memory``, ``instance_type``,
``use_spot``, ``disk_size``, ``ports``, ``job_recovery`` under ``resources``;
``container.image`` becomes ``image_id: docker:<image>``; ``nodes`` is ``num_nodes``; ``env``
is ``envs``; ``file_mounts`` and ``workdir`` are SkyPilot's (a local directory synced to the
cluster, where ``setup`` and ``run`` start).

``run`` is a bash script that reads the entry Python from a quoted heredoc and runs it, on
every node; ``NEMORUN_RUN_NAME`` and ``NEMORUN_POINT`` come first under ``envs``, so ``setup``
sees them too. A sweep of N points is a stream of N documents, tasks named ``NAME-<point>``
that differ only in their name and ``NEMORUN_POINT``: ``setup`` and ``run`` are the same text
in each (written once by the template). ``sky jobs launch FILE`` runs such a stream as a
pipeline, one point after another (``sky launch`` takes one document only). Each document
embeds the whole entry, table of points included, so the stream grows with the square of the
number of points (300 points: about 5 MB).

**torchrun** (``launcher: {kind: torchrun}``): SkyPilot runs ``run`` once on each node, so
each runs torchrun with ``--node-rank="$SKYPILOT_NODE_RANK"``, the rendezvous on the first
line of ``$SKYPILOT_NODE_IPS`` and ``--rdzv-id="$SKYPILOT_TASK_ID"`` (the same on every node of
a task, different for every task). See `nemorun.compiler.torchrun`.

Two things differ from the shell targets, because the job runs on another machine:
- the spec's ``pythonpath`` directories are local: each is mounted (``file_mounts``) at
  ``~/.nemorun/pythonpath/<i>`` and ``PYTHONPATH`` names those copies;
- an ``env`` value with ``${oc.env:…}`` is read where the job runs, so it is exported by
  ``setup`` and ``run`` rather than written under ``envs`` (whose values are literal).

Every option is checked here, each mistake a located `SpecError`, before SkyPilot sees the
task: the task name (SkyPilot's rule), ``infra`` with ``cloud``/``region``/``zone``, cloud
names (SkyPilot 0.14's list), ``<name>[:<count>]`` accelerators, cpus and memory, disk size,
ports, the recovery strategy, mount paths, and values that SkyPilot reads where you launch
(an ``${oc.env:…}`` there cannot be). `sky.Task.from_yaml` accepts every compiled task
(tests/compiler/test_skypilot.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nemorun.compiler import torchrun
from nemorun.compiler.targets.checks import OptionChecks
from nemorun.compiler.torchrun import Macros, Var, Word
from nemorun.errors import SpecError, did_you_mean
from nemorun.schemas.convert import EnvRef
from nemorun.schemas.options import SkyPilotOptions
from nemorun.schemas.source import find_origin

if TYPE_CHECKING:
    from nemorun.compiler.artifacts import Job
    from nemorun.schemas.spec import Spec

TEMPLATE = "skypilot.yaml.j2"
SUFFIX = ".yaml"
HOST_FILESYSTEM = False
"""The job runs elsewhere: ``python3`` of its own PATH unless ``executor.python``."""
LAUNCHERS = ("none", "torchrun")
MACROS = Macros(
    node_rank=Word.of(Var("SKYPILOT_NODE_RANK")),
    head_node=Word.of(Var("NEMORUN_HEAD_NODE")),  # set by `run`: the first of SKYPILOT_NODE_IPS
    job_id=Word.of(Var("SKYPILOT_TASK_ID")),
)

# SkyPilot 0.14.1, sky/task.py: _VALID_NAME_REGEX.
TASK_NAME = re.compile(r"[a-zA-Z0-9]+(?:[._-]{1,2}[a-zA-Z0-9]+)*")
# SkyPilot 0.14.1, sky/utils/schemas.py: the `cloud` enum and the clouds of the `infra` pattern.
CLOUDS = (
    "aws", "azure", "gcp", "ibm", "lambda", "scp", "oci", "kubernetes", "runpod", "vast",
    "vsphere", "cudo", "fluidstack", "paperspace", "primeintellect", "do", "nebius", "ssh",
    "slurm", "hyperbolic", "seeweb", "shadeform", "yotta", "mithril", "verda",
)  # fmt: skip
KUBERNETES = ("kubernetes", "k8s")
# SkyPilot 0.14.1, sky/jobs/recovery_strategy.py (matched without case).
RECOVERY_STRATEGIES = ("EAGER_NEXT_REGION", "FAILOVER")
ACCELERATORS = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.+-]*)(?::(?P<count>\d+(?:\.\d+)?))?")
CPUS = re.compile(r"(?P<n>\d+(?:\.\d+)?)\+?")
MEMORY = re.compile(r"(?P<n>\d+(?:\.\d+)?)(?:[KkMmGgTtPp][BbIi])?\+?")
PORT_RANGE = re.compile(r"(?P<low>\d+)-(?P<high>\d+)")
CLOUD_URL = re.compile(r"[a-z][a-z0-9+.-]*://")
SKY_WORKDIR = "~/sky_workdir"
REMOTE_RUNS = ".nemorun/runs"
"""Under the node's home: a run's directories there (``ID/points/POINT``)."""
PYTHONPATH_MOUNT = "~/.nemorun/pythonpath"
"""Where the spec's ``pythonpath`` directories are mounted: ``~/.nemorun/pythonpath/<i>``."""
RESOURCES = (
    "infra", "cloud", "region", "zone", "accelerators", "cpus", "memory", "instance_type",
    "use_spot", "disk_size",
)  # fmt: skip


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


def plan(spec: Spec, job: Job) -> tuple[SkyPilotPlan, list[str]]:
    options = spec.executor
    assert isinstance(options, SkyPilotOptions)
    check = _Checks(spec)
    check.done()  # the checks below read the values themselves
    check.name(job.name)
    if options.nodes < 1:
        check.error("nodes", "must be at least 1", found=str(options.nodes))
    located = [k for k in ("cloud", "region", "zone") if getattr(options, k) is not None]
    if options.infra is not None and located:
        place = [options.cloud or options.infra.split("/")[0], options.region, options.zone]
        check.error(
            located[0],
            f"infra and {located[0]} exclude each other",
            suggestion="write the place as one infra: cloud[/region[/zone]] "
            f"(here infra: {'/'.join(str(p) for p in place if p is not None)})",
        )
    check.infra(options.infra)
    check.cloud(options.cloud)
    check.accelerators(options.accelerators)
    check.amount("cpus", options.cpus, CPUS, "a number, or '<number>+' for at least", "8+")
    check.amount(
        "memory",
        options.memory,
        MEMORY,
        "GB as a number, '<number><unit>' (KB, MB, GB, TB, PB) or '<number>+' for at least",
        "32+",
    )
    if options.disk_size is not None and options.disk_size < 1:
        check.error("disk_size", "must be a positive number of GB", found=str(options.disk_size))
    if options.instance_type is not None and not options.instance_type.strip():
        check.error("instance_type", "must not be empty")
    ports = check.ports(options.ports)
    check.job_recovery(options.job_recovery)
    image = check.container(options)
    check.mounts(options)
    check.done()
    command = None
    if job.launcher.kind == "torchrun":
        program = (
            torchrun.python_program(job.python, Var("NEMORUN_ENTRY"))
            if job.entry is not None
            else tuple(Word.of(word) for word in job.argv)
        )
        command = torchrun.command(torchrun.launcher_of(spec), options.nodes, MACROS, program)

    resources: list[tuple[str, Any]] = [
        (key, getattr(options, key)) for key in RESOURCES if getattr(options, key) is not None
    ]
    if image is not None:
        resources.append(("image_id", f"docker:{image}"))
    if ports:
        resources.append(("ports", ports))
    if options.job_recovery is not None:
        resources.append(("job_recovery", options.job_recovery))
    names = (
        tuple(f"{job.name}-{point.index}" for point in job.points)
        if job.is_sweep()
        else (job.name,)
    )
    home = PYTHONPATH_MOUNT.removeprefix("~/")
    pythonpath = tuple(f"{home}/{i}" for i in range(len(spec.pythonpath)))
    mounts = [*options.file_mounts.items()]
    mounts += [(f"~/{remote}", str(local)) for remote, local in zip(pythonpath, spec.pythonpath)]
    return SkyPilotPlan(
        names=names,
        resources=tuple(resources),
        num_nodes=options.nodes,
        envs=tuple((k, str(v)) for k, v in job.env if not isinstance(v, EnvRef)),
        shell_env=tuple((k, v) for k, v in job.env if isinstance(v, EnvRef)),
        file_mounts=tuple(mounts),
        pythonpath=tuple(Word.of(Var("HOME"), "/", remote) for remote in pythonpath),
        workdir=options.workdir,
        points_dir=(
            Word.of(Var("HOME"), f"/{REMOTE_RUNS}/{job.run.id}/{job.points_subdir}")
            if job.run is not None
            else None
        ),
        torchrun=command,
    ), []


class _Checks(OptionChecks):
    """Collects located errors about the spec's SkyPilot options."""

    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self.named = "name" in spec.tree

    def name(self, name: str) -> None:
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

    def infra(self, infra: str | None) -> None:
        if infra is None:
            return
        parts = infra.split("/")
        head = parts[0].lower()
        expected = "cloud[/region[/zone]], '*' for any cloud, or k8s[/<context>]"
        if head in KUBERNETES:
            ok = all(parts[1:]) if len(parts) > 1 else True
        elif head == "*" or head in CLOUDS:
            ok = len(parts) <= 3 and all(parts)
        else:
            self.error(
                "infra",
                "unknown cloud",
                expected=expected,
                found=repr(infra),
                suggestion=did_you_mean(parts[0].lower(), (*CLOUDS, *KUBERNETES)),
            )
            return
        if not ok or any(ch.isspace() for ch in infra):
            self.error("infra", "not an infra", expected=expected, found=repr(infra))

    def cloud(self, cloud: str | None) -> None:
        if cloud is not None and cloud.lower() not in CLOUDS:
            self.error(
                "cloud",
                "unknown cloud",
                expected=f"one of {', '.join(CLOUDS)}",
                found=repr(cloud),
                suggestion=did_you_mean(cloud.lower(), CLOUDS),
            )

    def accelerators(self, value: str | None) -> None:
        if value is None:
            return
        match = ACCELERATORS.fullmatch(value)
        if match is None:
            self.error(
                "accelerators",
                "not an accelerator request",
                expected="<name>[:<count>], like H100:8",
                found=repr(value),
            )
        elif match["count"] is not None and float(match["count"]) <= 0:
            self.error("accelerators", "the accelerator count must be positive", found=repr(value))

    def amount(
        self, key: str, value: str | int | None, pattern: re.Pattern[str], expected: str, eg: str
    ) -> None:
        if value is None:
            return
        if isinstance(value, int):
            number = float(value)
        else:
            match = pattern.fullmatch(value)
            if match is None:
                self.error(key, f"not a {key} amount", expected, repr(value), f"e.g. '{eg}'")
                return
            number = float(match["n"])
        if number <= 0:
            self.error(key, f"{key} must be positive", found=repr(value))

    def ports(self, ports: list[int | str]) -> list[int | str]:
        out: list[int | str] = []
        for i, port in enumerate(ports):
            text = str(port).strip()
            if isinstance(port, int) or text.isdigit():
                low = high = int(text)
            elif (match := PORT_RANGE.fullmatch(text)) is not None:
                low, high = int(match["low"]), int(match["high"])
            else:
                low, high = 0, -1
            if not 1 <= low <= high <= 65535:
                self.error(
                    ("ports", i),
                    "not a port or port range",
                    expected="a port 1 to 65535, or a range 'from-to' with from <= to",
                    found=repr(port),
                )
            out.append(port if isinstance(port, int) else text)
        return out

    def job_recovery(self, value: str | None) -> None:
        if value is not None and value.upper() not in RECOVERY_STRATEGIES:
            self.error(
                "job_recovery",
                "unknown recovery strategy",
                expected=f"one of {', '.join(RECOVERY_STRATEGIES)}",
                found=repr(value),
                suggestion=did_you_mean(value.upper(), RECOVERY_STRATEGIES),
            )

    def container(self, options: SkyPilotOptions) -> str | None:
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
        for remote, local in options.file_mounts.items():
            key = ("file_mounts", remote)
            if CLOUD_URL.match(remote):
                self.error(key, "a mount's destination cannot be a bucket", found=repr(remote))
            elif not remote.startswith(("/", "~")):
                self.error(
                    key,
                    "a mount's destination (the key) must be an absolute path on the cluster",
                    expected="a path starting with '/' or '~'",
                    found=repr(remote),
                )
            elif remote.rstrip("/") in (PYTHONPATH_MOUNT, "~/.nemorun") or remote.startswith(
                f"{PYTHONPATH_MOUNT}/"
            ):
                self.error(key, f"nemorun mounts the spec's pythonpath under {PYTHONPATH_MOUNT}")
            elif remote == SKY_WORKDIR and options.workdir is not None:
                self.error(key, f"{SKY_WORKDIR} is where SkyPilot puts the workdir")
            for what, path in (("destination", remote), ("source", local)):
                if path.endswith("/") or not path:
                    self.error(
                        key,
                        f"a mount's {what} must not be empty or end with '/'",
                        found=repr(path),
                        suggestion=f"write {path.rstrip('/')!r}" if path.rstrip("/") else None,
                    )
