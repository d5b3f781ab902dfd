"""Reading ``${oc.env:…}`` references where the job runs: the one conversion of environment text.

Three places turn an environment text into an argument's value, and they must agree: validation
(an ``${oc.env:VAR,default}`` default must fit the argument), the Fiddle graph
(``fdl.Config(env_value, …)``, built where the job runs) and the job's generated entry point,
which needs no nemorun. All three use the functions below: the entry embeds their source
verbatim (`ENTRY_FUNCTIONS`), so what ``validate`` accepts is exactly what the job reads.

That is why these functions are self-contained: they use only each other, `ENV_REFERENCE` and
the modules ``enum``, ``os``, ``pathlib`` and ``re``, imported whole.
`nemorun.schemas.envrefs.env_reading` turns a type hint into their ``to`` / ``optional`` /
``choices`` arguments.
"""

from __future__ import annotations

import enum
import os
import pathlib
import re
from typing import Any

ENV_REFERENCE = r"\$\{oc\.env:([^,}]+)(?:,([^}]*))?\}"
"""``${oc.env:VAR[,default]}``: group 1 the variable, group 2 the default (None without one)."""


def env_value(template: str, to: Any = None, optional: bool = False, choices: Any = ()) -> Any:
    """The value of ``template`` in this process's environment, read as `env_convert` says."""
    return env_convert(env_expand(template), to, optional, choices, template)


def env_expand(template: str) -> str:
    """Substitute every ``${oc.env:VAR[,default]}`` in ``template`` from ``os.environ``."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1).strip(), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is None:
            raise KeyError(f"environment variable '{name}' is not set and has no default")
        return env_default(default)

    return re.sub(ENV_REFERENCE, one, template)


def env_default(text: str) -> str:
    """A reference's default as OmegaConf reads it: stripped, and a quoted one (``'a b'``,
    ``"a,b"``) without its quotes and with its escaped quotes and backslashes undone."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return re.sub(r"\\(.)", lambda m: m.group(1), text[1:-1])
    return text


def env_convert(
    text: str, to: Any = None, optional: bool = False, choices: Any = (), where: str = "value"
) -> Any:
    """``text`` as the argument's type; a ValueError naming ``where`` when it does not fit.

    ``optional``: an empty, ``none`` or ``null`` text (any case) is None. ``choices`` (a
    Literal's values) match by their text, before ``to``. ``to``: a scalar type (str, int,
    float, bool, an Enum by member name, a Path) or a tuple of them tried in order (a Union);
    None means str, or nothing but the ``choices`` when there are some.
    """
    if optional and text.strip().lower() in ("", "none", "null"):
        return None
    for choice in choices:
        if str(choice) == text:
            return choice
    kinds = to if isinstance(to, tuple) else (() if to is None and choices else (to or str,))
    for kind in kinds:
        try:
            return _env_scalar(text, kind)
        except ValueError:
            pass
    wanted = [_env_expected(kind) for kind in kinds]
    if choices:
        wanted.insert(0, "one of " + ", ".join(repr(c) for c in choices))
    raise ValueError(f"{where}: expected {' or '.join(wanted)}, got {text!r}")


def _env_scalar(text: str, kind: Any) -> Any:
    """``text`` as one scalar type, or a ValueError."""
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        if text in kind.__members__:
            return kind.__members__[text]
        raise ValueError(text)
    if isinstance(kind, type) and issubclass(kind, pathlib.PurePath):
        return pathlib.Path(text)
    if kind in (int, float):
        return kind(text)
    return text


def _env_expected(kind: Any) -> str:
    """What ``kind`` accepts, for an error message."""
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return "one of " + ", ".join(kind.__members__)
    names = {bool: "true or false", int: "an integer", float: "a number"}
    return names.get(kind, "text")


ENTRY_FUNCTIONS = (env_value, env_expand, env_default, env_convert, _env_scalar, _env_expected)
"""What a generated entry point embeds (in this order, after `ENV_REFERENCE`) to read its
environment references."""
ENTRY_MODULES = ("enum", "os", "pathlib", "re")
"""The modules those functions use, imported whole by the entry."""
