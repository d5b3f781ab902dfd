"""Errors are data: every user mistake becomes a `SpecError`, and one place formats them.

A `SpecError` knows where the mistake is (file, line, column, or the override that introduced it),
which key path it concerns, what was expected, what was found and what would probably fix it.
Validation collects them into `SpecErrors` instead of stopping at the first, so the CLI can print
every mistake in a spec at once, like a compiler.

`Origin` is the position of one key or value. It lives here rather than in `schemas/` because
errors from every layer (loading, overrides, compiling) carry one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Origin:
    """Where a key or value was written: a file position, or a command-line override."""

    file: str | None = None
    line: int | None = None
    column: int | None = None
    override: str | None = None
    """Set for values that come from the command line: ``override 2 'optim.lr=1e-3'``."""
    text: str | None = None
    """The scalar exactly as written (unquoted plain YAML scalars and override values only)."""
    value_line: int | None = None
    value_column: int | None = None

    def is_override(self) -> bool:
        """True when the value was set on the command line."""
        return self.override is not None

    def label(self) -> str:
        """Short provenance label used in exports: ``exp.yaml:12`` or ``override: lr=1e-3``."""
        if self.override is not None:
            return self.override
        if self.file is None:
            return "<unknown>"
        return f"{self.file}:{self.line}" if self.line else self.file

    def at_value(self) -> Origin:
        """The same origin, pointing at the value rather than the key where both are known."""
        if self.value_line is None:
            return self
        # Called once per swept value: the constructor, not dataclasses.replace (which reads
        # the fields each call; a fifth of a 10,000-value sweep's compile).
        line, column = self.value_line, self.value_column
        return Origin(self.file, line, column, self.override, self.text, line, column)


def format_path(path: KeyPath) -> str:
    """``("task", "layers", 0)`` → ``task.layers[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate nearest to ``name`` by edit distance, if any is reasonably close."""
    pool = [c for c in candidates if isinstance(c, str)]
    if name in pool:
        return None  # nothing to suggest: the name is already one of them
    # Compared without case, so 'gelo' finds the enum member 'GELU'.
    lowered: dict[str, str] = {}
    for c in pool:
        lowered.setdefault(c.lower(), c)
    matches = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[matches[0]] if matches else None


@dataclass
class SpecError(Exception):
    """One located mistake in a spec, an override or a command-line flag."""

    message: str
    path: KeyPath = ()
    origin: Origin | None = None
    expected: str | None = None
    found: str | None = None
    suggestion: str | None = None
    file: str | None = None
    """Used when there is no origin (a file that cannot be read at all, say)."""

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.format()

    def location(self) -> str:
        o = self.origin
        if o is not None and o.file is not None and o.line is not None:
            col = f":{o.column}" if o.column else ""
            return f"{o.file}:{o.line}{col}"
        if o is not None and o.file is not None:
            return o.file
        return self.file or ""

    def format(self) -> str:
        """``exp.yaml:12:5: task.model.hiden_size: unknown argument …; did you mean …?``"""
        head = self.location()
        parts = [head] if head else []
        if self.origin is not None and self.origin.override is not None:
            parts.append(self.origin.override)
        if self.path:
            parts.append(format_path(self.path))
        text = self.message
        if self.expected is not None and self.found is not None:
            text += f": expected {self.expected}, found {self.found}"
        elif self.expected is not None:
            text += f": expected {self.expected}"
        elif self.found is not None:
            text += f": found {self.found}"
        if self.suggestion:
            text += f"; {self.suggestion}"
        parts.append(text)
        return ": ".join(parts)


@dataclass
class SpecErrors(Exception):
    """Every error found in one pass; raised when there is at least one."""

    errors: list[SpecError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__("\n".join(e.format() for e in self.errors))

    def __str__(self) -> str:
        return "\n".join(e.format() for e in self.errors)


class Collector:
    """Accumulates errors while a pass goes on; ``raise_if_any`` ends the pass."""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []
        self._seen: set[str] = set()

    def add(self, error: SpecError) -> None:
        key = error.format()
        if key not in self._seen:
            self._seen.add(key)
            self.errors.append(error)

    def extend(self, errors: Iterable[SpecError]) -> None:
        for e in errors:
            self.add(e)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SpecErrors(in_reading_order(self.errors))

    def __bool__(self) -> bool:
        return bool(self.errors)


def in_reading_order(errors: list[SpecError]) -> list[SpecError]:
    """Errors by file (in order of first mention), line and column, then command-line overrides
    in the order given, then the rest; the order they were found in breaks ties."""
    files: dict[str, int] = {}
    for e in errors:
        if e.origin is not None and e.origin.file is not None:
            files.setdefault(e.origin.file, len(files))

    def key(e: SpecError) -> tuple[int, int, int, int]:
        o = e.origin
        if o is not None and o.override is not None:
            return (1, _override_number(o.override), 0, 0)
        if o is not None and o.file is not None:
            return (0, files[o.file], o.line or 0, o.column or 0)
        return (2, 0, 0, 0)

    return sorted(errors, key=key)


def _override_number(label: str) -> int:
    """``override 2 'a=1'`` → 2."""
    words = label.split(" ", 2)
    return int(words[1]) if len(words) > 1 and words[1].isdigit() else 0


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """``did you mean 'hidden_size'?`` or None."""
    best = closest(name, candidates)
    return f"did you mean '{best}'?" if best else None


class LaunchInterrupted(BaseException):
    """SIGTERM or SIGHUP arrived while a launch was submitting: handled like Ctrl-C, so jobs
    already submitted but not yet recorded are cancelled rather than left running untracked;
    the command then ends as an interrupted one (exit 130), not with a traceback."""
