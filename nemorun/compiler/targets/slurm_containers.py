"""``executor.container`` on the Slurm target: pyxis, Apptainer, or the node's own environment.

The runtime only changes the words between ``srun``'s own options and the task's command
(`ContainerStep.words`) and a few ``export`` lines before the step (`ContainerStep.env`):

- ``pyxis`` (the default, so specs written before the choice keep their meaning): srun's
  ``--container-image``, ``--container-mounts`` (the entry's file first, read-only),
  ``--container-workdir``, and ``--container-env`` naming ``container.env``'s variables.
- ``apptainer``: ``apptainer exec [--nv] [--pwd DIR] --bind …  IMAGE COMMAND`` inside the srun
  step; ``--nv`` only when the job asks for GPUs (`wants_gpus`). A bare image name is pulled as
  ``docker://`` (a pyxis ``registry#image`` too); a path (``.sif``, a sandbox) or a URI is kept.
- ``none``: no container; the job runs in the node's environment, like a spec without
  ``container:`` (and so, like it, under nemorun's own interpreter).

Both runtimes hand the step's environment to the container, but an image's own variables win
over it; ``container.env`` wins over the image (pyxis ``--container-env``, Apptainer's
``APPTAINERENV_NAME``, values never on a command line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from nemorun.compiler.torchrun import Var, Word
from nemorun.schemas.formats import option
from nemorun.schemas.options import ENV_NAME

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.compiler.targets.checks import OptionChecks
    from nemorun.compiler.targets.slurm import SlurmOptions

Runtime = Literal["pyxis", "apptainer", "none"]
# Image references Apptainer reads as they are: its URI schemes, and paths.
_APPTAINER_SCHEMES = ("docker-archive:", "docker-daemon:", "oci:", "oci-archive:")
_GPU_OPTIONS = ("gpus", "gpus_per_node", "gpus_per_task")
_ENTRY = Var("NEMORUN_ENTRY")


@dataclass
class SlurmContainer:
    """The container a Slurm job runs in, and how.

    Args:
        image: The image: a registry name (``nvcr.io/nvidia/pytorch:24.01-py3``, pyxis's
            ``nvcr.io#nvidia/pytorch:…``), or for Apptainer a ``.sif`` path or a URI.
        runtime: ``pyxis`` (srun's ``--container-*``), ``apptainer`` or ``none`` (no container).
        mounts: Host paths to mount, ``HOST:CONTAINER[:ro]``, both absolute.
        env: Variables set in the container over the image's own values.
    """

    image: str | None = None
    runtime: Runtime = "pyxis"
    mounts: list[str] = field(default_factory=list)
    env: dict[str, str] = option(ENV_NAME, factory=dict)

    def uses_image(self) -> bool:
        """False for ``runtime: none``: the job runs on the node's own files and Python."""
        return self.runtime != "none"


@dataclass(frozen=True)
class ContainerStep:
    """What the runtime adds to the srun step."""

    words: tuple[Word, ...] = ()
    """Between srun's options and the command: pyxis flags, or ``apptainer exec … IMAGE``."""
    env: tuple[tuple[str, Any], ...] = ()
    """``export NAME=VALUE`` lines before the step (``APPTAINERENV_NAME`` for Apptainer)."""


NO_CONTAINER = ContainerStep()


def container_step(options: SlurmOptions, job: Job, check: OptionChecks) -> ContainerStep:
    """The step's container words for ``options.container`` (checked; errors go to ``check``)."""
    container = options.container
    if container is None or not _checked(container, check):
        return NO_CONTAINER
    if container.runtime == "pyxis":
        return _pyxis(container, job)
    if container.runtime == "apptainer":
        return _apptainer(container, options, job)
    return NO_CONTAINER


def _pyxis(container: SlurmContainer, job: Job) -> ContainerStep:
    words = [Word.of(f"--container-image={container.image}")]
    mounts = ",".join(container.mounts)
    if job.entry is not None:
        entry = Word.of(_ENTRY, ":", _ENTRY, ":ro")
        words.append(Word.of("--container-mounts=", entry, f",{mounts}" if mounts else ""))
    elif mounts:
        words.append(Word.of(f"--container-mounts={mounts}"))
    if job.workdir is not None:
        words.append(Word.of(f"--container-workdir={job.workdir}"))
    if container.env:
        words.append(Word.of("--container-env=" + ",".join(container.env)))
    return ContainerStep(tuple(words), tuple(container.env.items()))


def _apptainer(container: SlurmContainer, options: SlurmOptions, job: Job) -> ContainerStep:
    """``apptainer exec``: the entry's file, the point's directory (a launched run's outputs)
    and the code directories are bound at their host paths, then ``container.mounts``."""
    words = [Word.of("apptainer"), Word.of("exec")]
    if wants_gpus(options):
        words.append(Word.of("--nv"))
    if job.workdir is not None:
        words += [Word.of("--pwd"), Word.of(job.workdir)]
    binds = [Word.of(_ENTRY, ":", _ENTRY, ":ro")] if job.entry is not None else []
    if job.run is not None:
        point = Var("NEMORUN_POINT_DIR")
        binds.append(Word.of(point, ":", point))
    binds += [Word.of(f"{d}:{d}:ro") for d in job.pythonpath if d.startswith("/")]
    binds += [Word.of(mount) for mount in container.mounts]
    for bind in binds:
        words += [Word.of("--bind"), bind]
    words.append(Word.of(apptainer_image(str(container.image))))
    env = tuple((f"APPTAINERENV_{name}", value) for name, value in container.env.items())
    return ContainerStep(tuple(words), env)


def apptainer_image(image: str) -> str:
    """The image as Apptainer names it: a path or URI as written, else ``docker://IMAGE``
    (pyxis's ``registry#image`` becomes ``registry/image``)."""
    if "://" in image or image.startswith(_APPTAINER_SCHEMES):
        return image
    if image.endswith(".sif") or image.startswith(("/", "./", "../")):
        return image
    return "docker://" + image.replace("#", "/", 1)


def wants_gpus(options: SlurmOptions) -> bool:
    """True when the job asks for GPUs: a non-zero ``gpus``, ``gpus_per_node`` or
    ``gpus_per_task`` (``a100:8`` counts 8), or a ``gres`` naming ``gpu``."""
    for name in _GPU_OPTIONS:
        value = getattr(options, name)
        if value is not None and str(value).rsplit(":", 1)[-1] not in ("0", ""):
            return True
    return options.gres is not None and "gpu" in options.gres


def _checked(container: SlurmContainer, check: OptionChecks) -> bool:
    """True when ``container`` is whole; each mistake is a located error."""
    before = len(check.errors)
    if container.runtime == "none":
        for name in ("image", "mounts", "env"):
            if getattr(container, name):
                check.error(
                    ("container", name),
                    f"runtime none runs the job in the node's own environment: no {name}",
                    suggestion=_NONE_FIX[name],
                )
        return len(check.errors) == before
    if not container.image:
        check.error(
            ("container",),
            f"runtime {container.runtime} needs an image",
            expected="container.image, like nvcr.io/nvidia/pytorch:24.01-py3",
            suggestion="set image, or runtime: none to run without a container",
        )
    elif container.image.startswith("-"):
        check.error(("container", "image"), "an image cannot start with '-'", found=container.image)
    for index, mount in enumerate(container.mounts):
        _check_mount(container.runtime, mount, ("container", "mounts", index), check)
    return len(check.errors) == before


_NONE_FIX = {
    "image": "remove image, or set runtime: pyxis or apptainer",
    "mounts": "remove mounts: the job sees the node's own files",
    "env": "set the variables in executor.env",
}


def _check_mount(runtime: str, mount: str, key: tuple[str | int, ...], check: OptionChecks) -> None:
    """``HOST:CONTAINER[:FLAGS]``: absolute paths, no comma (srun and Apptainer read their
    mounts as one comma-separated list); Apptainer's flags are ``ro`` or ``rw``."""
    parts = mount.split(":")
    found = repr(mount)
    if "," in mount:
        message = "a container mount cannot hold a comma: srun reads the mounts as one "
        message += "comma-separated list" if runtime == "pyxis" else "--bind reads a comma as two"
        check.error(key, message, found=found)
    elif len(parts) not in (2, 3) or not all(parts[:2]):
        check.error(key, "not a mount", expected="HOST:CONTAINER or HOST:CONTAINER:ro", found=found)
    elif not parts[0].startswith("/"):
        check.error(
            key,
            "a relative host path: each node would read it from the job's own directory",
            expected="an absolute host path",
            found=found,
        )
    elif not parts[1].startswith("/"):
        check.error(
            key, "a relative path in the container", expected="an absolute path", found=found
        )
    elif runtime == "apptainer" and len(parts) == 3 and parts[2] not in ("ro", "rw"):
        check.error(key, "not a bind option of Apptainer", expected="ro or rw", found=found)
