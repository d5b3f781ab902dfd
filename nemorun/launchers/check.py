"""``nemorun check``: everything a launch would do before submitting, and nothing after.

The spec is compiled for a throwaway run in a temporary directory (the artifacts are the ones
a launch would submit, but no record is claimed and no code is packaged), and the target's
`Target.preflight` asks its live scheduler about them: on Slurm, the partition, account, QOS
and GPUs against the cluster, then ``sbatch --test-only`` for the start estimate.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.files import PRIVATE_DIR
from nemorun.launchers.base import LaunchError, RunHandle

if TYPE_CHECKING:
    from nemorun.schemas.spec import Spec


def check_spec(
    spec: Spec, path: Path, target: str | None, warnings: Sequence[str]
) -> tuple[str, list[str]]:
    """The target's name and what its scheduler says; `SpecErrors` at what it would refuse,
    `LaunchError` when it cannot be reached."""
    from nemorun.compiler.job import RunContext
    from nemorun.compiler.machine import this_machine
    from nemorun.compiler.tasks import compile_tasks
    from nemorun.launchers.launch import run_target
    from nemorun.launchers.registry import load_target

    name = run_target(spec, target)
    runner = load_target(name)
    why_not = runner.available()
    if why_not is not None:
        raise LaunchError(f"target {name} cannot be used here: {why_not}")
    with tempfile.TemporaryDirectory(prefix="nemorun-check-") as tmp:
        run_dir = Path(tmp) / "run"
        (run_dir / "logs").mkdir(mode=PRIVATE_DIR, parents=True)
        handle = RunHandle("check", spec.name or path.stem, run_dir, name)
        context = RunContext(handle.id, run_dir, Path.cwd())
        build = compile_tasks(
            spec,
            target,
            spec.templates,
            list(warnings),
            context,
            None,
            host_python=sys.executable,
            machine=runner.machine(this_machine()),  # the cluster's limits, as launch
        )
        build.write(handle.artifacts_dir)
        return name, runner.preflight(spec, handle)
