"""nemorun: experiment specs compiled to Fiddle graphs and cluster artifacts.

Importing the package is cheap: the API is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nemorun.api import load, resolve
    from nemorun.errors import SpecError, SpecErrors
    from nemorun.launchers.launch import launch, open_run, rerun

__all__ = [
    "SpecError",
    "SpecErrors",
    "__version__",
    "launch",
    "load",
    "open_run",
    "rerun",
    "resolve",
]


def __getattr__(name: str) -> Any:
    if name in ("load", "resolve"):
        from nemorun import api

        return getattr(api, name)
    if name in ("launch", "open_run", "rerun"):
        from nemorun.launchers import launch

        return getattr(launch, name)
    if name in ("SpecError", "SpecErrors"):
        from nemorun import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'nemorun' has no attribute {name!r}")
