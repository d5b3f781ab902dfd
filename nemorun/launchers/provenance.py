"""Where a run came from: the code's git state, the interpreter, package versions, host, user.

The repository is the one holding the spec file (the task's code usually sits beside it). Its
state is the commit, the branch, and a patch of every uncommitted change to tracked files
(``git diff HEAD --binary``, staged and not, so ``git apply`` restores the tree), plus the list
of untracked files (their content is not copied). Outside a repository, or without git, the
record says ``"not a git repo"``. Three short ``git`` calls; nothing here reads the
environment beyond host and user names, so no ``${oc.env:…}`` value can leak into a record.
"""

from __future__ import annotations

import getpass
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

NOT_A_REPO = "not a git repo"


def collect(spec_file: Path, task_package: str | None) -> tuple[dict[str, Any], bytes | None]:
    """The provenance of a run of ``spec_file`` (``provenance.json``), and the git patch."""
    git, patch = git_state(spec_file.resolve().parent)
    packages = {name: package_version(name) for name in ("nemorun", "fiddle")}
    if task_package and task_package not in packages:
        version = package_version(task_package)
        if version is not None:
            packages[task_package] = version
    data = {
        "git": git,
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "packages": packages,
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


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
