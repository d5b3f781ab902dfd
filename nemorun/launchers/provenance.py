"""Where a run came from: the code's git state, the interpreter, package versions, host, user.

Package versions: nemorun's and fiddle's, and under ``task_packages`` the distribution that owns
each task's ``_target_`` module (`importlib.metadata.packages_distributions`, over `sys.path`
and the spec's ``pythonpath``) with the installed version of each of its requirements. Code
that no distribution owns (a directory on ``pythonpath``) is recorded by its git state instead.

The repository is the one holding the spec file (the task's code usually sits beside it). Its
state is the commit, the branch, and a patch of every uncommitted change to tracked files
(``git diff HEAD --binary``, staged and not, so ``git apply`` restores the tree), plus the list
of untracked files (their content is not copied). Outside a repository, or without git, the
record says ``"not a git repo"``. Three short ``git`` calls; nothing here reads the
environment beyond host and user names, so no ``${oc.env:…}`` value can leak into a record.
"""

from __future__ import annotations

import csv
import getpass
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

NOT_A_REPO = "not a git repo"
REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def collect(
    spec_file: Path, task_modules: Sequence[str], pythonpath: Sequence[Path] = ()
) -> tuple[dict[str, Any], bytes | None]:
    """The provenance of a run of ``spec_file`` (``provenance.json``), and the git patch.
    ``task_modules`` are the modules of the tasks' ``_target_``s, importable from ``pythonpath``."""
    git, patch = git_state(spec_file.resolve().parent)
    packages = {name: package_version(name) for name in ("nemorun", "fiddle")}
    data = {
        "git": git,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": packages,
        "task_packages": task_packages(task_modules, pythonpath),
        "host": socket.gethostname(),
        "user": _user(),
        "platform": sys.platform,
    }
    return data, patch


def git_state(directory: Path) -> tuple[dict[str, Any] | str, bytes | None]:
    """The repository holding ``directory``: commit, branch, dirty, untracked; and the patch."""
    top = _git(directory, "rev-parse", "--show-toplevel")
    if top is None:
        return NOT_A_REPO, None
    root = Path(top.decode().strip())
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    patch = _git(root, "diff", "HEAD", "--binary") if head else None
    status = _git(root, "status", "--porcelain", "-z", "--untracked-files=normal") or b""
    untracked = [e[3:].decode(errors="replace") for e in status.split(b"\0") if e[:3] == b"?? "]
    state: dict[str, Any] = {
        "repository": str(root),
        "commit": head.decode().strip() if head else None,
        "branch": branch.decode().strip() if branch and head else None,
        "dirty": bool(patch),
        "patch": "git.patch" if patch else None,
        "untracked": untracked,
    }
    return state, patch or None


def _git(directory: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def package_version(name: str) -> str | None:
    """The installed version of ``name`` (distribution metadata, else ``module.__version__``)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
    except ValueError:
        return None
    module = sys.modules.get(name)
    version = getattr(module, "__version__", None)
    return str(version) if version is not None else None


def task_packages(modules: Sequence[str], pythonpath: Sequence[Path] = ()) -> dict[str, Any]:
    """Per distribution owning one of ``modules``: its version, the modules, its requirements.

    ``{"PyYAML": {"version": "6.0.2", "modules": ["yaml"], "requires": {...}}}``; a requirement
    maps to its installed version, or None when it is not installed. Requirements of extras
    are left out (which extras were installed is not recorded by Python).
    """
    search = [*map(str, pythonpath), *sys.path]
    wanted = {module.split(".")[0] for module in modules}
    owners: dict[str, list[str]] = {}
    for dist in metadata.distributions(path=search):
        # The name is read (a parse of the whole METADATA) only for the few owners.
        for top in sorted(wanted & top_level_names(dist)):
            owners.setdefault(top, []).append(dist.metadata["Name"])
    out: dict[str, Any] = {}
    for module in sorted(set(modules)):
        for name in owners.get(module.split(".")[0], []):
            if name not in out:
                out[name] = {
                    "version": _version_in(name, search),
                    "modules": [],
                    "requires": _requirements(name, search),
                }
            out[name]["modules"].append(module)
    return dict(sorted(out.items()))


def top_level_names(dist: metadata.Distribution) -> set[str]:
    """The importable top-level names a distribution provides (as packages_distributions):
    its ``top_level.txt``, else the first part of each path its ``RECORD`` lists (read as
    text: making a path object of each of its thousands of files took a run half a second),
    else of each of `Distribution.files` (the older formats)."""
    text = dist.read_text("top_level.txt")
    if text:
        return set(text.split())
    record = dist.read_text("RECORD")
    if record is not None:
        paths = [row[0] for row in csv.reader(record.splitlines()) if row]
    else:
        paths = [str(file) for file in dist.files or ()]
    names = set()
    for path in paths:
        parts = [part for part in path.split("/") if part not in ("", ".")]
        first = parts[0] if parts else ""
        if len(parts) > 1 and not first.endswith((".dist-info", ".egg-info", "__pycache__")):
            names.add(first)
        elif len(parts) == 1 and first.endswith(".py") and first != ".py":
            names.add(first[: -len(".py")])
    return names


def _version_in(name: str, search: list[str]) -> str | None:
    for dist in metadata.distributions(name=name, path=search):
        return str(dist.version)
    return None


def _requirements(name: str, search: list[str]) -> dict[str, str | None]:
    requires: dict[str, str | None] = {}
    for dist in metadata.distributions(name=name, path=search):
        for line in dist.requires or ():
            match = REQUIREMENT_NAME.match(line)
            if match and _applies(line):
                requires[match.group(0)] = _version_in(match.group(0), search)
        break
    return dict(sorted(requires.items()))


def _applies(requirement: str) -> bool:
    """Whether a requirement holds for this interpreter (never for an extra's)."""
    marker = requirement.partition(";")[2].strip()
    if not marker:
        return True
    if "extra" in marker:
        return False
    try:  # `packaging` comes with hydra-core; without it, the requirement is kept
        from packaging.markers import Marker

        return bool(Marker(marker).evaluate())
    except Exception:
        return True


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
