"""`OptionChecks`: the error collector every target's ``plan`` uses for its own options.

The format of a single value is declared on its option field (`nemorun.schemas.formats`) and
checked by the validator. A target checks here what is left: rules between options (Slurm's
memory options exclude each other), its own rules for fields every target shares (docker
mounts), nemorun's reserved names. Each mistake is a located `SpecError` at the option's value,
and `done` raises them together so the user sees all of them at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nemorun.errors import KeyPath, SpecError, SpecErrors
from nemorun.schemas.source import display_name, find_origin

if TYPE_CHECKING:
    from nemorun.schemas.spec import Spec


class OptionChecks:
    """Collects located errors about ``executor.*`` options."""

    def __init__(self, spec: Spec) -> None:
        self.origins = spec.resolved.origins
        self.source = spec.resolved.source
        self.errors: list[SpecError] = []

    def error(
        self,
        key: str | KeyPath,
        message: str,
        expected: str | None = None,
        found: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        """An error about ``executor.<key>`` (a name, or a path below ``executor``)."""
        path: KeyPath = ("executor", *((key,) if isinstance(key, str) else key))
        self.error_at(path, message, expected, found, suggestion)

    def error_at(
        self,
        path: KeyPath,
        message: str,
        expected: str | None = None,
        found: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        """An error at any spec path: at the value when there is one, else at the key, else
        naming the file (an option the spec never wrote)."""
        origin = find_origin(self.origins, path)
        origin = origin.at_value() if origin is not None and len(path) > 1 else origin
        file = display_name(self.source) if origin is None else None
        self.errors.append(SpecError(message, path, origin, expected, found, suggestion, file))

    def done(self) -> None:
        """Raise every error collected, if any."""
        if self.errors:
            raise SpecErrors(self.errors)
