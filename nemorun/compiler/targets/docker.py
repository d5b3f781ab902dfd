"""The ``docker`` target: a bash script with one ``docker run`` per sweep point.

The script runs every point in turn, each in its own container, or only the point given as its
first argument (like the local target), and exits non-zero if any point failed; with one point
its exit status is the container's (the task's, or docker's own 125 to 127). It needs bash and a
``docker`` client on the submitting machine; ``DOCKER_HOST`` and the rest of docker's own
environment are honoured as usual.

The image provides Python and the code's dependencies, never nemorun: the code directories are
mounted at their host paths (`_Checks.volumes`), and a ``sh`` prologue puts them on
``PYTHONPATH`` (`_setup`). `plan` says what each option becomes; the docker syntax of
single values (``gpus``, ``shm_size``, ``ipc``, ``network``, ``user``, ``name`` and label keys,
not nemorun's own) is declared on `DockerOptions`' fields; `_Checks` holds docker's rules for
the fields every target shares.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nemorun.compiler import torchrun
from nemorun.compiler.targets.checks import OptionChecks
from nemorun.compiler.torchrun import Macros, Var, Word
from nemorun.errors import KeyPath, did_you_mean
from nemorun.registry import TargetDef
from nemorun.schemas.convert import EnvRef
from nemorun.schemas.formats import Format, option
from nemorun.schemas.options import ExecutorOptions
from nemorun.schemas.retries import Resilience

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.schemas.spec import Spec

IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]*")
VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")
MOUNT_MODES = ("ro", "rw")
MAX_NAME = 63


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
    reserved=("nemorun.run-name", "nemorun.point"),  # written by the template
    reserved_message="nemorun sets the label {!r} itself",
    reserved_hint=None,
)


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


@dataclass(frozen=True)
class DockerEnv:
    """One ``--env`` of the container."""

    name: str
    value: str | EnvRef
    variable: str | None
    """The script variable that holds a value read from the submitting shell, or None."""


@dataclass(frozen=True)
class DockerPlan:
    """What ``docker.sh.j2`` needs beyond the `Job`."""

    image: str
    name: str
    """The container's name; a sweep adds ``-POINT``."""
    labels: tuple[tuple[str, str], ...]
    """The user's labels (nemorun's own two are written by the template)."""
    options: tuple[tuple[str, str], ...]
    """(long option, value) for ``--gpus``, ``--shm-size``, ``--ipc``, ``--network``, ``--user``."""
    volumes: tuple[str, ...]
    """``--volume`` values: the code directories (read-only), then ``container.mounts``."""
    env: tuple[DockerEnv, ...]
    """``--env`` values: the spec's ``env``."""
    setup: str | None
    """The ``sh -c`` prologue that extends ``PYTHONPATH`` and runs ``setup`` before the task,
    or None when there is nothing to do."""
    setup_delimiter: str
    """The heredoc delimiter around ``setup``: no line of it."""
    torchrun: tuple[Word, ...] | None = None
    """The torchrun words that run the task in the container, or None without a launcher."""

    @property
    def shell_env(self) -> tuple[DockerEnv, ...]:
        """The env values read from the submitting shell."""
        return tuple(e for e in self.env if e.variable is not None)


DEFAULT_IMAGE = "python:3.11-slim"
"""The image used when the spec names none (with a warning)."""


def plan(spec: Spec, job: Job) -> tuple[DockerPlan, list[str]]:
    """The checked options, as ``docker run`` flags.

    Options, in docker's own words: ``gpus`` (``--gpus``), ``shm_size``, ``ipc``, ``network``,
    ``user``, ``name`` and ``labels``. ``workdir`` (an absolute path in the container) becomes
    ``--workdir``; without it the image's own working directory is used. Every container is
    removed when its point ends (``--rm``), so outputs go to a mounted directory: the spec's
    ``container.mounts``, or, for a launched run, the point's own ``NEMORUN_POINT_DIR`` (made
    by the script on this machine and mounted at the same path). Labels ``nemorun.run-name``
    and ``nemorun.point`` are always set. Every container gets ``NEMORUN_RUN_NAME`` and
    ``NEMORUN_POINT`` (and, launched, the run's and the point's variables: the README's table).
    """
    options = spec.executor
    assert isinstance(options, DockerOptions)
    check = _Checks(spec)
    warnings = []
    if options.nodes != 1:
        warnings.append(f"target docker runs on this machine only: executor.nodes={options.nodes}")
    image = check.image(options, warnings)
    volumes = check.volumes(spec, options)
    check.workdir(options)
    name = _name(options, job)
    check.done()
    command = _torchrun(spec, job, name, warnings)

    from nemorun.compiler.render import heredoc_delimiter

    setup = _setup(job)
    plan = DockerPlan(
        image=image,
        name=name,
        labels=tuple(options.labels.items()),
        options=_flags(options),
        volumes=volumes,
        env=_env(job),
        setup=setup,
        setup_delimiter=heredoc_delimiter(setup or "", "NEMORUN_SETUP"),
        torchrun=command,
    )
    return plan, warnings


def _flags(options: DockerOptions) -> tuple[tuple[str, str], ...]:
    """``--gpus``, ``--shm-size``, ``--ipc``, ``--network`` and ``--user``, those set."""
    return tuple(
        (flag, str(value))
        for flag, value in (
            ("gpus", options.gpus),
            ("shm-size", options.shm_size),
            ("ipc", options.ipc),
            ("network", options.network),
            ("user", options.user),
        )
        if value is not None
    )


def _name(options: DockerOptions, job: Job) -> str:
    """The container's name: ``name``, or by default `container_name` of the job's name (with
    the run's suffix when launched); the template adds ``-<point>`` for a sweep."""
    if options.name is not None:
        return options.name
    if job.run is not None:
        # Two runs of one spec may overlap (a rerun while the first still runs): the run's own
        # suffix keeps their containers apart.
        return container_name(f"{job.job_name}-{job.run.id.rsplit('-', 1)[-1]}")
    return container_name(job.job_name)


def _env(job: Job) -> tuple[DockerEnv, ...]:
    """``env`` values reach the container with ``--env NAME=VALUE``, names and values intact.

    A ``${oc.env:VAR,default}`` value is read from the shell that runs the script, once, when
    it starts (like the local target), into a script variable. ``${oc.env:…}`` in *task*
    arguments is read by the entry inside the container, which sees only the image's and the
    job's environment.
    """
    return tuple(
        DockerEnv(key, value, f"env_{key}" if isinstance(value, EnvRef) else None)
        for key, value in job.env
    )


def _setup(job: Job) -> str | None:
    """The prologue ``sh`` runs in the container before the task, or None.

    When there are code directories or ``setup`` lines, the container runs ``sh`` first (the
    image needs one): it puts the code directories in front of the container's ``PYTHONPATH``
    (the ``env`` value, else the image's), the rule of every target
    (`render.pythonpath_export`), runs ``setup``, then ``exec``s the task.
    """
    from nemorun.compiler.render import pythonpath_export

    prologue = [pythonpath_export(job.pythonpath)] if job.pythonpath else []
    prologue += job.setup
    return "\n".join(("set -e", *prologue, 'exec "$@"')) + "\n" if prologue else None


def _torchrun(spec: Spec, job: Job, name: str, warnings: list[str]) -> tuple[Word, ...] | None:
    """The torchrun words for ``launcher: {kind: torchrun}``, or None without a launcher.

    One node, as for the local target: torchrun runs in the container (the image must have it)
    with ``--node-rank=0``, the rendezvous on the container's own ``localhost:rdzv_port`` and
    ``--rdzv-id`` the container's name (never random). Without ``shm_size`` or ``ipc: host`` a
    warning recalls docker's 64 MB ``/dev/shm``.
    """
    if job.launcher.kind != "torchrun":
        return None
    options = spec.executor
    assert isinstance(options, DockerOptions)
    launcher = spec.launcher
    macros = Macros(
        node_rank=Word.of(0),
        head_node=Word.of("localhost"),
        job_id=Word.of(name, *(("-", Var("1")) if job.is_sweep() else ())),
    )
    command = torchrun.command(launcher, 1, macros, _program(job))
    if launcher.nproc_per_node > 1 and options.shm_size is None and options.ipc != "host":
        warnings.append(
            "torchrun workers share memory through /dev/shm, 64 MB in a docker container "
            "by default: set executor.shm_size (e.g. 16g) or executor.ipc: host"
        )
    return command


def _program(job: Job) -> tuple[Word, ...]:
    """What each torchrun worker runs: the entry (from the script's variable) or the argv."""
    if job.entry is not None:
        return torchrun.python_program(job.python, Var("NEMORUN_ENTRY"))
    return tuple(Word.of(word) for word in job.argv)


def container_name(run_name: str) -> str:
    """``nemorun-<run name>``, made a valid container name: characters docker refuses become
    ``_``, and when that (or shortening) changed anything a hash of the real name is added, so
    different run names keep different containers."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", run_name)[:MAX_NAME]
    name = f"nemorun-{cleaned}"
    if cleaned != run_name:
        name += "-" + hashlib.sha256(run_name.encode()).hexdigest()[:8]
    return name


class _Checks(OptionChecks):
    """Collects located errors about the spec's docker options: docker's rules for fields
    every target shares (the image, mounts, code directories, ``workdir``)."""

    def image(self, options: DockerOptions, warnings: list[str]) -> str:
        """``container.image``, which cannot look like an option; `DEFAULT_IMAGE` (with a
        warning) when the spec names none."""
        if options.container is None:
            # Every example compiles for every target: a plain Python image runs a spec's task
            # with its code directories mounted. Saying so keeps the choice visible.
            warnings.append(
                f"no executor.container.image: using {DEFAULT_IMAGE} "
                "(set 'container: {image: IMAGE}' under executor to choose)"
            )
            return DEFAULT_IMAGE
        image = options.container.image
        if not IMAGE.fullmatch(image):
            self.error(
                ("container", "image"),
                "not an image reference",
                expected="a name like 'python:3.11-slim' or 'registry/repo@sha256:…'",
                found=repr(image),
            )
        return image

    def volumes(self, spec: Spec, options: DockerOptions) -> tuple[str, ...]:
        """``--volume`` values: the code directories (read-only), then ``container.mounts``.

        Every ``pythonpath`` directory of the spec (absolute host paths, resolved when the
        spec is loaded) is mounted read-only at the *same* path in the container, so the
        generated entry imports the task's code exactly as on the host; such a path cannot
        hold ``:``. A ``container.mounts`` entry with the same container path replaces the
        automatic mount.
        """
        mounts = self.mounts(options.container.mounts if options.container else [])
        targets = {target for _, target in mounts}
        volumes: list[str] = []
        for i, directory in enumerate(spec.pythonpath):
            path = str(directory)
            if ":" in path:
                self.error_at(
                    ("pythonpath", i),
                    "a code directory mounted into a container cannot hold ':'",
                    found=repr(path),
                )
            elif path not in targets:
                volumes.append(f"{path}:{path}:ro")
                targets.add(path)
        return (*volumes, *(volume for volume, _ in mounts))

    def workdir(self, options: DockerOptions) -> None:
        """``workdir`` is a path in the container, so absolute."""
        if options.workdir is not None and not options.workdir.startswith("/"):
            self.error(
                "workdir",
                "docker needs an absolute working directory",
                expected="a path in the container starting with '/'",
                found=repr(options.workdir),
            )

    def mounts(self, mounts: list[str]) -> list[tuple[str, str]]:
        """The valid ``(volume, container path)`` pairs of ``container.mounts``: each has the
        form ``host:container[:ro|rw]`` with absolute paths (or a volume name on the host
        side), and no container path is mounted twice."""
        out: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for i, mount in enumerate(mounts):
            key: KeyPath = ("container", "mounts", i)
            parts = mount.split(":")
            expected = "host:container or host:container:ro|rw, with absolute paths"
            if len(parts) not in (2, 3):
                self.error(key, "not a mount", expected, repr(mount))
                continue
            host, target = parts[0], parts[1]
            mode = parts[2] if len(parts) == 3 else None
            if not (host.startswith("/") or VOLUME_NAME.fullmatch(host)):
                self.error(
                    key,
                    "the host side of a mount must be an absolute path or a volume name",
                    expected,
                    repr(mount),
                    suggestion=None if host else "give the host path",
                )
            elif not target.startswith("/"):
                self.error(key, "the container side of a mount must be absolute", found=repr(mount))
            elif mode is not None and mode not in MOUNT_MODES:
                self.error(
                    key,
                    "not a mount mode",
                    "ro or rw",
                    repr(mode),
                    did_you_mean(mode, MOUNT_MODES),
                )
            elif target.rstrip("/") in seen:
                self.error(
                    key,
                    f"the container path {target} is mounted twice",
                    suggestion=f"see executor.container.mounts[{seen[target.rstrip('/')]}]",
                )
            else:
                seen[target.rstrip("/")] = i
                out.append((mount, target.rstrip("/") or "/"))
        return out


TARGET = TargetDef(
    name="docker",
    options=DockerOptions,
    plan=plan,
    template="docker.sh.j2",
    suffix=".sh",
    launch="nemorun.launchers.docker:DockerTarget",
    launchers=("none", "torchrun"),
    orders_tasks=True,
    resilience=Resilience(("failed",)),  # a non-zero exit is all it can see
)
