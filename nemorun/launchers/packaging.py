"""Code packaging: ship the task's repository to a job that cannot see the working tree.

``packager: none`` (the default) runs the code in place: the job imports the spec's
``pythonpath`` directories where they are. ``packager: git`` takes a snapshot instead, with
`package`, into a directory of the run: ``git archive HEAD``, the uncommitted changes as a
patch, the untracked files that ``.gitignore`` does not exclude, and ``package.json`` (the
`PackageInfo`). `unpack` rebuilds the working tree from those files anywhere, byte for byte,
for every tracked and untracked non-ignored file.

Mistakes (not a git repository, a repository without a commit, git missing) raise
`PackagingError`, a `SpecError` about ``packager`` (exit code 2).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nemorun.errors import SpecError
from nemorun.files import PRIVATE_DIR

if TYPE_CHECKING:
    from nemorun.schemas.spec import Spec

ARCHIVE = "source.tar"
PATCH = "uncommitted.patch"
UNTRACKED = "untracked.tar"
INFO = "package.json"
GIT_TIMEOUT = 300


class PackagingError(SpecError):
    """The code cannot be packaged (or unpacked): a mistake about ``packager``."""


@dataclass(frozen=True)
class PackageInfo:
    """What `package` shipped, and where (the record of the run's code).

    Paths are absolute where `package` wrote them; `PackageInfo.load` re-reads them relative
    to the directory holding ``package.json``, so the directory can move.
    """

    commit: str
    """The full commit hash of HEAD."""
    archive_path: Path
    """``git archive HEAD`` (a tar)."""
    patch_path: Path | None
    """``git diff HEAD --binary``, or None when the tracked files are as committed."""
    dirty: bool
    """True when the working tree differs from HEAD: a patch or untracked files."""
    untracked: list[str] = field(default_factory=list)
    """The untracked, non-ignored files (relative to the repository's top), all shipped."""
    untracked_path: Path | None = None
    """A tar of the untracked files, or None when there are none."""
    repo: Path | None = None
    """The repository's top level on the machine that packaged it."""
    subdir: str = ""
    """The directory given to `package`, relative to the top level (``""`` for the top)."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (paths relative to the package directory where possible)."""
        out = asdict(self)
        base = self.archive_path.parent
        for key in ("archive_path", "patch_path", "untracked_path"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value.name if value.parent == base else str(value)
        out["repo"] = str(self.repo) if self.repo is not None else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: Path) -> PackageInfo:
        def path(key: str) -> Path | None:
            value = data.get(key)
            return None if value is None else base / value

        archive = path("archive_path")
        assert archive is not None
        return cls(
            commit=data["commit"],
            archive_path=archive,
            patch_path=path("patch_path"),
            dirty=bool(data["dirty"]),
            untracked=list(data.get("untracked", [])),
            untracked_path=path("untracked_path"),
            repo=Path(data["repo"]) if data.get("repo") else None,
            subdir=data.get("subdir", ""),
        )

    @classmethod
    def load(cls, directory: Path) -> PackageInfo:
        """The package `package` wrote into ``directory``."""
        try:
            data = json.loads((directory / INFO).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise PackagingError(f"no code package in {directory}: {error}") from None
        return cls.from_dict(data, directory)


def package(repo_dir: str | Path, dest_dir: str | Path) -> PackageInfo:
    """Snapshot the git repository holding ``repo_dir`` into ``dest_dir`` (created).

    Writes, and returns the `PackageInfo` of:

    - ``source.tar``: ``git archive HEAD`` of the repository holding the task's code (the
      whole repository, from its top level, whatever subdirectory was named);
    - ``uncommitted.patch`` (`_uncommitted`): every change of the working tree against HEAD;
      absent when there is none;
    - ``untracked.tar`` (`_untracked`): the untracked files that ``.gitignore`` does not
      exclude; absent when there is none;
    - ``package.json``: the `PackageInfo` (commit, which files exist, the list of untracked
      files), the record of what was shipped.
    """
    repo_dir = Path(repo_dir).resolve()
    dest = Path(dest_dir)
    top = _toplevel(repo_dir)
    head = _head(top)
    dest.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    archive = dest / ARCHIVE
    _git(top, "archive", "--format=tar", f"--output={archive}", head)
    patch = _uncommitted(top, dest)
    untracked, untracked_tar = _untracked(top, dest)
    info = PackageInfo(
        commit=head,
        archive_path=archive,
        patch_path=patch,
        dirty=bool(patch or untracked),
        untracked=untracked,
        untracked_path=untracked_tar,
        repo=top,
        subdir="" if repo_dir == top else str(repo_dir.relative_to(top)),
    )
    from nemorun.files import write_atomic

    write_atomic(dest / INFO, json.dumps(info.to_dict(), indent=2, sort_keys=True) + "\n")
    return info


def _head(top: Path) -> str:
    """The full hash of HEAD; `PackagingError` for a repository without a commit."""
    commit = _git(top, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", check=False)
    if commit.returncode != 0:
        raise PackagingError(
            f"the git repository {top} has no commit yet: packager git ships HEAD",
            ("packager",),
            suggestion="commit the code first, or use packager: none to run in place",
        )
    return commit.stdout.decode().strip()


def _uncommitted(top: Path, dest: Path) -> Path | None:
    """``uncommitted.patch``: ``git diff HEAD --binary``, every change of the working tree
    against HEAD, staged or not (new files added to the index, deletions, mode changes and
    binary files included); None when there is none."""
    # Config that would change the patch's form (external diff drivers, textconv, prefixes,
    # colour, relative) is overridden.
    diff = _git(
        top,
        "diff",
        "HEAD",
        "--binary",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--no-relative",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "--ignore-submodules=all",
    ).stdout
    if not diff:
        return None
    patch = dest / PATCH
    patch.write_bytes(diff)
    return patch


def _untracked(top: Path, dest: Path) -> tuple[list[str], Path | None]:
    """The untracked files that ``.gitignore`` does not exclude (``git ls-files --others
    --exclude-standard``), and ``untracked.tar`` holding them (None when there are none).

    They are **added**, not only listed: a new module that was never ``git add``-ed is code
    the task imports as much as a committed one. Ignored files (data, checkpoints, virtual
    environments) are never shipped.
    """
    listed = _git(top, "ls-files", "--others", "--exclude-standard", "-z").stdout
    untracked = sorted(
        name for name in listed.decode("utf-8", "surrogateescape").split("\0") if name
    )
    if not untracked:
        return untracked, None
    tar_path = dest / UNTRACKED
    with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in untracked:
            tar.add(top / name, arcname=name, recursive=False)
    return untracked, tar_path


def unpack(source: PackageInfo | str | Path, into: str | Path) -> Path:
    """Rebuild the packaged tree under ``into`` (created; must be empty); returns ``into``.

    ``source`` is a `PackageInfo` or the directory `package` wrote. The archive, then the
    patch (``git apply``, which works outside a repository; without git, ``patch -p1`` for
    text-only patches), then the untracked files: the result is the working tree as it was,
    byte for byte, for every tracked and untracked non-ignored file. Not shipped: submodules'
    contents (``git archive`` does not recurse into them; their changes are ignored too),
    ignored files, and the ``.git`` directory itself (the unpacked tree is not a repository).
    """
    info = source if isinstance(source, PackageInfo) else PackageInfo.load(Path(source))
    tree = Path(into)
    tree.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if any(tree.iterdir()):
        raise PackagingError(f"cannot unpack the code into {tree}: the directory is not empty")
    _extract(info.archive_path, tree)
    if info.patch_path is not None:
        _apply(info.patch_path, tree)
    if info.untracked_path is not None:
        _extract(info.untracked_path, tree)
    return tree


def relocate(path: str | Path, info: PackageInfo, tree: Path) -> Path:
    """Where ``path`` (a directory of the packaged repository, e.g. a ``pythonpath`` entry)
    is in the unpacked ``tree``; paths outside the repository are returned unchanged."""
    path = Path(path).resolve()
    if info.repo is None:
        return path
    try:
        relative = path.relative_to(info.repo)
    except ValueError:
        return path
    return tree / relative


def _toplevel(repo_dir: Path) -> Path:
    if shutil.which("git") is None:
        raise PackagingError(
            "packager git needs git, and there is none on PATH",
            ("packager",),
            suggestion="install git, or use packager: none to run in place",
        )
    if not repo_dir.is_dir():
        raise PackagingError(f"cannot package {repo_dir}: not a directory", ("packager",))
    proc = _git(repo_dir, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        raise PackagingError(
            f"{repo_dir} is not in a git repository: packager git ships the repository's HEAD "
            "and its uncommitted changes",
            ("packager",),
            suggestion="run 'git init' and commit the code, or use packager: none to run in place",
        )
    return Path(proc.stdout.decode().strip())


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(name, None)
    proc = subprocess.run(
        ["git", "-c", "core.quotepath=false", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=GIT_TIMEOUT,
    )
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise PackagingError(
            f"git {args[0]} failed in {cwd}: {message[-1] if message else proc.returncode}",
            ("packager",),
        )
    return proc


def _extract(archive: Path, tree: Path) -> None:
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "tar_filter"):  # 3.12, and 3.8.17+/3.11.4+ security releases
            tar.extractall(tree, filter="tar")
        else:  # pragma: no cover - older interpreters
            tar.extractall(tree)


def _apply(patch: Path, tree: Path) -> None:
    """Apply ``patch`` to the files under ``tree`` (not a repository)."""
    if shutil.which("git") is not None:
        # Outside any repository: git would otherwise find one above ``tree`` and apply the
        # patch relative to *its* top level.
        env = {
            **os.environ,
            "GIT_CEILING_DIRECTORIES": str(tree.resolve().parent),
            "LC_ALL": "C",
        }
        for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            env.pop(name, None)
        command = ["git", "apply", "--binary", "--whitespace=nowarn", str(patch.resolve())]
    elif shutil.which("patch") is not None:
        env = dict(os.environ)
        command = ["patch", "-p1", "--batch", "--silent", "-i", str(patch.resolve())]
    else:
        raise PackagingError(
            f"cannot apply {patch}: neither git nor patch is installed where the code is unpacked"
        )
    proc = subprocess.run(command, cwd=tree, env=env, capture_output=True, timeout=GIT_TIMEOUT)
    if proc.returncode != 0:
        raise PackagingError(
            f"the uncommitted changes ({patch}) do not apply to the unpacked commit in {tree}: "
            + proc.stderr.decode(errors="replace").strip()
        )


def package_for_run(spec: Spec, path: Path, run_dir: Path) -> list[Path] | None:
    """``packager: git``: snapshot the task's repository (``git archive HEAD`` plus the
    uncommitted patch and untracked files) into ``run_dir/code``, unpacked in
    ``run_dir/code/tree``, and point the job's import path at the unpacked copy, so the cluster
    runs exactly the recorded code. The repository is the one holding the first
    ``pythonpath`` entry, else the spec file's directory. None for ``packager: none``."""
    if spec.packager != "git":
        return None
    repo = spec.pythonpath[0] if spec.pythonpath else path.resolve().parent
    info = package(repo, run_dir / "code")
    unpack(info, run_dir / "code" / "tree")
    return relocate_all(spec, run_dir, run_dir / "code" / "tree")


def relocate_all(spec: Spec, run_dir: Path, tree: Path) -> list[Path]:
    """The spec's ``pythonpath`` in the copy of the code packaged in ``run_dir/code`` that is
    at ``tree`` (here, or its path on a cluster); the tree itself without a pythonpath."""
    info = PackageInfo.load(run_dir / "code")
    return [relocate(p, info, tree) for p in spec.pythonpath] or [tree]
