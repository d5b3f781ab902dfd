"""What may come next on a ``nemorun`` command line: the answers behind shell completion.

The scripts of ``nemorun completion SHELL`` call ``nemorun __complete SHELL WORD… CURRENT`` on
every TAB (the words after ``nemorun`` up to the cursor, CURRENT last); the answer is a mode
line (`Mode`) and then one candidate a line. The commands' own parsers say what each argument
takes, so a command added later completes without a change here; only the parser of the
command on the line is built. An argument's kind comes from its ``dest`` (`KINDS`), its
``choices`` or a ``Path`` type.

Speed is the contract (a TAB answers in < 0.2 s): nothing here imports the compiler, the
schemas, Jinja or the user's code; run ids are directory names (never a record read), and
override keys come from a cache that the spec's schema fills in the background
(`nemorun.cli.complete_keys`). Bash passes words as typed (quotes, backslashes); fish only the
current one: `dequote` turns those into the text they stand for.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

SPEC_SUFFIXES = (".yaml", ".yml", ".toml", ".json")
"""The spec files' suffixes (`nemorun.schemas.source` has them one by one; importing it costs
more than a TAB may)."""
SHELLS = ("bash", "zsh", "fish")
OVERRIDE_PREFIXES = ("++", "+", "~")


class Mode(Enum):
    """How the shell inserts the candidates."""

    PLAIN = "plain"
    """Words: a space after the one chosen."""
    NOSPACE = "nospace"
    """Keys the user goes on typing (``optim.`` then ``lr=…``): no space after."""
    FILES = "files"
    """File names: quoted by the shell as it inserts them; directories end in ``/`` (except
    for bash, which adds the slash itself)."""


class Kind(Enum):
    """What an argument takes, as far as completion can tell."""

    NOTHING = "nothing"
    FILE = "file"
    SPEC = "spec"
    RUN = "run"
    RUN_OR_SPEC = "run or spec"
    TARGET = "target"
    OVERRIDE = "override"
    CHOICE = "choice"


KINDS = {
    "spec": Kind.SPEC,
    "specs": Kind.SPEC,
    "run": Kind.RUN,
    "runs": Kind.RUN,  # compare RUN…
    "a": Kind.RUN_OR_SPEC,  # diff A B
    "b": Kind.RUN_OR_SPEC,
    "target": Kind.TARGET,
    "overrides": Kind.OVERRIDE,
}
"""Argument ``dest`` → what it takes (the names `nemorun.cli.common` gives them)."""


@dataclass(frozen=True)
class Reply:
    mode: Mode
    candidates: tuple[str, ...] = ()

    def lines(self, shell: str) -> str:
        """The answer as the scripts read it. A name holding a line break cannot be a
        candidate; in fish, neither can one with a tab (what follows it is a description)."""
        banned = "\n\t" if shell == "fish" else "\n"
        shown = [c for c in self.candidates if not set(c) & set(banned)]
        return "\n".join((self.mode.value, *shown)) + "\n"


NONE = Reply(Mode.PLAIN)


def answer(argv: Sequence[str]) -> int:
    """``nemorun __complete SHELL WORD… CURRENT``: print the `Reply`. Never fails loudly: a
    TAB that cannot be answered offers nothing (``NEMORUN_DEBUG=1`` shows why)."""
    if not argv or argv[0] not in SHELLS:
        print(f"usage: nemorun __complete {{{','.join(SHELLS)}}} WORD… CURRENT", file=sys.stderr)
        return 2
    shell, words = argv[0], list(argv[1:]) or [""]
    head = ""
    if shell == "bash":
        words, head = rejoin([dequote(w) for w in words])
    elif shell == "fish":
        words[-1] = dequote(words[-1])
    try:
        reply = complete(words[:-1], words[-1], shell)
        if head:  # bash replaces only what follows the '='
            kept = (c[len(head) :] for c in reply.candidates if c.startswith(head))
            reply = Reply(reply.mode, tuple(kept))
    except Exception:
        if os.environ.get("NEMORUN_DEBUG"):
            raise
        reply = NONE
    sys.stdout.write(reply.lines(shell))
    return 0


def rejoin(words: list[str]) -> tuple[list[str], str]:
    """Bash's words put together again where it split them at ``=`` (``--target``, ``=``,
    ``sl`` → ``--target=sl``), and the part of the current word bash will not replace."""
    joined: list[str] = []
    for index, word in enumerate(words):
        if word == "=" and joined and index > 0:
            joined[-1] += "="
        elif joined and joined[-1].endswith("=") and words[index - 1] == "=":
            joined[-1] += word
        else:
            joined.append(word)
    if len(words) > 1 and (words[-1] == "=" or words[-2] == "="):
        return joined, joined[-1].rpartition("=")[0] + "="
    return joined, ""


def complete(done: Sequence[str], current: str, shell: str = "bash") -> Reply:
    """The candidates for ``current`` after the words ``done`` (those after ``nemorun``)."""
    from nemorun.cli import COMMAND_MODULES, command

    if not done:
        names = [n for n in COMMAND_MODULES if not n.startswith("_")]
        return _matching(Mode.PLAIN, [*names, "--help", "--version"], current)
    if done[0] not in COMMAND_MODULES:
        return NONE
    return _argument(command(done[0])[0](), done[1:], current, shell)


def _argument(
    parser: argparse.ArgumentParser, done: Sequence[str], current: str, shell: str
) -> Reply:
    """What comes at ``current`` for a command whose parser is ``parser``."""
    options = {s: a for a in parser._actions for s in a.option_strings}
    given: list[str] = []
    expecting: argparse.Action | None = None
    for word in done:
        if expecting is not None:
            expecting = None
        elif word.startswith("-") and len(word) > 1:
            action = options.get(word)
            expecting = action if action is not None and action.nargs != 0 else None
        else:
            given.append(word)
    if expecting is not None:
        return _value(expecting, current, {}, shell)
    option, equals, value = current.partition("=")
    if current.startswith("-") and equals and option in options:
        found = _value(options[option], value, {}, shell)
        return Reply(found.mode, tuple(f"{option}={c}" for c in found.candidates))
    if current.startswith("-"):
        long = [s for s in options if s.startswith("--")]
        found = _matching(Mode.PLAIN, long, current)
        return found if found.candidates else _matching(Mode.PLAIN, list(options), current)
    positionals = [a for a in parser._actions if not a.option_strings]
    assigned = _assign(positionals, given)
    action = _positional_at(positionals, len(given))
    return NONE if action is None else _value(action, current, assigned, shell)


def _assign(positionals: Sequence[argparse.Action], given: Sequence[str]) -> dict[str, list[str]]:
    """The positional words given so far, by the ``dest`` they fill."""
    assigned: dict[str, list[str]] = {}
    for index, word in enumerate(given):
        action = _positional_at(positionals, index)
        if action is not None:
            assigned.setdefault(action.dest, []).append(word)
    return assigned


def _positional_at(positionals: Sequence[argparse.Action], index: int) -> argparse.Action | None:
    """The positional argument the word at ``index`` (among positional words) fills."""
    for action in positionals:
        if action.nargs in ("*", "+", argparse.REMAINDER):
            return action
        count = action.nargs if isinstance(action.nargs, int) else 1
        if index < count:
            return action
        index -= count
    return None


def kind_of(action: argparse.Action) -> Kind:
    if action.choices:
        return Kind.CHOICE
    if action.dest in KINDS:
        return KINDS[action.dest]
    return Kind.FILE if action.type is Path else Kind.NOTHING


def _value(
    action: argparse.Action, current: str, assigned: dict[str, list[str]], shell: str
) -> Reply:
    kind = kind_of(action)
    if kind is Kind.CHOICE:
        return _matching(Mode.PLAIN, [str(c) for c in action.choices or ()], current)
    if kind is Kind.TARGET:
        from nemorun.registry import BUILTIN  # plugins would cost a scan of every package

        return _matching(Mode.PLAIN, list(BUILTIN), current)
    if kind is Kind.RUN:
        return _matching(Mode.PLAIN, run_words(), current)
    if kind is Kind.RUN_OR_SPEC:
        files = file_names(current, SPEC_SUFFIXES, shell)
        runs = _matching(Mode.PLAIN, run_words(), current).candidates
        return Reply(Mode.FILES, (*files, *runs))
    if kind in (Kind.SPEC, Kind.FILE):
        return Reply(
            Mode.FILES, file_names(current, SPEC_SUFFIXES if kind is Kind.SPEC else None, shell)
        )
    if kind is Kind.OVERRIDE and "/" in current:  # never a key: more specs (validate a b…)
        return Reply(Mode.FILES, file_names(current, SPEC_SUFFIXES, shell))
    if kind is Kind.OVERRIDE and assigned.get("spec"):
        from nemorun.cli.complete_keys import override_keys

        return override_candidates(override_keys(Path(assigned["spec"][0])), current)
    if kind is Kind.OVERRIDE and assigned.get("run"):
        return override_candidates(run_keys(assigned["run"][0]), current)
    return NONE


def _matching(mode: Mode, words: Sequence[str], current: str) -> Reply:
    return Reply(mode, tuple(sorted({w for w in words if w.startswith(current)})))


def run_words() -> list[str]:
    """Every recorded run's id and name, from the names of the run directories alone."""
    from nemorun.launchers.run_ids import id_parts, runs_root

    try:
        with os.scandir(runs_root()) as entries:
            ids = [e.name for e in entries if not e.name.startswith(".") and e.is_dir()]
    except OSError:
        return []
    names = {slug for run_id in ids if (slug := id_parts(run_id)[1])}
    return [*ids, *names]


def file_names(current: str, suffixes: Sequence[str] | None, shell: str) -> tuple[str, ...]:
    """The directories and files (with one of ``suffixes``, any without) whose path starts
    with ``current``, as typed (relative, or from ``~``); hidden ones only when asked for."""
    head, _, base = current.rpartition("/")
    folder = head + "/" if head or current.startswith("/") else ""
    try:
        with os.scandir(os.path.expanduser(folder) or ".") as entries:
            found = [(e.name, e.is_dir()) for e in entries if e.name.startswith(base)]
    except OSError:
        return ()
    slash = "" if shell == "bash" else "/"  # bash's -o filenames adds it
    names = []
    for name, is_dir in found:
        if name.startswith(".") and not base.startswith("."):
            continue
        if is_dir:
            names.append(folder + name + slash)
        elif suffixes is None or name.lower().endswith(tuple(suffixes)):
            names.append(folder + name)
    return tuple(sorted(names))


def run_keys(query: str) -> tuple[str, ...]:
    """The keys of the resolved spec of the run ``query`` names (as `find_run` reads it:
    an id, a name's newest run, a unique prefix), read without importing anything."""
    from nemorun.cli.complete_keys import written_keys
    from nemorun.launchers.run_ids import id_parts, runs_root

    root = runs_root()
    try:
        ids = sorted((n for n in os.listdir(root) if not n.startswith(".")), reverse=True)
    except OSError:
        return ()
    found = [n for n in ids if n == query] or [n for n in ids if id_parts(n)[1] == query][:1]
    prefixed = [n for n in ids if query and n.startswith(query)]
    found = found or (prefixed if len(prefixed) == 1 else [])
    try:
        return written_keys((root / found[0] / "resolved.yaml").read_bytes(), ".yaml")
    except (OSError, IndexError):
        return ()


def override_candidates(keys: Sequence[str], current: str) -> Reply:
    """The next level of ``keys`` under what ``current`` has typed: ``optim.`` →
    ``optim.lr``, ``optim.sched.`` (a key with keys under it ends in a dot); after ``+``,
    ``++`` or ``~`` the same keys keep that prefix. No values: after ``=`` nothing."""
    if "=" in current:
        return NONE
    sign = next((p for p in OVERRIDE_PREFIXES if current.startswith(p)), "")
    typed = current[len(sign) :]
    parents = {k.rpartition(".")[0] for k in keys}
    level = typed.rpartition(".")[0]
    found = {
        sign + key + ("." if key in parents else "")
        for key in keys
        if key.startswith(typed) and key.rpartition(".")[0] == level
    }
    return Reply(Mode.NOSPACE, tuple(sorted(found)))


def dequote(word: str) -> str:
    """A word as the shell passed it (quotes and backslashes as typed, a quote maybe still
    open) → the text it stands for: ``my\\ sp`` and ``'my sp`` → ``my sp``."""
    out: list[str] = []
    quote = ""
    chars = iter(word)
    for char in chars:
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                out.append(char)
        elif char == "\\" and (quote == "" or quote == '"'):
            following = next(chars, "")
            if quote == '"' and following not in '"\\$`':
                out.append(char)
            out.append(following)
        elif char == quote:
            quote = ""
        elif char in "'\"" and not quote:
            quote = char
        else:
            out.append(char)
    return "".join(out)
