"""``packager: git``: `nemorun.launchers.packaging` on real git repositories (tmp dirs).

A committed file, staged and unstaged modifications, a deletion, a binary file, a mode change
and untracked files all reappear after `unpack`, byte-exact; ignored files and ``.git`` do
not; not a git repository (or one without a commit) is a clear error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nemorun.errors import SpecError
from nemorun.launchers.packaging import PackageInfo, PackagingError, package, relocate, unpack

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV, "HOME": str(repo.parent)},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def tree_files(root: Path) -> dict[str, tuple[bytes, bool]]:
    """Every file under ``root`` except ``.git``: its bytes and whether it is executable."""
    out = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] == ".git" or path.is_dir():
            continue
        out[str(relative)] = (path.read_bytes(), os.access(path, os.X_OK))
    return out


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit: text, binary, executable and nested files."""
    repo = tmp_path / "repo"
    (repo / "pkg").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print('committed')\n", encoding="utf-8")
    (repo / "pkg" / "model.py").write_text("SIZE = 1\n", encoding="utf-8")
    (repo / "weights.bin").write_bytes(bytes(range(256)) * 4)
    (repo / "gone.txt").write_text("deleted later\n", encoding="utf-8")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n", encoding="utf-8")
    (repo / ".gitignore").write_text("*.log\n", encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    return repo


def test_a_clean_repository_ships_its_commit_only(repo: Path, tmp_path: Path) -> None:
    info = package(repo, tmp_path / "pkg")

    assert info.commit == git(repo, "rev-parse", "HEAD").strip()
    assert (info.dirty, info.patch_path, info.untracked, info.untracked_path) == (
        False,
        None,
        [],
        None,
    )
    tree = unpack(info, tmp_path / "tree")
    assert tree_files(tree) == tree_files(repo)


def test_committed_and_uncommitted_changes_reappear_byte_exact(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("print('modified, not staged')\n", encoding="utf-8")
    (repo / "pkg" / "model.py").write_text("SIZE = 2  # staged\n", encoding="utf-8")
    (repo / "pkg" / "new.py").write_text("NEW = True  # staged new file\n", encoding="utf-8")
    git(repo, "add", "pkg")
    (repo / "weights.bin").write_bytes(bytes(reversed(range(256))) * 3 + b"\x00\xff")
    (repo / "gone.txt").unlink()
    (repo / "run.sh").chmod(0o755)
    (repo / "notes.md").write_text("untracked: shipped too\n", encoding="utf-8")
    (repo / "pkg" / "data dir").mkdir()
    (repo / "pkg" / "data dir" / "é x.txt").write_bytes(b"untracked \xe2\x82\xac\n")
    (repo / "debug.log").write_text("ignored: not shipped\n", encoding="utf-8")

    info = package(repo, tmp_path / "pkg")
    tree = unpack(tmp_path / "pkg", tmp_path / "tree")  # from the directory alone

    assert info.dirty and info.patch_path is not None
    assert info.untracked == ["notes.md", "pkg/data dir/é x.txt"]
    expected = tree_files(repo)
    del expected["debug.log"]
    assert tree_files(tree) == expected
    assert (tree / "train.py").read_text() == "print('modified, not staged')\n"
    assert not (tree / "gone.txt").exists() and not (tree / ".git").exists()
    assert os.access(tree / "run.sh", os.X_OK)
    # the record re-reads the same package
    assert PackageInfo.load(tmp_path / "pkg") == info


def test_a_subdirectory_packages_its_whole_repository(repo: Path, tmp_path: Path) -> None:
    info = package(repo / "pkg", tmp_path / "pkg")
    tree = unpack(info, tmp_path / "tree")

    assert info.repo == repo.resolve() and info.subdir == "pkg"
    assert relocate(repo / "pkg", info, tree) == tree / "pkg"
    assert relocate("/usr/lib", info, tree) == Path("/usr/lib")
    assert (tree / "train.py").exists()


def test_unpacking_inside_another_repository_applies_the_patch_to_the_tree(
    repo: Path, tmp_path: Path
) -> None:
    (repo / "train.py").write_text("print('changed')\n", encoding="utf-8")
    info = package(repo, tmp_path / "pkg")
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q")

    tree = unpack(info, outer / "runs" / "tree")

    assert (tree / "train.py").read_text() == "print('changed')\n"


def test_not_a_git_repository_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    # whatever holds the temporary directory, git must not look above it
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    with pytest.raises(PackagingError) as info:
        package(plain, tmp_path / "pkg")
    assert isinstance(info.value, SpecError)
    text = info.value.format()
    assert text.startswith(f"packager: {plain} is not in a git repository")
    assert "use packager: none to run in place" in text
    assert not (tmp_path / "pkg").exists()


def test_a_repository_without_a_commit_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    with pytest.raises(PackagingError, match="has no commit yet"):
        package(empty, tmp_path / "pkg")


def test_unpacking_refuses_a_directory_that_is_not_empty(repo: Path, tmp_path: Path) -> None:
    info = package(repo, tmp_path / "pkg")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "x").write_text("x")
    with pytest.raises(PackagingError, match="not empty"):
        unpack(info, tmp_path / "tree")
