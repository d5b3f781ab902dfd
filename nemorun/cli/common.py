"""What every command module of the CLI shares: exit codes, parser helpers, printing.

A command module defines, for each command, ``build() → ArgumentParser`` and
``run(namespace) → exit code`` and lists them in its ``COMMANDS``; `nemorun.cli.main` finds
the module by the command's name and imports only that one. Output conventions: a command's
answer goes to stdout, everything about its progress and every warning or error to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from nemorun.errors import SpecError, SpecErrors

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

Command = tuple[Callable[[], argparse.ArgumentParser], Callable[[argparse.Namespace], int]]
"""A command: the builder of its parser, and what runs it on the parsed arguments."""

RUN_HELP = "a run id, a unique prefix of one, or a run's name (its newest run)"


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """A command's parser: ``nemorun NAME``, its description printed as written."""
    return argparse.ArgumentParser(
        prog=f"nemorun {name}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def spec_and_overrides(p: argparse.ArgumentParser) -> None:
    """The ``SPEC [OVERRIDE…]`` positionals."""
    p.add_argument("spec", type=Path, help="the spec file (.yaml, .yml, .toml or .json)")
    p.add_argument(
        "overrides",
        nargs="*",
        metavar="OVERRIDE",
        help="Hydra-style overrides: key=value, +key=value, ++key=value, ~key, key=a,b (sweep)",
    )


def target_option(p: argparse.ArgumentParser) -> None:
    """``--target``: checked by the registry (`nemorun.registry.get_target`, as every target
    name is), not by argparse ``choices``, so a typo gets the same "did you mean" as in a spec
    and building the parser lists no plugins."""
    from nemorun.registry import BUILTIN

    p.add_argument(
        "--target",
        "-t",
        metavar="T",
        help=f"where the job runs: {', '.join(BUILTIN)} or a plugin's target (default: the "
        "spec's executor.target, else local)",
    )


def write_output(text: str, output: Path | None) -> None:
    """``text`` to ``output`` (atomically), or to stdout without one."""
    if output is None:
        sys.stdout.write(text)
        return
    from nemorun.files import write_output as write_file

    write_file(output, text)


def warn(messages: Sequence[str]) -> None:
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)


def print_errors(exc: SpecErrors) -> None:
    """Every error like a compiler's (``error: FILE:LINE:COL: …``), then their count."""
    for error in exc.errors:
        print(f"error: {error.format()}", file=sys.stderr)
    count = len(exc.errors)
    if count > 1:
        print(f"{count} errors", file=sys.stderr)


def table(rows: Sequence[Sequence[str]]) -> None:
    """Rows as left-aligned columns; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def cluster_option(p: argparse.ArgumentParser) -> None:
    """``--cluster NAME``: a profile of ``clusters.yaml`` (`use_cluster`)."""
    p.add_argument(
        "--cluster",
        metavar="NAME",
        help="a cluster of ~/.config/nemorun/clusters.yaml: its Slurm, over ssh (its "
        "defaults apply; target slurm unless given)",
    )


def use_cluster(ns: argparse.Namespace) -> None:
    """``--cluster NAME`` as the override ``++executor.cluster=NAME`` (so a rerun replays it),
    and target slurm unless ``--target`` says otherwise."""
    name = getattr(ns, "cluster", None)
    if name is None:
        return
    from nemorun.schemas.clusters import NAME

    if not NAME.fullmatch(name):
        raise SpecError(
            "bad --cluster",
            expected="a cluster name (letters, digits, '_', '.', '-')",
            found=repr(name),
            suggestion="see: nemorun cluster ls",
        )
    ns.overrides = [*ns.overrides, f"++executor.cluster={name}"]
    ns.target = ns.target or "slurm"
