"""Compile targets, found by name: each is one module here plus one template.

A target module defines:
- ``TEMPLATE``: the template file name (``slurm.sbatch.j2``), looked up user directory first;
- ``SUFFIX``: the main artifact's file suffix (``.sbatch``);
- ``HOST_FILESYSTEM``: True when the job runs on this machine's filesystem (outside a container
  it can then run nemorun's own interpreter; see `nemorun.compiler.driver.job_python`);
- ``plan(spec, job) → (context, warnings)``: checks the target's own options (raising located
  `SpecError`s) and returns the typed object templates see as ``target``.

`TARGETS` maps names to modules, imported only when used. A target that the spec format knows
(``docker``, ``skypilot``) but that has no module yet is refused with a clear message.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Protocol, cast

from nemorun.errors import SpecError
from nemorun.schemas.options import target_options

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.schemas.spec import Spec

TARGETS: dict[str, str] = {
    "local": "nemorun.compiler.targets.local",
    "slurm": "nemorun.compiler.targets.slurm",
    "docker": "nemorun.compiler.targets.docker",
    "skypilot": "nemorun.compiler.targets.skypilot",
}


class Target(Protocol):
    """What a target module provides (see the module docstring)."""

    TEMPLATE: str
    SUFFIX: str
    HOST_FILESYSTEM: bool

    def plan(self, spec: Spec, job: Job) -> tuple[Any, list[str]]: ...


def target_module(name: str) -> Target:
    """The module of target ``name``; a `SpecError` when it cannot be compiled for (an unknown
    name is refused by `target_options`, with a suggestion)."""
    target_options(name)
    if name not in TARGETS:
        raise SpecError(
            f"compiling for target '{name}' is not supported yet",
            suggestion=f"compile for one of: {', '.join(TARGETS)}",
        )
    return cast(Target, importlib.import_module(TARGETS[name]))
