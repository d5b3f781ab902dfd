"""Files written where the user says (``-o``) get the mode a plain write would give them: 0666
(0777 when executable) less the umask, pictures included. Run records stay private
(``tests/launchers/test_record_permissions.py``)."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import ROOT, CliResult

Cli = Callable[..., CliResult]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


@pytest.fixture
def umask() -> Iterator[int]:
    """027: neither the temporary file's 0600 nor a fixed 0644 would match what it gives."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_output_files_follow_the_umask(cli: Cli, workdir: Path, umask: int) -> None:
    plain, executable = 0o666 & ~umask, 0o777 & ~umask
    commands = [
        ("compile", QUICKSTART, "-o", "build"),
        ("export", QUICKSTART, "--format", "yaml", "-o", "spec.yaml"),
        ("graph", QUICKSTART, "-o", "graph.dot"),
    ]
    if shutil.which("dot"):  # tests/run.sh installs graphviz
        commands += [("graph", QUICKSTART, "-o", "graph.svg"), ("graph", QUICKSTART, "-o", "g.png")]
    for argv in commands:
        result = cli(*argv)
        assert result.code == 0, result.err
    expected = {
        "build/quickstart.sh": executable,
        "build/entry.py": plain,
        "spec.yaml": plain,
        "graph.dot": plain,
        **({"graph.svg": plain, "g.png": plain} if shutil.which("dot") else {}),
    }
    assert {name: oct(mode(workdir / name)) for name in expected} == {
        name: oct(value) for name, value in expected.items()
    }
