"""The Python API behind every command, from a spec file to its artifacts.

``load(path, overrides, target) → Spec`` composes the file and its bases, applies command-line
overrides, resolves interpolations and validates against the schemas, reading the executor as
``target``'s options. ``compile``, ``export`` and ``schema`` take that `Spec`; ``migrate``,
``import_config``, ``new`` and ``diff`` take files. The run side (launch, runs, open_run…) is
`nemorun.api_runs`; both are re-exported lazily by `nemorun`.

Every function raises `nemorun.errors.SpecErrors` (or one `SpecError`) for the user's
mistakes, never prints, and writes nothing unless asked (``Build.write``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nemorun.errors import SpecError, SpecErrors
from nemorun.schemas.compose import compose
from nemorun.schemas.spec import Resolved, Spec, validate_tree

if TYPE_CHECKING:
    from nemorun.compiler.points import Point
    from nemorun.compiler.tasks import Build
    from nemorun.launchers.compare import Change, Side

ExportFormat = Literal["python", "yaml", "toml", "json"]
SpecFormat = Literal["yaml", "toml", "json"]


def resolve(path: str | Path, overrides: Sequence[str] = ()) -> Resolved:
    """The spec tree after ``extends``, overrides and interpolation, not yet validated."""
    from nemorun.schemas.clusters import apply_cluster
    from nemorun.schemas.interpolate import resolve_interpolations

    source = Path(path)
    composed = compose(source)
    axes = []
    if overrides:
        from nemorun.compiler.overrides import apply_overrides, parse_overrides

        axes = apply_overrides(composed.tree, composed.origins, parse_overrides(list(overrides)))
    apply_cluster(composed.tree, composed.origins)  # the profile's defaults, where unset
    swept = bool(axes) or bool(composed.tree.get("sweep"))
    interpolations = resolve_interpolations(composed.tree, composed.origins, swept)
    return Resolved(
        tree=composed.tree,
        origins=composed.origins,
        source=source,
        files=composed.files,
        overrides=list(overrides),
        axes=axes,
        interpolations=interpolations,
    )


def load_for_target(
    path: str | Path, overrides: Sequence[str] = (), target: str | None = None
) -> tuple[Spec, list[str]]:
    """`load`, with the warnings about options of other targets returned beside the spec
    instead of in ``spec.warnings``."""
    from nemorun.compiler.driver import executor_for_target
    from nemorun.registry import get_target

    if target is not None:
        get_target(target)  # an unknown target is refused before loading
    resolved = resolve(path, overrides)
    executor, warnings = executor_for_target(resolved.tree.get("executor"), target)
    if executor is not None:
        resolved.tree["executor"] = executor
    return validate_tree(resolved), warnings


def load(path: str | Path, overrides: Sequence[str] = (), target: str | None = None) -> Spec:
    """Load, resolve and validate the spec at ``path`` with Hydra-style ``overrides``.

    ``target`` (``local``, ``slurm``…) reads the executor as that target's options, as
    ``--target`` does: another target's options are dropped with a warning each, in
    ``spec.warnings``. Default: the spec's ``executor.target``, else ``local``.
    """
    spec, warnings = load_for_target(path, overrides, target)
    spec.warnings.extend(warnings)
    return spec


def compile(
    spec: Spec,
    target: str | None = None,
    *,
    templates: str | Path | None = None,
    output: str | Path | None = None,
) -> Build:
    """The artifacts of every task of ``spec``, in run order; pure (``Build.write(DIR)``
    writes them, with ``tasks.json``).

    For a single-task spec, ``build.tasks[0].artifacts.main.text`` is what ``nemorun
    compile`` prints. ``target``: the one ``spec`` was loaded for (default: each task's own).
    ``templates``: a directory searched first (default: the spec's ``templates:``).
    ``output``: the directory the build will be written into, when known: a Slurm sweep split
    into several scripts then has them share one ``entry.py`` there instead of each holding
    it. Warnings are in ``build.warnings``.
    """
    from nemorun.compiler.machine import this_machine
    from nemorun.compiler.tasks import compile_tasks

    chosen = Path(templates) if templates is not None else spec.templates
    # Jobs on this machine's files run the interpreter nemorun runs under (see job_python).
    return compile_tasks(
        spec,
        target,
        chosen,
        host_python=sys.executable,
        machine=this_machine(),
        output=Path(output).resolve() if output is not None else None,
    )


def points(spec: Spec) -> tuple[Point, ...]:
    """Every sweep point of ``spec`` (one without a sweep): its index and values, in the
    order the artifacts number them."""
    from nemorun.compiler.entry import sweep_points

    return tuple(sweep_points(spec))


def export(spec: Spec, format: ExportFormat = "yaml", dest_dir: str | Path | None = None) -> str:
    """``spec`` as a Python module (one run: no sweep) or a YAML, TOML or JSON spec.

    ``pythonpath`` entries are written relative to ``dest_dir``, the directory the text will
    be saved in (default: the current directory)."""
    from nemorun.compiler.export import export as export_spec

    return export_spec(spec, format, Path(dest_dir) if dest_dir is not None else None)


def schema(spec: Spec) -> dict[str, Any]:
    """The JSON Schema of the whole spec for ``spec``'s task(s), for editor completion."""
    from nemorun.schemas.jsonschema import spec_schema

    return spec_schema(spec)


@dataclass(frozen=True)
class DraftSchema:
    """The schema of a spec being edited: valid or not, what resolves in it is described."""

    schema: dict[str, Any]
    warnings: tuple[str, ...] = ()
    errors: SpecErrors | None = None
    """Why the spec does not validate (its schema is then built from the unvalidated tree)."""


def draft_schema(path: str | Path) -> DraftSchema:
    """`schema` of the spec at ``path`` even when it fails validation: one mistake must not cost
    an editor its completion. A file that cannot be read or composed has nothing to describe:
    its errors are raised."""
    from nemorun.schemas.jsonschema import resolved_schema

    try:
        spec = load(path)  # as validate and compile read it
    except SpecError as exc:
        return DraftSchema(resolved_schema(resolve(path)), errors=SpecErrors([exc]))
    except SpecErrors as exc:
        return DraftSchema(resolved_schema(resolve(path)), errors=exc)
    return DraftSchema(schema(spec), tuple(spec.warnings))


@dataclass(frozen=True)
class Migration:
    """A spec rewritten in the current format, and what was changed to get there."""

    text: str
    steps: tuple[str, ...]
    """One line per format step (``NeMo-Run YAML (format 0) → nemorun spec format 1``);
    empty when the file was already current."""


def migrate(path: str | Path) -> Migration:
    """The spec at ``path`` (an older format, or NeMo-Run's ``--to-yaml`` output) in the
    current format. Nothing is written."""
    from nemorun.compiler.migrate import migrate_file

    text, steps = migrate_file(Path(path))
    return Migration(text, tuple(steps))


def import_config(
    reference: str,
    format: SpecFormat = "yaml",
    dest_dir: str | Path | None = None,
) -> str:
    """The spec text of ``module:function``'s Fiddle config (it is called to build it); its
    ``pythonpath`` is written relative to ``dest_dir`` (default: the current directory)."""
    from nemorun.compiler.importer import import_config as import_fiddle

    return import_fiddle(reference, format, Path(dest_dir) if dest_dir is not None else None)


def new(
    reference: str,
    format: Literal["yaml", "toml"] = "yaml",
    target: str | None = None,
    dest_dir: str | Path | None = None,
    pythonpath: Sequence[str | Path] = (),
) -> str:
    """The text of a spec to start from for ``module:function`` (or ``module:Class``): every
    argument, with its default or ``???`` where one is required, its type and docs as comments.
    ``pythonpath`` directories are searched for the code; paths are written relative to
    ``dest_dir`` (default: the current directory). Nothing is called or written."""
    from nemorun.compiler.skeleton import new_skeleton
    from nemorun.compiler.skeleton_text import render

    where = Path(dest_dir) if dest_dir is not None else None
    paths = tuple(Path(p) for p in pythonpath)
    return render(new_skeleton(reference, format, target, where, paths), format)


@dataclass(frozen=True)
class Diff:
    """What changed in the resolved spec between two runs or spec files."""

    a: Side
    b: Side
    changes: tuple[Change, ...]
    """Added, removed and changed key paths, in the order of ``a`` then ``b``."""

    def unified(self) -> str:
        """A unified diff of the two resolved specs as YAML."""
        from nemorun.launchers.compare import unified

        return unified(self.a, self.b)


def diff(a: str | Path, b: str | Path) -> Diff:
    """Compare ``a`` and ``b``, each a spec file or a run (id, unique prefix or name)."""
    from nemorun.launchers.compare import changes, side

    def resolved_yaml(path: Path) -> str:
        return export(load(path), "yaml", path.resolve().parent)

    one, two = side(str(a), resolved_yaml), side(str(b), resolved_yaml)
    return Diff(one, two, tuple(changes(one.tree, two.tree)))
