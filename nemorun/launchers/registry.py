"""The launch half of a target, by name: what the commands that launch or ask about runs use.

Targets are found by `nemorun.registry` (built-ins by name, plugins through the
``nemorun.targets`` entry points); each `TargetDef` names its launch half, imported here only.
An unknown name is the user's mistake (`SpecError`, exit 2); a registered target whose launch
half does not import, or is not a `Target`, is a `TargetUnavailable` (exit 1).
"""

from __future__ import annotations

from nemorun.launchers.base import Target, TargetUnavailable
from nemorun.registry import get_target

__all__ = ["TargetUnavailable", "load_target"]


def load_target(name: str) -> Target:
    """A new instance of the launch half of target ``name``."""
    return get_target(name).launcher()
