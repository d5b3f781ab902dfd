"""The ``local`` target: a bash script that runs the job on this machine.

It runs every sweep point in turn (or ``max_parallel`` at a time), or only the point given as
its first argument, and exits non-zero if any point failed. Python tasks run under the
interpreter nemorun runs under unless the spec names one (``executor.python``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nemorun.errors import SpecError
from nemorun.schemas.options import LocalOptions
from nemorun.schemas.source import find_origin

if TYPE_CHECKING:
    from nemorun.compiler.artifacts import Job
    from nemorun.schemas.spec import Spec

TEMPLATE = "local.sh.j2"
SUFFIX = ".sh"


@dataclass(frozen=True)
class LocalPlan:
    """What ``local.sh.j2`` needs beyond the `Job`."""

    max_parallel: int


def default_python() -> str:
    from nemorun.compiler.artifacts import local_python

    return local_python()


def plan(spec: Spec, job: Job) -> tuple[LocalPlan, list[str]]:
    options = spec.executor
    assert isinstance(options, LocalOptions)
    origins = spec.resolved.origins
    warnings = []
    if options.max_parallel < 1:
        raise SpecError(
            "max_parallel must be at least 1",
            ("executor", "max_parallel"),
            find_origin(origins, ("executor", "max_parallel")),
            found=str(options.max_parallel),
        )
    if options.container is not None:
        raise SpecError(
            "containers are not supported by the local target yet",
            ("executor", "container"),
            find_origin(origins, ("executor", "container")),
            suggestion="compile for slurm or drop 'container:'",
        )
    if options.nodes != 1:
        warnings.append(f"target local runs on this machine only: executor.nodes={options.nodes}")
    return LocalPlan(max_parallel=min(options.max_parallel, job.num_points)), warnings
