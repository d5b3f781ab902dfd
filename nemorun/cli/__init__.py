"""The ``nemorun`` command: a thin shell over the Python API (`nemorun.api`,
`nemorun.api_runs`) that parses arguments, calls the API and prints.

Each command has its own argparse parser, used with ``parse_intermixed_args`` so options and
overrides may come in any order (argparse cannot intermix with sub-parsers, hence the manual
dispatch on the first word). A command lives in the module of its group (`COMMAND_MODULES`),
imported only when that command runs; heavy libraries are imported inside the commands.

Exit codes: 0 ok, 2 bad input (spec, override, flag), 1 anything else. A user's mistake is
printed like a compiler's error, never as a traceback; set ``NEMORUN_DEBUG=1`` to see one for
an internal failure.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from nemorun import __version__
from nemorun.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, Command, print_errors
from nemorun.errors import LaunchInterrupted, SpecError, SpecErrors

COMMAND_MODULES = {
    **dict.fromkeys(
        ("validate", "compile", "export", "schema", "migrate", "import"), "nemorun.cli.specs"
    ),
    **dict.fromkeys(("launch", "run", "rerun", "check"), "nemorun.cli.launching"),
    **dict.fromkeys(("ls", "status", "logs", "cancel", "diff"), "nemorun.cli.runs"),
    "new": "nemorun.cli.authoring",
    "fmt": "nemorun.cli.formatting",
    "completion": "nemorun.cli.completion",
    "graph": "nemorun.cli.pictures",
    "ui": "nemorun.cli.ui",
    "cluster": "nemorun.cli.clusters",
    **dict.fromkeys(("compare", "metrics"), "nemorun.cli.insight"),
}
"""Each command's module; that module's ``COMMANDS`` maps the name to its `Command`."""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(OVERVIEW)
        return EXIT_OK if args else EXIT_BAD_INPUT
    if args[0] in ("-V", "--version", "version"):
        print(f"nemorun {__version__} (experiment-spec compiler; not NVIDIA's nemo_run)")
        return EXIT_OK
    name, rest = args[0], args[1:]
    if name == "__complete":  # what the completion scripts call on each TAB (not listed)
        from nemorun.cli.complete import answer

        return answer(rest)
    from nemorun.launchers.base import LaunchError  # not on a TAB's path: hashing, manifests

    if name not in COMMAND_MODULES:
        from nemorun.errors import did_you_mean

        hint = did_you_mean(name, COMMAND_MODULES)
        print(f"nemorun: unknown command '{name}'" + (f"; {hint}" if hint else ""), file=sys.stderr)
        print("run 'nemorun --help' for the list of commands", file=sys.stderr)
        return EXIT_BAD_INPUT
    build, run = command(name)
    try:
        ns = build().parse_intermixed_args(rest)
    except SystemExit as exc:
        return int(exc.code or 0) if exc.code in (0, None) else EXIT_BAD_INPUT
    try:
        return run(ns)
    except SpecErrors as exc:
        print_errors(exc)
        return EXIT_BAD_INPUT
    except SpecError as exc:
        print_errors(SpecErrors([exc]))
        return EXIT_BAD_INPUT
    except LaunchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except (KeyboardInterrupt, LaunchInterrupted):
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # an internal failure, not the user's mistake
        if os.environ.get("NEMORUN_DEBUG"):
            raise
        print(f"nemorun: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("(set NEMORUN_DEBUG=1 to see the traceback)", file=sys.stderr)
        return EXIT_FAILURE


def command(name: str) -> Command:
    """The parser builder and runner of command ``name`` (its module imported now)."""
    commands: dict[str, Command] = importlib.import_module(COMMAND_MODULES[name]).COMMANDS
    return commands[name]


OVERVIEW = """usage: nemorun COMMAND [ARGS]

Write an experiment once as a versioned YAML/TOML spec; validate, export, compile and launch it.
RUN is a run id, a unique prefix of one, or a run's name (its newest run).

commands:
  new      MODULE:FUNCTION [-o FILE]   start a spec from a function's or class's signature
  validate SPEC [OVERRIDE…]            check a spec against the task's type hints
  export   SPEC [OVERRIDE…] --format F  write it as python, yaml, toml or json
  schema   SPEC                        print the JSON Schema of the spec (editor completion)
  migrate  SPEC [--in-place]           upgrade an older spec (or NeMo-Run YAML) to format 1
  import   MODULE:FUNCTION [-o FILE]   turn a function returning a Fiddle config into a spec
  fmt      SPEC… [--check] [--modeline] canonical layout, comments kept; --check: diff, exit 1
  compile  SPEC [OVERRIDE…] --target T  the artifact that runs it (bash, sbatch, docker, SkyPilot)
  graph    SPEC [OVERRIDE…] [-o F.svg]  draw the Fiddle graph (shared sub-configs, sweeps)

  run      SPEC [OVERRIDE…]            run it here and wait, output streamed (exit 1 if it fails)
  check    SPEC [OVERRIDE…] --target T  ask the scheduler whether it would take it (no run)
  launch   SPEC [OVERRIDE…] --target T  submit it as a new run; prints the run id
  ls       [--name N] [--status S]     the recorded runs, newest first
  status   RUN                         each job's (and sweep point's) state
  logs     RUN [-f] [--job N]          the run's output
  cancel   RUN                         stop the run's jobs
  rerun    RUN [OVERRIDE…] [--failed]  launch a run again from its record
  diff     A B                         what changed in the resolved spec (runs or spec files)
  ui       [--port P] [--host H]       a local web page of the runs (status, logs, metrics)
  cluster  ls|login|logout [NAME]      remote Slurm clusters (clusters.yaml), their ssh connection
  compare  RUN… [--name N] [--keys K]  runs side by side: the keys that differ, last metrics
  metrics  RUN [--point P] [--svg F]   a run's metrics over steps (sparklines or an SVG)
  completion bash|zsh|fish             the shell completion script (see README)

Run 'nemorun COMMAND --help' for a command's options and examples."""
