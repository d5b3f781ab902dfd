"""The files of a run's record written before its jobs are submitted: the spec as written (and
every file it extends), the resolved spec, the compiled artifacts and the provenance; and the
artifacts' hashes, which ``run.json`` keeps (`nemorun.launchers.launch.start_run`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.launchers.records import write_json

if TYPE_CHECKING:
    from nemorun.compiler.tasks import Build
    from nemorun.schemas.spec import Spec


def write_inputs(run_dir: Path, path: Path, spec: Spec, build: Build) -> list[dict[str, str]]:
    """Everything of the record but its jobs: spec copies, resolved spec, artifacts,
    provenance. Returns the copies' list (original path, copy, sha256)."""
    from nemorun.compiler.export import export
    from nemorun.files import PRIVATE_DIR, write_private
    from nemorun.launchers.provenance import collect
    from nemorun.schemas.source import read_path

    (run_dir / "logs").mkdir(mode=PRIVATE_DIR)
    originals = [Path(f).resolve() for f in spec.resolved.files] or [path.resolve()]
    base = Path(os.path.commonpath([str(f.parent) for f in originals]))
    files = []
    for original in originals:
        data = read_path(original).read_bytes()  # a rerun reads the first run's copies
        copy = Path("spec") / original.relative_to(base)
        write_private(run_dir / copy, data, run_dir)
        files.append(
            {"path": str(original), "copy": str(copy), "sha256": hashlib.sha256(data).hexdigest()}
        )
    write_private(run_dir / "resolved.yaml", export(spec, "yaml", path.resolve().parent), run_dir)
    build.write(run_dir / "artifacts", private=run_dir)
    provenance, patch = collect(path, _task_modules(spec), spec.pythonpath)
    if patch:
        write_private(run_dir / "git.patch", patch, run_dir)
    write_json(run_dir / "provenance.json", provenance)
    return files


def _task_modules(spec: Spec) -> list[str]:
    """The modules of the tasks' ``_target_``s."""
    modules = []
    for task in spec.tasks.values():
        module = getattr(task.call.target, "__module__", None) if task.call else None
        if isinstance(module, str):
            modules.append(module)
    return modules


def artifact_hashes(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }
