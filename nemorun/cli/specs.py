"""The commands that read a spec and write text: validate, compile, export, schema, migrate,
import. Each parses its arguments, calls `nemorun.api` and prints what it returns."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    Command,
    cluster_option,
    parser,
    print_errors,
    spec_and_overrides,
    target_option,
    use_cluster,
    warn,
    write_output,
)
from nemorun.errors import SpecError, SpecErrors

if TYPE_CHECKING:
    from nemorun.schemas.spec import Spec


# --- validate ---------------------------------------------------------------------------------


def _build_validate() -> argparse.ArgumentParser:
    p = parser(
        "validate",
        "Check a spec and its overrides against the task's type hints and the executor's "
        "options: every check 'compile' makes, for the same target, without writing "
        "anything. Prints every error, each with its file, line and key path. Several spec "
        "files may be given (overrides then apply to each).\n\n"
        "examples:\n  nemorun validate configs/pretrain.yaml optim.lr=3e-4\n"
        "  nemorun validate configs/quickstart.yaml --target slurm\n"
        "  nemorun validate configs/*",
    )
    spec_and_overrides(p)
    target_option(p)
    return p


def _run_validate(ns: argparse.Namespace) -> int:
    from nemorun import api

    specs, overrides = _split_specs(ns.spec, ns.overrides)
    failed = 0
    for path in specs:
        try:
            spec = api.load(path, overrides, ns.target)
            # Validating is compiling with the artifacts thrown away: the two cannot disagree.
            build = api.compile(spec, ns.target)
        except SpecErrors as exc:
            print_errors(exc)
            failed += 1
            continue
        except SpecError as exc:
            print_errors(SpecErrors([exc]))
            failed += 1
            continue
        warn([*spec.warnings, *build.warnings])
        points = f", {spec.num_points()} sweep points" if spec.is_sweep() else ""
        print(f"{path}: ok ({_describe_tasks(spec)}; target {spec.target}{points})")
    if len(specs) > 1 and failed:
        print(f"{failed} of {len(specs)} specs have errors", file=sys.stderr)
    return EXIT_BAD_INPUT if failed else EXIT_OK


def _split_specs(first: Path, rest: list[str]) -> tuple[list[Path], list[str]]:
    """``validate a.yaml b.toml x=1``: words that name spec files are specs, the rest overrides."""
    specs = [first]
    overrides = []
    for word in rest:
        looks_like_file = "=" not in word and not word.startswith(("~", "+"))
        if looks_like_file and Path(word).suffix.lower() in (".yaml", ".yml", ".toml", ".json"):
            specs.append(Path(word))
        else:
            overrides.append(word)
    return specs, overrides


def _describe_tasks(spec: Spec) -> str:
    from nemorun.schemas.imports import reference_of

    parts = []
    for task in spec.tasks.values():
        if task.call is not None:
            try:
                what = reference_of(task.call.target)
            except Exception:
                what = repr(task.call.target)
        elif task.script is not None:
            what = f"script {task.script.script}"
        else:
            what = "command"
        parts.append(what if spec.single_task else f"{task.name}: {what}")
    return "; ".join(parts)


# --- export -----------------------------------------------------------------------------------


def _build_export() -> argparse.ArgumentParser:
    p = parser(
        "export",
        "Write the resolved spec (extends merged, overrides applied) as Python, YAML, TOML "
        "or JSON.\n\nexamples:\n  nemorun export configs/pretrain.yaml --format python\n"
        "  nemorun export configs/quickstart.yaml steps=10 --format toml -o quick.toml",
    )
    spec_and_overrides(p)
    p.add_argument(
        "--format",
        "-f",
        choices=("python", "yaml", "toml", "json"),
        default="yaml",
        help="output format (default: yaml)",
    )
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    return p


def _run_export(ns: argparse.Namespace) -> int:
    from nemorun import api

    spec = api.load(ns.spec, ns.overrides)
    warn(spec.warnings)
    dest_dir = ns.output.resolve().parent if ns.output else None
    write_output(api.export(spec, ns.format, dest_dir), ns.output)
    return EXIT_OK


# --- schema -----------------------------------------------------------------------------------


def _build_schema() -> argparse.ArgumentParser:
    p = parser(
        "schema",
        "Print the JSON Schema of the whole spec for this spec's task(s), with parameter "
        "docs from docstrings, for editor completion. A spec with errors still gets a schema "
        "of what resolves in it; the errors go to stderr and the exit status is 2.\n\n"
        "example: nemorun schema configs/quickstart.yaml > quickstart.schema.json",
    )
    p.add_argument("spec", type=Path, help="the spec file whose task the schema describes")
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    return p


def _run_schema(ns: argparse.Namespace) -> int:
    import json

    from nemorun import api

    draft = api.draft_schema(ns.spec)
    warn(draft.warnings)
    write_output(json.dumps(draft.schema, indent=2, sort_keys=False) + "\n", ns.output)
    if draft.errors is not None:
        print_errors(draft.errors)
        return EXIT_BAD_INPUT
    return EXIT_OK


# --- migrate ----------------------------------------------------------------------------------


def _build_migrate() -> argparse.ArgumentParser:
    p = parser(
        "migrate",
        "Rewrite a spec in an older format (including NeMo-Run's --to-yaml output, format 0) "
        "as a current spec.\n\nexample: nemorun migrate old.yaml --in-place",
    )
    p.add_argument("spec", type=Path)
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--in-place", action="store_true", help="replace the file instead of printing"
    )
    where.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    return p


def _run_migrate(ns: argparse.Namespace) -> int:
    from nemorun import api

    migration = api.migrate(ns.spec)
    for step in migration.steps:
        print(f"migrated: {step}", file=sys.stderr)
    if not migration.steps:
        print(f"{ns.spec} is already in the current format", file=sys.stderr)
    target = ns.spec if ns.in_place else ns.output
    write_output(migration.text, target)
    return EXIT_OK


# --- import -----------------------------------------------------------------------------------


def _build_import() -> argparse.ArgumentParser:
    p = parser(
        "import",
        "Turn a Python function that returns a Fiddle config (fdl.Partial / fdl.Config) into "
        "a spec.\n\nexample: nemorun import mypkg.configs:pretrain -o configs/pretrain.yaml",
    )
    p.add_argument("reference", metavar="MODULE:FUNCTION")
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    p.add_argument(
        "--format",
        "-f",
        choices=("yaml", "toml", "json"),
        default=None,
        help="output format (default: from the -o suffix, else yaml)",
    )
    return p


def _run_import(ns: argparse.Namespace) -> int:
    from nemorun import api

    fmt = ns.format
    if fmt is None:
        suffix = ns.output.suffix.lower() if ns.output else ""
        fmt = {".toml": "toml", ".json": "json"}.get(suffix, "yaml")
    dest_dir = ns.output.resolve().parent if ns.output else None
    write_output(api.import_config(ns.reference, fmt, dest_dir), ns.output)
    return EXIT_OK


# --- compile ----------------------------------------------------------------------------------


def _build_compile() -> argparse.ArgumentParser:
    p = parser(
        "compile",
        "Compile a spec into the artifact that runs it: a bash script (local), an sbatch "
        "script (slurm; a sweep is one job array), a docker run script (docker) or a SkyPilot "
        "task YAML (skypilot). Pure: prints the artifact, writes only with -o.\n\n"
        "examples:\n  nemorun compile configs/quickstart.yaml --target slurm\n"
        "  nemorun compile configs/quickstart.yaml 'optim.lr=0.01,0.02' --list-points\n"
        "  nemorun compile configs/pretrain.yaml --target local -o build/\n"
        "  bash build/pretrain.sh 2    # run point 2 only",
    )
    spec_and_overrides(p)
    target_option(p)
    cluster_option(p)
    p.add_argument("-o", "--output", type=Path, metavar="DIR", help="write the artifacts into DIR")
    p.add_argument(
        "--list-points", action="store_true", help="print each sweep point's index and values"
    )
    p.add_argument("--templates", type=Path, metavar="DIR", help="look for templates in DIR first")
    return p


def _run_compile(ns: argparse.Namespace) -> int:
    from nemorun import api

    use_cluster(ns)
    spec = api.load(ns.spec, ns.overrides, ns.target)
    warn(spec.warnings)
    if ns.list_points:
        for point in api.points(spec):
            print(f"{point.index}  {point.describe()}".rstrip())
        return EXIT_OK
    if not spec.single_task and ns.output is None:
        raise SpecError(
            f"the spec has several tasks ({', '.join(spec.tasks)}): their artifacts cannot all "
            "go to stdout",
            suggestion="write them into a directory with -o DIR (one subdirectory per task)",
        )
    build = api.compile(spec, ns.target, templates=ns.templates, output=ns.output)
    if not build.single:  # one directory of artifacts per task, and tasks.json (their order)
        warn(build.warnings)
        paths = build.write(ns.output)
    else:
        artifacts = build.tasks[0].artifacts
        warn(artifacts.warnings)
        if ns.output is None:
            sys.stdout.writelines(artifacts.main.chunks)
            return EXIT_OK
        paths = artifacts.write(ns.output)
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "validate": (_build_validate, _run_validate),
    "export": (_build_export, _run_export),
    "schema": (_build_schema, _run_schema),
    "migrate": (_build_migrate, _run_migrate),
    "import": (_build_import, _run_import),
    "compile": (_build_compile, _run_compile),
}
