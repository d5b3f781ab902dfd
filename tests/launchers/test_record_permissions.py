"""Run records are private: NEMORUN_HOME and every run directory 0700, every file nemorun
writes 0600 (0700 when executable), and no write goes through a symlink inside the records."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, CliResult, run_dirs

from nemorun.files import write_private

Cli = Callable[..., CliResult]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_a_run_record_is_private(cli: Cli, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = workdir / "fresh" / "home"
    monkeypatch.setenv("NEMORUN_HOME", str(home))
    result = cli("run", QUICKSTART, "steps=2", "optim.lr=0.1,0.2")
    assert result.code == 0, result.err
    assert mode(home) == 0o700
    assert mode(home / "nemorun-runs") == 0o700
    [run] = run_dirs(home)
    looser = []
    for path in [run, *run.rglob("*")]:
        if path.is_dir():
            if mode(path) & 0o077:
                looser.append((path, oct(mode(path))))
        elif mode(path) & 0o077 and "points" not in path.relative_to(run).parts:
            looser.append((path, oct(mode(path))))
    # What the job itself writes in its point's directory (metrics.jsonl here) follows the
    # job's umask; the private directories above it keep it private.
    assert looser == []
    assert list((run / "points").rglob("metrics.jsonl"))
    scripts = list((run / "artifacts").glob("*.sh"))
    assert scripts and all(mode(s) == 0o700 for s in scripts)


def test_the_umask_can_only_make_records_stricter(tmp_path: Path) -> None:
    old = os.umask(0o277)
    try:
        write_private(tmp_path / "r" / "a.sh", "#!/bin/sh\n", tmp_path, executable=True)
    finally:
        os.umask(old)
    assert mode(tmp_path / "r" / "a.sh") == 0o500
    assert mode(tmp_path / "r") == 0o700 & ~0o277


def test_no_write_goes_through_a_symlink_inside_the_records(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root = tmp_path / "runs"
    (root / "run").mkdir(parents=True)
    (root / "run" / "logs").symlink_to(elsewhere)
    with pytest.raises(OSError, match="symbolic link"):
        write_private(root / "run" / "logs" / "x.log", "secret", root)
    assert list(elsewhere.iterdir()) == []
