"""One reading of environment text: what ``validate`` accepts is exactly what the job receives.

Each row of `TABLE` is (the argument's type, a text, the value or the error). It is checked on
every side that reads ``${oc.env:…}``: validation of ``${oc.env:NR_X,TEXT}`` (the default must
fit), the Fiddle graph (``fdl.Config(env_value, …)``), and the generated entry point run as the
job runs it (no nemorun importable), with ``NR_X`` unset (the default), set to the text, and
set but empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import fiddle as fdl
import pytest

from nemorun.api import load
from nemorun.compiler.entry import entry_point
from nemorun.compiler.graph import env_config
from nemorun.errors import SpecErrors
from nemorun.schemas.convert import EnvRef


class Err(str):
    """An expected error: the message the reading gives (after ``where: ``)."""


TASK = """\
import enum
import json
import pathlib
from typing import Any, Literal, Optional


class Color(enum.Enum):
    RED = "r"
    GREEN = "g"


def task(out: str, x: {annotation}) -> None:
    pathlib.Path(out).write_text(json.dumps([type(x).__name__, repr(x)]))
"""

TABLE: list[tuple[str, str, Any]] = [
    ("int | None", "", None),
    ("int | None", "none", None),
    ("int | None", "NULL", None),
    ("Optional[int]", "7", 7),
    ("int | None", "x", Err("expected an integer, got 'x'")),
    ("int", "", Err("expected an integer, got ''")),
    ("int", "-3", -3),
    ("int", "1_000", 1000),
    ("int", "1.5", Err("expected an integer, got '1.5'")),
    ("float", "1e-3", 0.001),
    ("float", "2", 2.0),
    ("float", "abc", Err("expected a number, got 'abc'")),
    ("bool", "yes", True),
    ("bool", "Off", False),
    ("bool", "1", True),
    ("bool", "maybe", Err("expected true or false, got 'maybe'")),
    ("bool", "", Err("expected true or false, got ''")),
    ("bool | None", "", None),
    ("str", "", ""),
    ("str", "null", "null"),
    ("str", "007", "007"),
    ("str | None", "null", None),
    ("pathlib.Path", "/a b", Path("/a b")),
    ("pathlib.Path | None", "", None),
    ("Color", "GREEN", "Color.GREEN"),
    ("Color", "g", Err("expected one of RED, GREEN, got 'g'")),
    ("Color | None", "none", None),
    ("Literal[1, 2, 3]", "2", 2),
    ("Literal[1, 2, 3]", "4", Err("expected one of 1, 2, 3, got '4'")),
    ("Literal['a', 'b'] | None", "", None),
    ("Literal['a', 'b']", "", Err("expected one of 'a', 'b', got ''")),
    ("Literal['auto'] | int", "auto", "auto"),
    ("Literal['auto'] | int", "8", 8),
    ("Literal['auto'] | int", "x", Err("expected one of 'auto' or an integer, got 'x'")),
    ("int | str", "12", 12),
    ("int | str", "x12", "x12"),
    ("float | Color", "RED", "Color.RED"),
    ("float | Color", "x", Err("expected a number or one of RED, GREEN, got 'x'")),
    ("Any", "5", "5"),
]


def _picture(value: Any) -> list[str]:
    """[type name, repr], as the task reports it; an enum member is given as ``Color.NAME``."""
    if isinstance(value, str) and value.startswith("Color."):
        return ["Color", f"<{value}: {'r' if value.endswith('RED') else 'g'!r}>"]
    return [type(value).__name__, repr(value)]


def _spec(tmp_path: Path, annotation: str, reference: str) -> Path:
    # a module per type: nemorun's own process imports each task module once
    module = "envtask_" + hashlib.sha1(annotation.encode()).hexdigest()[:10]
    (tmp_path / f"{module}.py").write_text(TASK.format(annotation=annotation), encoding="utf-8")
    spec = tmp_path / "exp.yaml"
    spec.write_text(
        textwrap.dedent(
            f"""\
            nemorun: 1
            pythonpath: [{json.dumps(str(tmp_path))}]
            task:
              _target_: {module}:task
              out: {json.dumps(str(tmp_path / "out.json"))}
              x: "{reference}"
            """
        ),
        encoding="utf-8",
    )
    return spec


def _run_entry(tmp_path: Path, spec: Path, env: dict[str, str]) -> list[str] | str:
    """Run the spec's entry as the job does, without nemorun: what ``x`` was, or stderr."""
    (tmp_path / "out.json").unlink(missing_ok=True)
    (tmp_path / "entry.py").write_text(entry_point(load(spec)).source, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-S", str(tmp_path / "entry.py")],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode != 0:
        assert "Traceback" in proc.stderr and "ModuleNotFoundError" not in proc.stderr
        return proc.stderr
    return list(json.loads((tmp_path / "out.json").read_text(encoding="utf-8")))


@pytest.mark.parametrize(("annotation", "text", "expected"), TABLE)
def test_validate_and_the_job_read_the_environment_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, annotation: str, text: str, expected: Any
) -> None:
    # validate: the default must fit exactly when the job would accept that text
    with_default = _spec(tmp_path, annotation, "${oc.env:NR_X," + text + "}")
    if isinstance(expected, Err):
        with pytest.raises(SpecErrors) as info:
            load(with_default)
        assert "does not fit" in str(info.value)
    else:
        assert _run_entry(tmp_path, with_default, {}) == _picture(expected)  # NR_X unset

    # the job, NR_X set to the text
    without_default = _spec(tmp_path, annotation, "${oc.env:NR_X}")
    received = _run_entry(tmp_path, without_default, {"NR_X": text})
    if isinstance(expected, Err):
        assert f"ValueError: ${{oc.env:NR_X}}: {expected}\n" in received
    else:
        assert received == _picture(expected)

    # the Fiddle graph: the same reading in nemorun's own process
    ref = load(without_default).task.call.args["x"]  # type: ignore[union-attr]
    assert isinstance(ref, EnvRef)
    monkeypatch.setenv("NR_X", text)
    if isinstance(expected, Err):
        with pytest.raises(ValueError, match="^" + "\\$\\{oc\\.env:NR_X\\}: " + expected):
            fdl.build(env_config(ref))
    else:
        value = fdl.build(env_config(ref))
        assert [type(value).__name__, repr(value)] == _picture(expected)


def test_an_empty_variable_is_its_text_not_its_default(tmp_path: Path) -> None:
    """Set but empty is set: ``int | None`` reads None, never the default."""
    spec = _spec(tmp_path, "int | None", "${oc.env:NR_X,5}")
    assert _run_entry(tmp_path, spec, {}) == ["int", "5"]
    assert _run_entry(tmp_path, spec, {"NR_X": ""}) == ["NoneType", "None"]
