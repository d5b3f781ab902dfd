"""Weights & Biases: the run is started with the resolved spec as its config, then finished, and
the job resumes it (``WANDB_RUN_ID`` with ``WANDB_RESUME=allow``: a plain ``wandb.init()`` in
the job logs into it).

Its id is chosen here (a hash of nemorun's run id: W&B ids are short and lower-case), so
`open_run` needs no network; `describe` starts the run (``wandb`` imported only then), which is
where an unreachable server stops the launch, within W&B's own ``init_timeout``. ``offline``
writes files under ``DIR/wandb`` only. Mirroring resumes the run once more at the end to set
``nemorun.status`` in its summary and its exit code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nemorun.launchers.tracking import Details, Opened, TrackedRun, TrackerError
from nemorun.schemas.tracking import WandbTracking

INIT_TIMEOUT = 60.0


def open_run(options: WandbTracking, run: TrackedRun) -> Opened:
    run_id = hashlib.sha256(run.id.encode()).hexdigest()[:16]
    directory = Path(options.dir).expanduser().absolute() if options.dir else run.dir
    ref = {"run_id": run_id, "project": options.project, "mode": options.mode}
    ref["dir"] = str(directory)
    ref["name"] = run.id
    if options.entity:
        ref["entity"] = options.entity
    env = [
        ("WANDB_PROJECT", options.project),
        ("WANDB_RUN_ID", run_id),
        ("WANDB_RESUME", "allow"),
        ("WANDB_MODE", options.mode),
        ("WANDB_DIR", str(directory)),
        ("WANDB_NAME", run.id),
    ]
    if options.entity:
        env.append(("WANDB_ENTITY", options.entity))
    return Opened(ref, tuple(env))


def describe(ref: Mapping[str, str], details: Details) -> list[str]:
    import wandb

    Path(ref["dir"]).mkdir(parents=True, exist_ok=True)
    run = _resume(ref, config=dict(details.params), tags=[details.tags["nemorun.target"]])
    try:
        run.summary.update({**details.tags, "nemorun.status": "pending"})
        artifact = wandb.Artifact(f"nemorun-{ref['run_id']}", type="nemorun-artifacts")
        artifact.add_dir(str(details.artifacts))
        run.log_artifact(artifact)
    finally:
        run.finish()
    return []


def mirror(ref: Mapping[str, str], state: str) -> None:
    if state == "running":
        return  # the job's own wandb.init says so; a resume from here would end it
    run = _resume(ref)
    run.summary["nemorun.status"] = state
    run.finish(exit_code=0 if state == "completed" else 1)


def _resume(ref: Mapping[str, str], **extra: Any) -> Any:
    import wandb

    settings = wandb.Settings(console="off", silent=True, init_timeout=INIT_TIMEOUT)
    try:
        return wandb.init(
            project=ref["project"],
            entity=ref.get("entity"),
            id=ref["run_id"],
            name=ref["name"],
            resume="allow",
            mode=ref["mode"],  # type: ignore[arg-type]
            dir=ref["dir"],
            settings=settings,
            **extra,
        )
    except Exception as exc:  # wandb raises its own errors, and others when the network fails
        raise TrackerError(f"W&B could not start run {ref['run_id']}: {exc}") from None
