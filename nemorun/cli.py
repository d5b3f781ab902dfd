"""The ``nemorun`` command: a thin shell over `nemorun.api`.

Each command has its own argparse parser, used with ``parse_intermixed_args`` so options and
overrides may come in any order (argparse cannot intermix with sub-parsers, hence the manual
dispatch on the first word). Heavy libraries are imported inside the commands that need them.

Exit codes: 0 ok, 2 bad input (spec, override, flag), 1 anything else. A user's mistake is
printed like a compiler's error, never as a traceback; set ``NEMORUN_DEBUG=1`` to see one for
an internal failure.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nemorun import __version__
from nemorun.errors import SpecError, SpecErrors
from nemorun.launchers.base import LaunchError

if TYPE_CHECKING:
    from nemorun.schemas.spec import Spec

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

Command = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # Importing the user's code must not write __pycache__ beside it: compile is pure.
    sys.dont_write_bytecode = True
    if not args or args[0] in ("-h", "--help", "help"):
        print(_overview())
        return EXIT_OK if args else EXIT_BAD_INPUT
    if args[0] in ("-V", "--version", "version"):
        print(f"nemorun {__version__} (experiment-spec compiler; not NVIDIA's nemo_run)")
        return EXIT_OK
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        from nemorun.errors import did_you_mean

        hint = did_you_mean(name, COMMANDS)
        print(f"nemorun: unknown command '{name}'" + (f"; {hint}" if hint else ""), file=sys.stderr)
        print("run 'nemorun --help' for the list of commands", file=sys.stderr)
        return EXIT_BAD_INPUT
    build, run = COMMANDS[name]
    parser = build()
    try:
        ns = parser.parse_intermixed_args(rest)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_BAD_INPUT
    try:
        return run(ns)
    except SpecErrors as exc:
        _print_errors(exc)
        return EXIT_BAD_INPUT
    except SpecError as exc:
        _print_errors(SpecErrors([exc]))
        return EXIT_BAD_INPUT
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # an internal failure, not the user's mistake
        if os.environ.get("NEMORUN_DEBUG"):
            raise
        print(f"nemorun: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("(set NEMORUN_DEBUG=1 to see the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def _print_errors(exc: SpecErrors) -> None:
    for error in exc.errors:
        print(f"error: {error.format()}", file=sys.stderr)
    count = len(exc.errors)
    if count > 1:
        print(f"{count} errors", file=sys.stderr)


def _warn(messages: Sequence[str]) -> None:
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)


def _parser(name: str, description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=f"nemorun {name}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _spec_and_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, help="the spec file (.yaml, .yml, .toml or .json)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="Hydra-style overrides: key=value, +key=value, ++key=value, ~key, key=a,b (sweep)",
    )


def _target_option(parser: argparse.ArgumentParser) -> None:
    """``--target``: checked by the registry (`nemorun.registry.get_target`, as every target
    name is), not by argparse ``choices``, so a typo gets the same "did you mean" as in a spec
    and building the parser lists no plugins."""
    from nemorun.registry import BUILTIN

    parser.add_argument(
        "--target",
        "-t",
        metavar="T",
        help=f"where the job runs: {', '.join(BUILTIN)} or a plugin's target (default: the "
        "spec's executor.target, else local)",
    )


def _write_output(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    from nemorun.files import write_output

    write_output(output, text)


# --- validate ---------------------------------------------------------------------------------


def _build_validate() -> argparse.ArgumentParser:
    p = _parser(
        "validate",
        "Check a spec and its overrides against the task's type hints and the executor's "
        "options: every check 'compile' makes, for the same target, without writing "
        "anything. Prints every error, each with its file, line and key path. Several spec "
        "files may be given (overrides then apply to each).\n\n"
        "examples:\n  nemorun validate configs/pretrain.yaml optim.lr=3e-4\n"
        "  nemorun validate configs/quickstart.yaml --target slurm\n"
        "  nemorun validate configs/*",
    )
    _spec_and_overrides(p)
    _target_option(p)
    return p


def _run_validate(ns: argparse.Namespace) -> int:
    from nemorun.compiler.artifacts import load_for_target
    from nemorun.compiler.machine import this_machine
    from nemorun.compiler.tasks import compile_tasks

    specs, overrides = _split_specs(ns.spec, ns.overrides)
    failed = 0
    for path in specs:
        try:
            spec, warnings = load_for_target(path, overrides, ns.target)
            # Validating is compiling with the artifacts thrown away: the two cannot disagree.
            build = compile_tasks(spec, ns.target, spec.templates, warnings, machine=this_machine())
        except SpecErrors as exc:
            _print_errors(exc)
            failed += 1
            continue
        except SpecError as exc:
            _print_errors(SpecErrors([exc]))
            failed += 1
            continue
        _warn([*spec.warnings, *build.warnings])
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
    p = _parser(
        "export",
        "Write the resolved spec (extends merged, overrides applied) as Python, YAML, TOML "
        "or JSON.\n\nexamples:\n  nemorun export configs/pretrain.yaml --format python\n"
        "  nemorun export configs/quickstart.yaml steps=10 --format toml -o quick.toml",
    )
    _spec_and_overrides(p)
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
    from nemorun.api import load
    from nemorun.compiler.export import export

    spec = load(ns.spec, ns.overrides)
    _warn(spec.warnings)
    dest_dir = ns.output.resolve().parent if ns.output else None
    _write_output(export(spec, ns.format, dest_dir), ns.output)
    return EXIT_OK


# --- schema -----------------------------------------------------------------------------------


def _build_schema() -> argparse.ArgumentParser:
    p = _parser(
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

    from nemorun.api import resolve
    from nemorun.compiler.artifacts import load_for_target
    from nemorun.schemas.jsonschema import resolved_schema, spec_schema

    errors: SpecErrors | None = None
    try:
        spec, warnings = load_for_target(ns.spec)  # as validate and compile read it
        _warn([*spec.warnings, *warnings])
        schema = spec_schema(spec)
    except (SpecErrors, SpecError) as exc:
        errors = exc if isinstance(exc, SpecErrors) else SpecErrors([exc])
        # One mistake must not cost the editor its completion: describe what resolves. A file
        # that cannot be read or composed has nothing to describe (its errors are raised).
        schema = resolved_schema(resolve(ns.spec))
    _write_output(json.dumps(schema, indent=2, sort_keys=False) + "\n", ns.output)
    if errors is not None:
        _print_errors(errors)
        return EXIT_BAD_INPUT
    return EXIT_OK


# --- migrate ----------------------------------------------------------------------------------


def _build_migrate() -> argparse.ArgumentParser:
    p = _parser(
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
    from nemorun.compiler.migrate import migrate_file

    text, summaries = migrate_file(ns.spec)
    for summary in summaries:
        print(f"migrated: {summary}", file=sys.stderr)
    if not summaries:
        print(f"{ns.spec} is already in the current format", file=sys.stderr)
    target = ns.spec if ns.in_place else ns.output
    _write_output(text, target)
    return EXIT_OK


# --- import -----------------------------------------------------------------------------------


def _build_import() -> argparse.ArgumentParser:
    p = _parser(
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
    from nemorun.compiler.importer import import_config

    fmt = ns.format
    if fmt is None:
        suffix = ns.output.suffix.lower() if ns.output else ""
        fmt = {".toml": "toml", ".json": "json"}.get(suffix, "yaml")
    dest_dir = ns.output.resolve().parent if ns.output else None
    _write_output(import_config(ns.reference, fmt, dest_dir), ns.output)
    return EXIT_OK


# --- compile ----------------------------------------------------------------------------------


def _build_compile() -> argparse.ArgumentParser:
    p = _parser(
        "compile",
        "Compile a spec into the artifact that runs it: a bash script (local), an sbatch "
        "script (slurm; a sweep is one job array), a docker run script (docker) or a SkyPilot "
        "task YAML (skypilot). Pure: prints the artifact, writes only with -o.\n\n"
        "examples:\n  nemorun compile configs/quickstart.yaml --target slurm\n"
        "  nemorun compile configs/quickstart.yaml 'optim.lr=0.01,0.02' --list-points\n"
        "  nemorun compile configs/pretrain.yaml --target local -o build/\n"
        "  bash build/pretrain.sh 2    # run point 2 only",
    )
    _spec_and_overrides(p)
    _target_option(p)
    p.add_argument("-o", "--output", type=Path, metavar="DIR", help="write the artifacts into DIR")
    p.add_argument(
        "--list-points", action="store_true", help="print each sweep point's index and values"
    )
    p.add_argument("--templates", type=Path, metavar="DIR", help="look for templates in DIR first")
    return p


def _run_compile(ns: argparse.Namespace) -> int:
    from nemorun.compiler.artifacts import compile_spec, load_for_target
    from nemorun.compiler.entry import sweep_points
    from nemorun.compiler.machine import this_machine
    from nemorun.registry import get_target

    if ns.target is not None:
        get_target(ns.target)  # refuse an unknown target before loading
    spec, warnings = load_for_target(ns.spec, ns.overrides, ns.target)
    _warn(spec.warnings)
    if ns.list_points:
        _warn(warnings)
        for point in sweep_points(spec):
            print(f"{point.index}  {point.describe()}".rstrip())
        return EXIT_OK
    templates = ns.templates or spec.templates
    if not spec.single_task:
        return _compile_tasks(spec, ns.target, templates, warnings, ns.output)
    artifacts = compile_spec(
        spec,
        templates=templates,
        warnings=warnings,
        host_python=sys.executable,
        machine=this_machine(),
    )
    _warn(artifacts.warnings)
    if ns.output is None:
        sys.stdout.write(artifacts.main.text)
        return EXIT_OK
    for path in artifacts.write(ns.output):
        print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def _compile_tasks(
    spec: Spec, target: str | None, templates: Path | None, warnings: list[str], output: Path | None
) -> int:
    """Several tasks: one directory of artifacts each, and tasks.json (their order)."""
    from nemorun.compiler.machine import this_machine
    from nemorun.compiler.tasks import compile_tasks

    if output is None:
        raise SpecError(
            f"the spec has several tasks ({', '.join(spec.tasks)}): their artifacts cannot all "
            "go to stdout",
            suggestion="write them into a directory with -o DIR (one subdirectory per task)",
        )
    build = compile_tasks(
        spec, target, templates, warnings, host_python=sys.executable, machine=this_machine()
    )
    _warn(build.warnings)
    for path in build.write(output):
        print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


COMMANDS: dict[str, tuple[Callable[[], argparse.ArgumentParser], Command]] = {
    "validate": (_build_validate, _run_validate),
    "export": (_build_export, _run_export),
    "schema": (_build_schema, _run_schema),
    "migrate": (_build_migrate, _run_migrate),
    "import": (_build_import, _run_import),
    "compile": (_build_compile, _run_compile),
}


def _run_command(name: str) -> tuple[Callable[[], argparse.ArgumentParser], Command]:
    """A command of `nemorun.cli_runs`, imported only when it runs."""

    def build() -> argparse.ArgumentParser:
        from nemorun.cli_runs import RUN_COMMANDS

        return RUN_COMMANDS[name][0]()

    def run(ns: argparse.Namespace) -> int:
        from nemorun.cli_runs import RUN_COMMANDS

        return RUN_COMMANDS[name][1](ns)

    return build, run


COMMANDS.update(
    (name, _run_command(name))
    for name in ("launch", "run", "ls", "status", "logs", "cancel", "rerun", "diff")
)


def _overview() -> str:
    return """usage: nemorun COMMAND [ARGS]

Write an experiment once as a versioned YAML/TOML spec; validate, export, compile and launch it.
RUN is a run id, a unique prefix of one, or a run's name (its newest run).

commands:
  validate SPEC [OVERRIDE…]            check a spec against the task's type hints
  export   SPEC [OVERRIDE…] --format F  write it as python, yaml, toml or json
  schema   SPEC                        print the JSON Schema of the spec (editor completion)
  migrate  SPEC [--in-place]           upgrade an older spec (or NeMo-Run YAML) to format 1
  import   MODULE:FUNCTION [-o FILE]   turn a function returning a Fiddle config into a spec
  compile  SPEC [OVERRIDE…] --target T  the artifact that runs it (bash, sbatch, docker, SkyPilot)

  run      SPEC [OVERRIDE…]            run it here and wait, output streamed (exit 1 if it fails)
  launch   SPEC [OVERRIDE…] --target T  submit it as a new run; prints the run id
  ls       [--name N] [--status S]     the recorded runs, newest first
  status   RUN                         each job's (and sweep point's) state
  logs     RUN [-f] [--job N]          the run's output
  cancel   RUN                         stop the run's jobs
  rerun    RUN [OVERRIDE…] [--failed]  launch a run again from its record
  diff     A B                         what changed in the resolved spec (runs or spec files)

Run 'nemorun COMMAND --help' for a command's options and examples."""


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
