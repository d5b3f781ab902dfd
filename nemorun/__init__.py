"""nemorun: experiment specs compiled to Fiddle graphs and cluster artifacts.

Everything the ``nemorun`` command does, from Python (each loaded on first use, so
``import nemorun`` stays light):

Specs (`nemorun.api`)
    load(path, overrides=(), target=None) -> Spec    compose, override, validate
    resolve(path, overrides=()) -> Resolved           the same tree, before validation
    compile(spec, target=None) -> Build               the artifacts of every task (pure)
    points(spec) -> tuple[Point, ...]                 the sweep's points and their values
    export(spec, format="yaml", dest_dir=None) -> str python, yaml, toml or json
    schema(spec) -> dict                              the spec's JSON Schema
    draft_schema(path) -> DraftSchema                 the schema of a spec with errors too
    migrate(path) -> Migration                        an older spec in the current format
    import_config("mod:fn", format="yaml") -> str     a Fiddle config as a spec
    new("mod:fn", format="yaml") -> str               a spec to start from, from a signature
    diff(a, b) -> Diff                                what changed between runs or spec files

Runs (`nemorun.api_runs`)
    launch(path, overrides=(), target=None) -> Run    submit and record a new run
    check(path, overrides=(), target=None)            ask the scheduler first (no record)
    run(path, overrides=()) -> Run                    launch here (local) and wait
    rerun(run, overrides=(), failed=False) -> Run     the same run again, from its record
    runs(name=None, status=None, target=None)         the recorded runs, newest first
    open_run(query) -> Run                            .status() .logs() .watch() .cancel()
    compare(refs, all_keys=False, keys=()) -> Comparison  runs side by side (what differs)

Bad input raises `SpecErrors` (a list of located `SpecError`s); a target that refuses raises
`LaunchError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nemorun.api import (
        compile,
        diff,
        draft_schema,
        export,
        import_config,
        load,
        migrate,
        new,
        points,
        resolve,
        schema,
    )
    from nemorun.api_runs import check, launch, open_run, rerun, run, runs
    from nemorun.errors import SpecError, SpecErrors
    from nemorun.launchers.base import LaunchError
    from nemorun.launchers.comparison import compare

_HOMES = {
    "nemorun.api": (
        "compile",
        "diff",
        "draft_schema",
        "export",
        "import_config",
        "load",
        "migrate",
        "new",
        "points",
        "resolve",
        "schema",
    ),
    "nemorun.api_runs": ("check", "launch", "open_run", "rerun", "run", "runs"),
    "nemorun.errors": ("SpecError", "SpecErrors"),
    "nemorun.launchers.base": ("LaunchError",),
    "nemorun.launchers.comparison": ("compare",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "LaunchError",
    "SpecError",
    "SpecErrors",
    "__version__",
    "check",
    "compare",
    "compile",
    "diff",
    "draft_schema",
    "export",
    "import_config",
    "launch",
    "load",
    "migrate",
    "new",
    "open_run",
    "points",
    "rerun",
    "resolve",
    "run",
    "runs",
    "schema",
]


def __getattr__(name: str) -> Any:
    """PEP 562: import an API name's module when the name is first used."""
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'nemorun' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
