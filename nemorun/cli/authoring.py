"""The commands that start a spec for the user to edit: new. Each parses its arguments, calls
`nemorun.api` and writes what it returns."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Literal

from nemorun.cli.common import EXIT_OK, Command, parser, write_output
from nemorun.errors import SpecError

# --- new --------------------------------------------------------------------------------------


def _build_new() -> argparse.ArgumentParser:
    from nemorun.registry import BUILTIN

    p = parser(
        "new",
        "Write a spec to start from for a Python function or class: every argument it takes, "
        "with its default, its type and its docs as a comment above it. Arguments whose type "
        "is a dataclass (or a class with a typed __init__) are written as mappings of that "
        "class's own arguments. A required value is written ??? and 'nemorun validate' names "
        "each one until it is filled in. Nothing is called: the code is only imported.\n\n"
        "examples:\n  nemorun new trainlib:train -p examples -o configs/mytrain.yaml\n"
        "  nemorun new torch.optim:AdamW --format toml\n"
        "  nemorun new mypkg.train:main --target slurm -o configs/main.yaml",
    )
    p.add_argument("reference", metavar="MODULE:FUNCTION", help="what the task calls")
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    p.add_argument(
        "--format",
        "-f",
        choices=("yaml", "toml"),
        default=None,
        help="output format (default: from the -o suffix, else yaml)",
    )
    p.add_argument(
        "--target",
        "-t",
        metavar="T",
        help=f"the executor's target: {', '.join(BUILTIN)} or a plugin's (default: local)",
    )
    p.add_argument(
        "--pythonpath",
        "-p",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="a directory to import the code from (repeatable); written into the spec",
    )
    p.add_argument("--force", action="store_true", help="replace the -o file if it exists")
    p.add_argument(
        "--modeline",
        action="store_true",
        help="with -o: a first line pointing editors at the spec's JSON Schema (written too)",
    )
    return p


def _run_new(ns: argparse.Namespace) -> int:
    from nemorun import api

    output: Path | None = ns.output
    if output is not None and output.exists() and not ns.force:
        raise SpecError(
            f"-o: {output} already exists",
            suggestion="pass --force to replace it, or choose another file",
        )
    toml = ns.format == "toml" or (ns.format is None and output and output.suffix == ".toml")
    fmt: Literal["yaml", "toml"] = "toml" if toml else "yaml"
    dest_dir = output.resolve().parent if output is not None else None
    if ns.modeline and output is None:
        raise SpecError("--modeline needs -o FILE", suggestion="add -o configs/NAME.yaml")
    text = api.new(ns.reference, fmt, ns.target, dest_dir, ns.pythonpath)
    if ns.modeline and output is not None:
        from nemorun.schemas.modeline import add_modeline

        text = add_modeline(text, output, fmt)[0]
    write_output(text, output)
    if output is not None:
        print(f"wrote {output}", file=sys.stderr)
    if ns.modeline and output is not None:
        from nemorun.cli.formatting import write_schema

        write_schema(output)
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "new": (_build_new, _run_new),
}
