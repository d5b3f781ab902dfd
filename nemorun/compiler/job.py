"""What compile works with and returns: the run it compiles for, the job every template sees,
and the artifacts it produces. Plain frozen data, no behaviour beyond naming.

`Job` is the typed context of every template (with the target's own plan object beside it).
`Artifacts` is what `nemorun.compiler.driver.compile_spec` returns; `Parts` is what a target's
``plan`` returns when one job needs several main artifacts. `RunContext` (a run's id and
directory) is an *input* of compile, chosen by the launcher, never made here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nemorun.compiler.machine import UNKNOWN_MACHINE, Machine
from nemorun.compiler.points import Point
from nemorun.compiler.retries import RetryPlan
from nemorun.compiler.torchrun import Var, Word, python_program
from nemorun.errors import SpecError
from nemorun.schemas.convert import EnvRef
from nemorun.schemas.options import ExecutorOptions, LauncherOptions


@dataclass(frozen=True)
class RunContext:
    """The run an artifact is compiled for: its id and its directory (inputs, never made here)."""

    id: str
    dir: Path
    cwd: Path | None = None
    """The directory the run was launched from: a job on this machine's files (local, Slurm)
    starts there unless the spec sets ``workdir``, whichever directory submits it."""
    env: tuple[tuple[str, str], ...] = ()
    """Variables the launcher adds to the job's environment after the spec's ``env``: the
    trackers' runs it created for this run (``MLFLOW_RUN_ID``...), inputs like the id."""

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"


ENTRY_FILE = "entry.py"
"""The entry's own artifact: written beside the main one (``-o DIR``, a run's ``artifacts``)."""


@dataclass(frozen=True, init=False)
class Artifact:
    """One file of a compiled job: its text, in one chunk or several (a large sweep's stream,
    `nemorun.compiler.stream`), written one after another and joined only when ``text`` is
    read."""

    name: str
    chunks: Sequence[str]
    """The text in chunks (a `nemorun.compiler.stream.Stream` makes each when asked for)."""
    executable: bool = False

    def __init__(self, name: str, text: str | Sequence[str], executable: bool = False) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "chunks", (text,) if isinstance(text, str) else text)
        object.__setattr__(self, "executable", executable)

    @property
    def text(self) -> str:
        return self.chunks[0] if len(self.chunks) == 1 else "".join(self.chunks)

    def __hash__(self) -> int:
        return hash((self.name, self.text, self.executable))


@dataclass(frozen=True)
class Artifacts:
    """What a compile produces: the main artifact(s) and side files.

    ``mains`` holds one artifact, printed without ``-o``; a job that needs several (a Slurm
    sweep above ``max_array_size``: one sbatch script per array) can only be written with
    ``-o DIR``, so `main` refuses it with a `SpecError` that says so.
    """

    target: str
    mains: tuple[Artifact, ...]
    files: tuple[Artifact, ...] = ()
    points: Sequence[Point] = ()
    warnings: tuple[str, ...] = ()
    why_several: str | None = None
    """Why there are several ``mains`` (`Parts.reason`)."""
    logs: dict[str, str] = dataclasses.field(default_factory=dict)
    """Compiled for a run: where the job's output goes (``output``, ``error``, ``status``), as
    paths with the target's own placeholders (``%j``/``%A``/``%a`` for Slurm, ``{point}`` for
    the local target). Empty without a run."""

    @property
    def main(self) -> Artifact:
        """The one main artifact (stdout without ``-o``)."""
        if len(self.mains) != 1:
            names = ", ".join(a.name for a in self.mains)
            raise SpecError(
                f"{self.why_several or 'the job has several main artifacts'}; "
                f"its {len(self.mains)} scripts ({names}) cannot all go to stdout",
                suggestion="write them into a directory with -o DIR",
            )
        return self.mains[0]

    def all(self) -> tuple[Artifact, ...]:
        return (*self.mains, *self.files)

    def write(self, directory: Path) -> list[Path]:
        """Write every artifact under ``directory`` (atomically); returns the paths."""
        from nemorun.files import normal_mode, write_output

        paths = []
        for artifact in self.all():
            path = directory / artifact.name
            write_output(path, artifact.chunks, normal_mode(artifact.executable))
            paths.append(path)
        return paths


@dataclass(frozen=True)
class Parts:
    """A target plan for a job that needs several main artifacts: one template context each.

    Part ``i`` is written as ``NAME.i SUFFIX`` (``pretrain.0.sbatch``, ``pretrain.1.sbatch``).
    """

    contexts: tuple[Any, ...]
    reason: str
    """Why there are several (said when they are asked for on stdout)."""


@dataclass(frozen=True)
class Job:
    """The typed context of every template: what to run, where, with which environment."""

    name: str
    """The run's name (``NEMORUN_RUN_NAME``): the spec's ``name``, else the file's stem."""
    source: str
    overrides: tuple[str, ...]
    target: str
    options: ExecutorOptions
    points: Sequence[Point]
    entry: str | None
    """The entry module (Python tasks); None for script and command tasks."""
    delimiter: str
    """The heredoc delimiter around ``entry``: no line of it."""
    python: str
    argv: tuple[str, ...]
    """The words that run a script or command task (quoted by the template)."""
    env: tuple[tuple[str, str | EnvRef], ...]
    setup: tuple[str, ...]
    workdir: str | None
    pythonpath: tuple[str, ...]
    """The spec's code directories; every target adds them by `render.pythonpath_export`."""
    launcher: LauncherOptions = dataclasses.field(default_factory=LauncherOptions)
    """How the task's processes start: ``kind`` none, or torchrun (`nemorun.compiler.torchrun`)."""
    run: RunContext | None = None
    """The run this job is compiled for (its id and directory), or None for a plain compile."""
    task: str | None = None
    """The task's name in a spec with several tasks; None for a single-task spec."""
    machine: Machine = UNKNOWN_MACHINE
    """What compile was told about the machine it compiles on (`nemorun.compiler.machine`)."""
    output: Path | None = None
    """The directory ``-o DIR`` writes the artifacts into (absolute), an input like ``run``;
    None when compile does not know it (stdout, the API)."""
    retry: RetryPlan | None = None
    """The resilience policy (`nemorun.compiler.retries`), or None when the spec sets none."""

    @property
    def num_points(self) -> int:
        return len(self.points)

    @property
    def stem(self) -> str:
        """The file-name stem of the job's artifacts and logs: the task's name, else the run's."""
        return file_stem(self.task if self.task is not None else self.name)

    @property
    def job_name(self) -> str:
        """The name schedulers show: the run's name, with the task's for several tasks."""
        return self.name if self.task is None else f"{self.name}-{self.task}"

    def is_sweep(self) -> bool:
        return len(self.points) > 1

    @property
    def run_entry(self) -> tuple[Word, ...]:
        """The words that run the entry file ``$NEMORUN_ENTRY`` the artifact wrote
        (`nemorun.compiler.torchrun.python_program`)."""
        return python_program(self.python, Var("NEMORUN_ENTRY"), unbuffered=False)

    @property
    def points_subdir(self) -> str:
        """Where, under the run's directory, each point gets its own (``NEMORUN_POINT_DIR`` is
        this plus ``/POINT``): ``points``, or ``points/TASK`` for one task of several."""
        return "points" if self.task is None else f"points/{self.stem}"

    @property
    def entry_file(self) -> Path | None:
        """Where a run keeps `ENTRY_FILE` on this machine (``RUN_DIR/artifacts``, in the task's
        own directory for one task of several); None without a run."""
        if self.run is None:
            return None
        task_dir = () if self.task is None else (self.stem,)
        return self.run.dir.joinpath("artifacts", *task_dir, ENTRY_FILE)

    @property
    def written_entry(self) -> Path | None:
        """Where `ENTRY_FILE` will be on this machine: the run's copy (`entry_file`), else the
        one written beside the artifacts in ``output`` (the task's own directory for one task
        of several); None when compile does not know where the artifacts go."""
        if self.run is not None or self.output is None:
            return self.entry_file
        return self.output.joinpath(*(() if self.task is None else (self.stem,)), ENTRY_FILE)

    @property
    def points_dir(self) -> str | None:
        """``RUN_DIR/points`` (see `points_subdir`) on this machine; None without a run."""
        return None if self.run is None else f"{self.run.dir}/{self.points_subdir}"


MAX_STEM = 60
"""Artifact and log names are ``STEM.POINT.log`` and the like: a stem of at most 60 characters
keeps them far below a file system's 255-byte name limit, however long the run's name."""


def file_stem(name: str) -> str:
    """``name`` as a file-name stem: safe characters only, and a long name cut, with a hash of
    the whole so that two long names that share a beginning stay apart."""
    stem = re.sub(r"[^\w.-]", "_", name, flags=re.ASCII).lstrip(".") or "job"
    if len(stem) <= MAX_STEM:
        return stem
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{stem[: MAX_STEM - 9]}-{digest}"
