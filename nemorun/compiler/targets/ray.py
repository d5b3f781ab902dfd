"""The ``ray`` target: a job description for the Ray Jobs API; one Ray job per sweep point.

The artifact (``NAME.ray.yaml``) names the cluster (``address``, or None: ``RAY_ADDRESS`` where
you launch) and lists ``jobs``: each item is exactly a request body of the Jobs API (``POST
/api/jobs/``, the keyword arguments of ``JobSubmissionClient.submit_job``). Each job starts in
its ``runtime_env.working_dir``: ``entry.py`` and a copy of each ``pythonpath`` directory as
``pythonpath/<i>`` (`nemorun.launchers.ray` builds it in ``RUN/ray/workdir``, then uploads it).

Two packings of a sweep (`RayPlan`): ``per_point`` (default) is one job per point, each with its
own ``NEMORUN_POINT`` and the entry-point resources; ``one_job`` is one job whose driver
(`nemorun.launchers.ray_points`, copied into the working dir) runs every point as a Ray task,
at most ``max_concurrency`` at once, each task with the resources.

An ``env`` value with ``${oc.env:…}`` is read on the cluster: the entry point's shell exports
it (``env_vars`` values are literal). torchrun is refused (`_Checks.launcher`; the README
says why). Compile never imports ray.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

from nemorun.compiler.targets.checks import OptionChecks
from nemorun.compiler.torchrun import Var, Word
from nemorun.registry import TargetDef
from nemorun.schemas.convert import EnvRef
from nemorun.schemas.formats import Format, option
from nemorun.schemas.options import COUNT, ExecutorOptions

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.schemas.spec import Spec

WORKDIR = "ray/workdir"
"""Under the run's directory: ``STEM/`` is a task's working directory (built when launching)."""
PYTHONPATH_DIR = "pythonpath"
"""In the working directory: ``pythonpath/i`` is the copy of the spec's ``pythonpath`` entry i."""
POINTS_DRIVER = "nemorun_ray_points.py"
"""In the working directory (``packing: one_job``): the driver that runs the points as tasks."""
ENTRY = "entry.py"

_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_MEMORY = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([kKmMgGtT]?)([iI]?)[bB]?")
RAY_ADDRESS = Format(
    "a Ray address",
    pattern=r"(?:https?://)?[A-Za-z0-9.\[\]:-]+(?::[0-9]{1,5})?/?",
    expected="the Jobs API (dashboard) address: http://HOST:8265, or HOST:8265",
    example="http://127.0.0.1:8265",
)
RAY_RESOURCE = Format(
    "a resource amount", minimum=0, expected="a number of 0 or more", fractions=True
)
RAY_MEMORY = Format(
    "a memory amount",
    pattern=_MEMORY.pattern,
    expected="bytes as a number, or a number with a unit: 512MiB, 2GiB, 4G",
    example="2GiB",
    minimum=0,
    fractions=True,
)
RAY_PIP = Format(
    "a pip requirement",
    pattern=r"[^\s#][^\n]*",
    expected="one requirement per item, like torch==2.13.0",
    applies_to="items",
)


@dataclass
class RayOptions(ExecutorOptions):
    """A Ray job submitted through the Jobs API of an existing cluster.

    Args:
        address: The cluster's Jobs API (``http://HOST:8265``); default: ``RAY_ADDRESS``.
        num_cpus: CPUs of the entry point (``one_job``: of each point's task).
        num_gpus: GPUs of the entry point (``one_job``: of each point's task).
        memory: Memory of the entry point, bytes or ``2GiB`` (``one_job``: of each task).
        pip: Requirements Ray installs for the job (``runtime_env.pip``).
        packing: ``per_point``: one Ray job per sweep point; ``one_job``: all points as Ray
            tasks of one job.
        max_concurrency: With ``one_job``: at most this many points run at once.
    """

    address: str | None = option(RAY_ADDRESS)
    num_cpus: float | None = option(RAY_RESOURCE)
    num_gpus: float | None = option(RAY_RESOURCE)
    memory: int | str | None = option(RAY_MEMORY)
    pip: list[str] = option(RAY_PIP, factory=list)
    packing: Literal["per_point", "one_job"] = "per_point"
    max_concurrency: int | None = option(COUNT)


@dataclass(frozen=True)
class RayJob:
    """One job of the description: a Jobs API request body, with the points it runs."""

    points: tuple[int | str, ...]
    """The indices of its points (a marker for a stand-in: `nemorun.compiler.stream`)."""
    body: dict[str, Any]


@dataclass(frozen=True)
class PerPoint(Sequence[RayJob]):
    """The jobs of ``packing: per_point``, one per index, each made when asked for (a sweep
    of 100,000 points does not hold 100,000 request bodies)."""

    job: Job
    options: RayOptions
    command: str
    resources: dict[str, Any]
    indices: Sequence[int | str]

    def __len__(self) -> int:
        return len(self.indices)

    @overload
    def __getitem__(self, at: int) -> RayJob: ...

    @overload
    def __getitem__(self, at: slice) -> Sequence[RayJob]: ...

    def __getitem__(self, at: int | slice) -> RayJob | Sequence[RayJob]:
        if isinstance(at, slice):
            return [self[i] for i in range(*at.indices(len(self)))]
        point = self.indices[at]
        body = _body(self.job, self.options, self.command, self.resources, (point,))
        return RayJob((point,), body)

    def __iter__(self) -> Iterator[RayJob]:
        return (self[i] for i in range(len(self)))


@dataclass(frozen=True)
class RayPlan:
    """What ``ray.yaml.j2`` needs beyond the `Job`."""

    address: str | None
    jobs: Sequence[RayJob]

    def stand_in(self, job: Job, indices: Sequence[str]) -> RayPlan | None:
        """The plan for stand-in points of these indices (`nemorun.compiler.stream`); None
        for ``packing: one_job`` (one job lists every point)."""
        if not isinstance(self.jobs, PerPoint):
            return None
        return dataclasses.replace(self, jobs=dataclasses.replace(self.jobs, indices=indices))


def plan(spec: Spec, job: Job) -> tuple[RayPlan, list[str]]:
    """The checked options, as Jobs API requests.

    ``num_cpus``, ``num_gpus``, ``memory`` become ``entrypoint_num_cpus`` /
    ``entrypoint_num_gpus`` / ``entrypoint_memory`` (bytes); ``pip`` is ``runtime_env.pip``;
    literal ``env`` values are ``runtime_env.env_vars``, after ``NEMORUN_RUN_NAME``,
    ``NEMORUN_RUN_ID`` (with a run) and ``NEMORUN_POINT``. With a run, each job's
    ``submission_id`` is ``nemorun-RUN_ID-STEM[-POINT]``.
    """
    options = spec.executor
    assert isinstance(options, RayOptions)
    check = _Checks(spec)
    check.launcher(spec)
    check.container(options)
    check.packing(options, job)
    check.done()
    warnings = []
    if options.nodes != 1:
        warnings.append(
            f"target ray runs the entry point on one node of the cluster: executor.nodes="
            f"{options.nodes} is not used (Ray places the job's own tasks)"
        )
    command = point_command(job)
    resources = _resources(options)
    if options.packing == "one_job":
        jobs: Sequence[RayJob] = (_one_job(job, options, command, resources),)
    else:
        jobs = PerPoint(job, options, command, resources, _indices(job))
    return RayPlan(options.address, jobs), warnings


def _indices(job: Job) -> Sequence[int]:
    from nemorun.compiler.points import Points

    if isinstance(job.points, Points):  # index i is point i: no Point made
        return range(job.num_points)
    return tuple(p.index for p in job.points)


def point_command(job: Job) -> str:
    """The shell lines that run one point in the working directory (``NEMORUN_POINT`` set):
    the ``${oc.env:…}`` values exported, the code directories on ``PYTHONPATH``, ``setup``,
    then the task."""
    from nemorun.compiler.render import pythonpath_export, shell_quote

    lines = ["set -e"]
    lines += [f"export {k}={shell_quote(v)}" for k, v in job.env if isinstance(v, EnvRef)]
    if job.pythonpath:
        copies = [Word.of(Var("PWD"), f"/{PYTHONPATH_DIR}/{i}") for i in range(len(job.pythonpath))]
        lines.append(pythonpath_export(copies))
    lines += job.setup
    if job.entry is not None:
        lines.append(f"exec {shell_quote(job.python)} {ENTRY}")
    else:
        lines.append("exec " + " ".join(shell_quote(word) for word in job.argv))
    return "\n".join(lines)


def _resources(options: RayOptions) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if options.num_cpus is not None:
        out["num_cpus"] = options.num_cpus
    if options.num_gpus is not None:
        out["num_gpus"] = options.num_gpus
    if options.memory is not None:
        out["memory"] = memory_bytes(options.memory)
    return out


def memory_bytes(value: int | float | str) -> int:
    """``value`` in bytes: a number is bytes; ``2G`` is 2·10⁹, ``2GiB`` 2·2³⁰."""
    if not isinstance(value, str):
        return int(value)
    match = _MEMORY.fullmatch(value.strip())
    assert match is not None, value  # the field's format checked it
    number, unit, binary = match.groups()
    scale = _UNITS[unit.lower()]
    if binary and unit:
        scale = 1024 ** list(_UNITS).index(unit.lower())
    return int(float(number) * scale)


def _env_vars(job: Job, point: int | str | None) -> dict[str, str]:
    env = {"NEMORUN_RUN_NAME": job.name}
    if job.run is not None:
        env["NEMORUN_RUN_ID"] = job.run.id
    if point is not None:
        env["NEMORUN_POINT"] = str(point)
    env.update((k, v) for k, v in job.env if not isinstance(v, EnvRef))
    return env


def _body(
    job: Job,
    options: RayOptions,
    entrypoint: str,
    resources: dict[str, Any],
    points: tuple[int | str, ...],
) -> dict[str, Any]:
    """One Jobs API request: ``entrypoint``, ``submission_id`` (with a run), ``runtime_env``,
    ``metadata`` (``nemorun_points``: the points it runs) and the entry point's resources."""
    body: dict[str, Any] = {"entrypoint": entrypoint}
    point = points[0] if len(points) == 1 else None
    if job.run is not None:
        tail = "" if point is None or not job.is_sweep() else f"-{point}"
        body["submission_id"] = f"nemorun-{job.run.id}-{job.stem}{tail}"
    runtime_env: dict[str, Any] = {
        "working_dir": f"{job.run.dir}/{WORKDIR}/{job.stem}" if job.run is not None else ".",
        "env_vars": _env_vars(job, point),
    }
    if options.pip:
        runtime_env["pip"] = list(options.pip)
    body["runtime_env"] = runtime_env
    body["metadata"] = {
        "nemorun_run_name": job.name,
        "nemorun_task": job.stem,
        "nemorun_points": ",".join(str(p) for p in points),
    }
    for key, value in resources.items():
        body[f"entrypoint_{key}"] = value
    return body


def _one_job(job: Job, options: RayOptions, command: str, resources: dict[str, Any]) -> RayJob:
    """The job whose driver runs every point as a Ray task (``packing: one_job``): the
    resources go to each task, not to the driver."""
    from nemorun.compiler.render import shell_quote

    points = tuple(p.index for p in job.points)
    argv = [job.python, POINTS_DRIVER, "--num-points", str(len(points))]
    if options.max_concurrency is not None:
        argv += ["--max-concurrency", str(options.max_concurrency)]
    argv += [f"--{key.replace('_', '-')}={value}" for key, value in resources.items()]
    entrypoint = " ".join(shell_quote(word) for word in (*argv, "--", command))
    return RayJob(points, _body(job, options, entrypoint, {}, points))


class _Checks(OptionChecks):
    """Ray's rules for the options every target shares, and between its own."""

    def launcher(self, spec: Spec) -> None:
        """torchrun is refused: a Ray job's entry point is one process on one node."""
        if spec.launcher.kind == "torchrun":
            self.error_at(
                ("launcher", "kind"),
                "target ray does not run torchrun: a Ray job's entry point is one process on "
                "one node, and torchrun's workers on several nodes would need Ray to place "
                "them (Ray Train's TorchTrainer), which nemorun does not do",
                suggestion="use target slurm, skypilot or local for torchrun, or start "
                "Ray Train's TorchTrainer from your task with launcher: {kind: none}",
            )

    def container(self, options: RayOptions) -> None:
        if options.container is not None:
            self.error(
                "container",
                "target ray runs in the cluster's own Python environment, not in a container",
                suggestion="remove executor.container; list the job's requirements under "
                "executor.pip",
            )

    def packing(self, options: RayOptions, job: Job) -> None:
        if options.max_concurrency is not None and options.packing != "one_job":
            self.error(
                "max_concurrency",
                "max_concurrency bounds the points of packing: one_job only (with per_point "
                "each point is a Ray job, and the cluster queues them)",
                suggestion="add packing: one_job, or remove max_concurrency",
            )
        if options.packing == "one_job" and job.entry is None:
            self.error(
                "packing",
                "packing: one_job runs the points of a Python task's sweep",
                suggestion="remove packing (a script or command task is one job)",
            )


TARGET = TargetDef(
    name="ray",
    options=RayOptions,
    plan=plan,
    template="ray.yaml.j2",
    suffix=".ray.yaml",
    launch="nemorun.launchers.ray:RayTarget",
    launchers=("none", "torchrun"),
    stop_command='for id in {ids}; do ray job stop "$id"; done',
)
