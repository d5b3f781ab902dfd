"""The hooks this repository ships (``.pre-commit-hooks.yaml``), run by the real ``pre-commit``
on a temporary git repository: a good spec passes, a bad one fails with nemorun's located error,
and ``nemorun-fmt`` rewrites an unformatted one (failing the commit once, as formatters do).

No network: a ``language: python`` hook makes pre-commit build a virtualenv and ``pip install``
this repository and its dependencies. The test keeps every other field of each shipped hook
(entry, files, types, exclude) and runs it as ``repo: local`` with ``language: system``, on the
``nemorun`` of this interpreter's environment (this checkout first on ``PYTHONPATH``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import EXAMPLES, ROOT

pytest.importorskip("pre_commit", reason="pre-commit is in the test extra")
if shutil.which("git") is None:
    pytest.skip("pre-commit needs git", allow_module_level=True)

GOOD = f"""\
nemorun: 1
pythonpath: [{EXAMPLES}]
task:
  _target_: trainlib:train
  model: {{hidden_size: 32}}
  optim: {{lr: 0.05}}
"""


def local_config(hooks_file: Path) -> str:
    """The shipped hooks as a ``repo: local`` configuration (see the module docstring)."""
    hooks = yaml.safe_load(hooks_file.read_text())
    for hook in hooks:
        hook["language"] = "system"
    return yaml.safe_dump({"repos": [{"repo": "local", "hooks": hooks}]}, sort_keys=False)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, timeout=60)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    (repo / "configs").mkdir(parents=True)
    git(repo, "init", "-q")
    (repo / ".pre-commit-config.yaml").write_text(local_config(ROOT / ".pre-commit-hooks.yaml"))
    (repo / "configs" / "good.yaml").write_text(GOOD)
    (repo / "notes.yaml").write_text("not: [a, spec]\n")  # outside configs/: no hook reads it
    return repo


def pre_commit(repo: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    git(repo, "add", "-A")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_good_spec_passes_both_hooks(repo: Path, tmp_path: Path) -> None:
    result = pre_commit(repo, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nemorun validate" in result.stdout and "nemorun fmt" in result.stdout
    assert "Passed" in result.stdout


def test_a_bad_spec_fails_with_the_located_error(repo: Path, tmp_path: Path) -> None:
    (repo / "configs" / "bad.yaml").write_text(GOOD.replace("lr: 0.05", "lr: fast"))
    result = pre_commit(repo, tmp_path)
    assert result.returncode == 1
    assert "error: configs/bad.yaml:6:" in result.stdout, result.stdout
    assert "task.optim.lr" in result.stdout
    assert "configs/good.yaml: ok" in result.stdout


def test_fmt_rewrites_an_unformatted_spec(repo: Path, tmp_path: Path) -> None:
    messy = GOOD.replace("  _target_", "      _target_")
    messy = messy.replace("  model", "      model").replace("  optim", "      optim")
    spec = repo / "configs" / "messy.yaml"
    spec.write_text(messy)
    first = pre_commit(repo, tmp_path)
    assert first.returncode == 1
    assert "files were modified by this hook" in first.stdout
    assert "formatted configs/messy.yaml" in first.stdout
    assert spec.read_text() == GOOD
    assert pre_commit(repo, tmp_path).returncode == 0


def test_the_shipped_manifest_is_valid_for_pre_commit() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", ".pre-commit-hooks.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert [(h["id"], h["language"]) for h in hooks] == [
        ("nemorun-validate", "python"),
        ("nemorun-fmt", "python"),
    ]
