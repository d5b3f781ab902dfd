"""User templates render in Jinja's sandbox, and their mistakes are located errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ROOT, CliResult

Cli = Callable[..., CliResult]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
ESCAPES = [
    "{{ job.__class__.__init__.__globals__['os'].system('touch MARK') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ job.stem.format.__globals__ }}",
    "{% set x = cycler.__init__.__globals__.os.system('touch MARK') %}",
]


@pytest.mark.parametrize("body", ESCAPES)
def test_a_template_cannot_reach_python_internals(cli: Cli, workdir: Path, body: str) -> None:
    (workdir / "tpl").mkdir()
    mark = workdir / "MARK"
    (workdir / "tpl" / "local.sh.j2").write_text(
        "#!/bin/bash\n" + body.replace("MARK", str(mark)) + "\n", encoding="utf-8"
    )
    result = cli("compile", QUICKSTART, "--templates", str(workdir / "tpl"))
    assert result.code == 2, result.err
    assert "tpl/local.sh.j2" in result.err and "template error" in result.err
    assert "Traceback" not in result.err
    assert not mark.exists()


@pytest.mark.parametrize(
    ("body", "line", "text"),
    [
        ("{% if %}", 3, "Expected an expression"),
        ("{{ job.nope }}", 3, "has no attribute 'nope'"),
        ("{{ nothing_here }}", 3, "'nothing_here' is undefined"),
        ("{{ nothing | q }}", 3, "not a shell value"),
    ],
)
def test_a_template_mistake_names_its_file_and_line(
    cli: Cli, workdir: Path, body: str, line: int, text: str
) -> None:
    (workdir / "tpl").mkdir()
    (workdir / "tpl" / "local.sh.j2").write_text(
        "#!/bin/bash\n{% set nothing = None %}\n" + body + "\n", encoding="utf-8"
    )
    result = cli("compile", QUICKSTART, "--templates", str(workdir / "tpl"))
    assert result.code == 2
    assert f"tpl/local.sh.j2:{line}: template error: " in result.err
    assert text in result.err
