"""The validator's ``Union`` handler: each alternative is tried in a sandbox.

Errors, warnings and memo are restored after each trial: the alternative taking the value's
own YAML type exactly wins, a ``str`` reading a number as typed only when nothing else fits;
when none fits, the error is inside the alternative clearly meant, if one is, else one error
lists them all.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nemorun.errors import Collector, KeyPath, SpecError, format_path
from nemorun.schemas.callables import peek_target
from nemorun.schemas.hints import produces
from nemorun.schemas.messages import describe, describe_value
from nemorun.schemas.values import INVALID, TARGET_KEY, Call, strip_annotated

if TYPE_CHECKING:
    from nemorun.schemas.convert import Validator


def union(v: Validator, raw: Any, annotation: Any, path: KeyPath) -> Any:
    """The alternative that takes the value's own YAML/TOML type exactly (``2`` is an int,
    even for ``str | int``) wins; else the first that takes it, a ``str`` reading a number
    or boolean as typed (``1.10`` → ``'1.10'``) only when nothing else does."""
    options = [o for o in typing.get_args(annotation) if o is not type(None)]
    if raw is None and len(options) < len(typing.get_args(annotation)):
        return None
    typed = isinstance(raw, (int, float))  # a bool too; YAML is read as 1.2 (`yamlload`)
    fallback: _Trial | None = None
    failures: list[tuple[Any, list[SpecError]]] = []
    for option in options:
        trial = _trial(v, raw, option, path, choosing=len(options) > 1)
        if trial.errors and typed and strip_annotated(option) is type(raw):
            for error in trial.errors:  # the value's own type, out of its bounds: no text
                v.errors.add(error)  # reading by a `str` alternative must hide that
            return INVALID
        if trial.errors:
            failures.append((option, trial.errors))
            continue
        value = trial.value
        as_typed = isinstance(value, str) and not isinstance(raw, str)
        if not typed or (type(value) is type(raw) and value == raw):
            return _keep(v, trial)
        if fallback is None or (fallback.as_text and not as_typed):
            fallback = _Trial(value, [], trial.memo, trial.warnings, as_typed)
    if fallback is not None:
        return _keep(v, fallback)
    return _union_error(v, raw, annotation, path, failures)


def _trial(v: Validator, raw: Any, option: Any, path: KeyPath, choosing: bool) -> _Trial:
    """``raw`` as ``option``, in a sandbox: this validator's errors, warnings and memo are
    as before; the trial's own are returned, for `_keep` to adopt. ``choosing``: one of
    several alternatives (`Validator.choosing`)."""
    saved = v.errors, v.memo, v.warnings
    v.errors, v.memo, v.warnings = Collector(), dict(v.memo), list(v.warnings)
    v.choosing += choosing
    try:
        value = v.value(raw, option, path)
        return _Trial(value, v.errors.errors, v.memo, v.warnings)
    finally:
        v.errors, v.memo, v.warnings = saved
        v.choosing -= choosing


def _keep(v: Validator, trial: _Trial) -> Any:
    v.memo, v.warnings = trial.memo, trial.warnings
    return trial.value


def _union_error(
    v: Validator,
    raw: Any,
    annotation: Any,
    path: KeyPath,
    failures: list[tuple[Any, list[SpecError]]],
) -> Any:
    """One alternative's own errors when it clearly was meant (the only one, as in
    ``Optional[X]``, or the only one that took a mapping or list's shape and found a
    mistake inside); else one error listing the alternatives."""
    telling = [(o, errors) for o, errors in failures if _telling(errors, path)]
    if isinstance(raw, dict) and TARGET_KEY in raw:  # not the classes the target cannot make
        target = peek_target(raw[TARGET_KEY])
        fitting = [t for t in telling if produces(target, t[0]) is not False]
        telling = fitting or telling
    structured = isinstance(raw, (dict, list))
    if len(failures) == 1 or (structured and len(telling) == 1):
        v.errors.extend((failures if len(failures) == 1 else telling)[0][1])
        return INVALID
    why = [_why_not(o, errors[0], path) for o, errors in telling]
    found = describe_value(raw)
    if why:  # only the informative ones: "wrong type" says nothing the list does not
        found += " (" + "; ".join(why) + ")"
    hints = {e.suggestion for _, errors in telling for e in errors[:1] if e.suggestion}
    return v.error(
        path,
        "matches none of the allowed types",
        expected=describe(annotation),
        found=found,
        suggestion=hints.pop() if len(hints) == 1 else None,
        at_value=True,
    )


@dataclass(frozen=True)
class _Trial:
    """A union alternative tried in a sandbox: its value, errors, memo and warnings."""

    value: Any
    errors: list[SpecError]
    memo: dict[int, tuple[Any, Call]]
    warnings: list[str]
    as_text: bool = False
    """True when a ``str`` took a number or boolean as the text typed."""


def _telling(errors: list[SpecError], path: KeyPath) -> bool:
    """True unless the only error is "wrong type" at the value: the alternative looked inside."""
    return not (len(errors) == 1 and errors[0].message == "wrong type" and errors[0].path == path)


def _why_not(option: Any, error: SpecError, path: KeyPath) -> str:
    """Why a union alternative refused a value, in a few words."""
    where = format_path(error.path[len(path) :]) if error.path[: len(path)] == path else ""
    return f"as {describe(option)}: {where + ': ' if where else ''}{error.message}"
