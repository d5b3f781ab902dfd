"""Shared test helpers: spec files written into a temporary working directory, and the CLI."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from nemorun.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ZOO = Path(__file__).resolve().parent / "schemas"

WriteSpec = Callable[[str, str], Path]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary current directory, so messages show short relative file names."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def write_spec(workdir: Path) -> WriteSpec:
    """``write_spec("exp.yaml", text)``: dedents ``text``, replaces ``{examples}`` and ``{zoo}``
    by the example-code and test-type directories, writes it under the working directory."""

    def write(name: str, text: str) -> Path:
        body = textwrap.dedent(text).lstrip("\n")
        body = body.replace("{examples}", str(EXAMPLES)).replace("{zoo}", str(ZOO))
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        return path

    return write


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        """The ``error: …`` lines of stderr, without the prefix."""
        return [
            line[len("error: ") :] for line in self.err.splitlines() if line.startswith("error: ")
        ]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """``cli("validate", "exp.yaml", "a=1")`` runs ``nemorun.cli.main`` in-process."""

    def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def load_errors() -> Callable[..., list[str]]:
    """``load_errors(path, *overrides)``: the formatted errors `nemorun.load` raises (it must)."""
    from nemorun.api import load
    from nemorun.errors import SpecErrors

    def run(path: Path, *overrides: str) -> list[str]:
        with pytest.raises(SpecErrors) as info:
            load(path, overrides)
        return [e.format() for e in info.value.errors]

    return run


def slurm_answers() -> bool:
    """True when a Slurm cluster answers here (``sbatch`` on PATH and ``sinfo`` succeeds)."""
    import shutil
    import subprocess

    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    try:
        return subprocess.run(["sinfo"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_slurm = pytest.mark.skipif(
    not slurm_answers(),
    reason="no Slurm cluster answers (sbatch/sinfo missing or sinfo fails); "
    "start one with: tests/infra/slurm.sh start",
)
