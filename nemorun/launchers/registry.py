"""Launch targets by name, from the ``nemorun.targets`` entry-point group.

nemorun registers its own (``local``, ``slurm``, ``docker``, ``skypilot``) in its
``pyproject.toml``; a plugin package adds a target by declaring one more::

    [project.entry-points."nemorun.targets"]
    mycluster = "mypkg.launch:MyClusterTarget"   # a subclass of nemorun.launchers.base.Target

Only the commands that launch or ask about runs read the entry points, and they look in
nemorun's own metadata first (one small file) before scanning every installed distribution.
An unknown name is the user's mistake (`SpecError`, exit 2); a registered target whose module
does not import, or is not a `Target`, is a `TargetUnavailable` that names the entry point and
the import error, never a traceback.
"""

from __future__ import annotations

from importlib import metadata

from nemorun.errors import SpecError, did_you_mean
from nemorun.launchers.base import LaunchError, Target

GROUP = "nemorun.targets"


class TargetUnavailable(LaunchError):
    """The target is registered but cannot be used here (its module fails to import…)."""


def _own() -> list[metadata.EntryPoint]:
    try:
        return [ep for ep in metadata.distribution("nemorun").entry_points if ep.group == GROUP]
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return []


def _all() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=GROUP))


def target_names() -> list[str]:
    """Every registered target's name, sorted."""
    return sorted({ep.name for ep in (*_own(), *_all())})


def load_target(name: str) -> Target:
    """A new instance of the target registered as ``name``."""
    found = next((ep for ep in _own() if ep.name == name), None)
    if found is None:
        found = next((ep for ep in _all() if ep.name == name), None)
    if found is None:
        names = target_names()
        raise SpecError(
            f"unknown target '{name}'",
            expected="one of " + ", ".join(names) if names else "a registered target",
            suggestion=did_you_mean(name, names)
            or f"a plugin registers one in the '{GROUP}' entry-point group",
        )
    try:
        cls = found.load()
    except Exception as exc:
        raise TargetUnavailable(
            f"target '{name}' is registered ({found.value}) but cannot be loaded: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Target)):
        raise TargetUnavailable(
            f"target '{name}' ({found.value}) is not a nemorun.launchers.base.Target subclass"
        )
    return cls()
