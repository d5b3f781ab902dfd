"""``nemorun fmt``: rewrite spec files in their canonical form (`nemorun.schemas.canonical`),
or with ``--check`` say which would change and how (a unified diff), as a pre-commit hook does.

A file is replaced atomically and keeps its permission bits (a symbolic link's target is
rewritten, the link stays); a file that does not parse, or that the formatter cannot rewrite
without changing its meaning, is an error and stays exactly as it was.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from nemorun.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, Command, parser, print_errors
from nemorun.errors import SpecError, SpecErrors


def _build_fmt() -> argparse.ArgumentParser:
    p = parser(
        "fmt",
        "Rewrite YAML and TOML specs in one canonical layout: 2-space indentation (a list's "
        "'-' indented under its key), double quotes where a string was quoted (single quotes "
        "when it holds \" or \\), the 'nemorun:' key first; comments, key order, anchors and "
        "the spelling of every value kept. The rewrite is checked to load to exactly what the "
        "file held, else the file is left alone. JSON specs are left as they are.\n\n"
        "exit status: 0 formatted (or already so), 1 with --check when a file would change, "
        "2 when a file does not parse.\n\n"
        "examples:\n  nemorun fmt configs/*.yaml configs/*.toml\n"
        "  nemorun fmt --check configs/pretrain.yaml     # the diff, nothing written\n"
        "  nemorun fmt --modeline configs/quickstart.yaml # + the editor's schema line",
    )
    p.add_argument("specs", nargs="+", type=Path, metavar="SPEC", help="the spec files")
    p.add_argument(
        "--check",
        action="store_true",
        help="write nothing; print a unified diff of each file that would change (exit 1)",
    )
    p.add_argument(
        "--modeline",
        action="store_true",
        help="start the file with the line that points editors at its JSON Schema, and write "
        "that schema to .nemorun/<file>.schema.json beside it (not with --check)",
    )
    return p


def _run_fmt(ns: argparse.Namespace) -> int:
    from nemorun.schemas.canonical import can_format

    broken = changed = 0
    for path in ns.specs:
        if not can_format(path):
            print(f"{path}: left as it is (fmt rewrites YAML and TOML specs)", file=sys.stderr)
            continue
        try:
            changed += _format_one(path, ns.check, ns.modeline)
        except SpecErrors as exc:
            print_errors(exc)
            broken += 1
        except SpecError as exc:
            print_errors(SpecErrors([exc]))
            broken += 1
    if broken:
        return EXIT_BAD_INPUT
    if ns.check and changed:
        noun = "file" if changed == 1 else "files"
        print(f"{changed} {noun} would be reformatted (run: nemorun fmt SPEC…)", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _format_one(path: Path, check: bool, with_modeline: bool) -> bool:
    """Format (or with ``check``, diff) one file; whether it changes. Raises `SpecErrors`."""
    text, formatted = _formatted(path, with_modeline)
    if formatted != text:
        if check:
            sys.stdout.writelines(_diff(text, formatted, str(path)))
        else:
            _replace(path, formatted)
            print(f"formatted {path}", file=sys.stderr)
    if with_modeline and not check:
        write_schema(path)
    return formatted != text


def _formatted(path: Path, with_modeline: bool) -> tuple[str, str]:
    """The file's text and its canonical form (with the modeline when asked)."""
    from nemorun.schemas.canonical import format_spec
    from nemorun.schemas.modeline import add_modeline, format_of
    from nemorun.schemas.source import display_name

    display = display_name(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file: {exc}", file=display) from None
    formatted = format_spec(text, path, display)
    fmt = format_of(path)
    if with_modeline and fmt is not None:
        formatted = add_modeline(formatted, path, fmt)[0]
    return text, formatted


def _diff(before: str, after: str, name: str) -> list[str]:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{name} (as written)",
        tofile=f"{name} (formatted)",
    )
    return [
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    ]


def _replace(path: Path, text: str) -> None:
    """Atomically, through a symbolic link, keeping the file's permission bits."""
    from nemorun.files import write_output

    real = path.resolve()
    write_output(real, text, real.stat().st_mode & 0o7777)


def write_schema(path: Path) -> None:
    """The spec's JSON Schema where its modeline points; a spec with errors still gets the
    schema of what resolves in it (editing is how the errors get fixed)."""
    import json

    from nemorun import api
    from nemorun.files import write_output
    from nemorun.schemas.modeline import schema_file

    draft = api.draft_schema(path)
    target = schema_file(path)
    write_output(target, json.dumps(draft.schema, indent=2) + "\n")
    print(f"wrote {target}", file=sys.stderr)
    if draft.errors is not None:
        print(
            f"warning: {path} has errors (see: nemorun validate {path}); the schema describes "
            "what resolves in it",
            file=sys.stderr,
        )


COMMANDS: dict[str, Command] = {"fmt": (_build_fmt, _run_fmt)}
