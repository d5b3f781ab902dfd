"""Compiled templates are cached under the user's cache directory, privately, and the cache
only ever saves time: corrupted, unwritable or shared caches give the same artifact."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

SPEC = str(ROOT / "configs" / "quickstart.yaml")


def compile_with(cache: Path, *extra: str) -> str:
    """The artifact ``nemorun compile`` prints, in a fresh process using ``cache``."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "nemorun.cli", "compile", SPEC, *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout


def cached_files(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*.cache")]


@pytest.mark.parametrize("target", ["local", "slurm", "docker"])
def test_a_second_process_reads_the_cache_and_prints_the_same(tmp_path: Path, target: str) -> None:
    cache = tmp_path / "cache"
    first = compile_with(cache, "--target", target)
    [directory] = (cache / "nemorun").iterdir()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = cached_files(cache)
    assert files, "nothing was cached"
    assert all(stat.S_IMODE(f.stat().st_mode) & 0o077 == 0 for f in files)
    before = {f: f.stat().st_mtime_ns for f in files}
    assert compile_with(cache, "--target", target) == first
    assert {f: f.stat().st_mtime_ns for f in cached_files(cache)} == before  # read, not redone


def test_a_corrupted_cache_is_compiled_over(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = compile_with(cache)
    for number, file in enumerate(cached_files(cache)):
        file.write_bytes([b"", b"garbage", file.read_bytes()[:20]][number % 3])
    assert compile_with(cache) == first


def test_an_unwritable_or_shared_cache_is_passed_over(tmp_path: Path) -> None:
    expected = compile_with(tmp_path / "fresh")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    assert compile_with(not_a_dir) == expected
    shared = tmp_path / "shared"
    compile_with(shared)
    [directory] = (shared / "nemorun").iterdir()
    for file in cached_files(shared):
        file.unlink()
    directory.chmod(0o777)  # others could plant code here: not used
    assert compile_with(shared) == expected
    assert not cached_files(shared)
    directory.chmod(0o500)  # ours, private, but read-only
    try:
        assert compile_with(shared) == expected
    finally:
        directory.chmod(0o700)
