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
    from nemorun.launchers import remote
    from nemorun.launchers.launch import run_target
    from nemorun.launchers.registry import load_target
    from nemorun.launchers.slurm_commands import on_cluster

    name = run_target(spec, target)
    runner = load_target(name)
    why_not = None if getattr(spec.executor, "cluster", None) else runner.available()
    if why_not is not None:
        raise LaunchError(f"target {name} cannot be used here: {why_not}")
    with tempfile.TemporaryDirectory(prefix="nemorun-check-") as tmp:
        run_dir = Path(tmp) / "run"
        (run_dir / "logs").mkdir(mode=PRIVATE_DIR, parents=True)
        cluster = remote.cluster_json(spec)
        check_id = f"check-{Path(tmp).name}" if cluster else "check"
        handle = RunHandle(check_id, spec.name or path.stem, run_dir, name, cluster=cluster)
        given = remote.compile_inputs(spec, path, handle) if cluster else None
        with on_cluster(remote.transport_of(handle)):
            machine = runner.machine(given.machine if given else this_machine())
        build = compile_tasks(
            spec,
            target,
            spec.templates,
            list(warnings),
            given.run if given else RunContext(handle.id, run_dir, Path.cwd()),
            given.pythonpath if given else None,
            host_python=given.host_python if given else sys.executable,
            machine=machine,  # the cluster's limits, as launch
        )
        build.write(handle.artifacts_dir)
        remote.send_artifacts(handle)
        try:
            return name, runner.preflight(spec, handle)
        finally:
            remote.forget(handle)
