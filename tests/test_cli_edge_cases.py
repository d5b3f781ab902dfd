"""Edge cases of the command line: the last override of a key wins, and inputs that used to
slip through (or crash) are located errors with exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest

import nemorun
from nemorun.cli import main
from nemorun.schemas.spec import Spec

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = str(ROOT / "configs/quickstart.yaml")
PRETRAIN = str(ROOT / "configs/pretrain.yaml")


def values(spec: Spec, key: str) -> list[object]:
    return [spec.at_point(p).task.call.args[key] for p in spec.points()]


def test_the_last_override_of_a_key_wins_sweep_or_not() -> None:
    assert nemorun.load(QUICKSTART, ["steps=1,2", "steps=3,4"]).num_points() == 2
    spec = nemorun.load(QUICKSTART, ["steps=1,2", "steps=3,4"])
    assert values(spec, "steps") == [3, 4]
    spec = nemorun.load(QUICKSTART, ["steps=1,2", "steps=3"])
    assert not spec.is_sweep() and spec.task.call.args["steps"] == 3


def test_an_override_of_a_swept_key_replaces_the_specs_sweep() -> None:
    assert nemorun.load(PRETRAIN).num_points() == 3
    spec = nemorun.load(PRETRAIN, ["optim.lr=0.1"])
    assert not spec.is_sweep()
    assert spec.task.call.args["optim"].args["lr"] == 0.1
    assert nemorun.load(PRETRAIN, ["optim.lr=0.1,0.2"]).num_points() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", QUICKSTART, "nemorun=2"], "'nemorun' cannot be overridden"),
        (["validate", QUICKSTART, "extends=[a.yaml]"], "'extends' cannot be overridden"),
        (["validate", QUICKSTART, "steps=range(0,200000)"], "more than 100,000"),
        (["validate", QUICKSTART, "name='a\nb'"], "cannot hold control characters"),
        (["export", QUICKSTART, "-o", "/proc/nemorun/x.yaml"], "cannot write /proc/nemorun"),
        (["compile", QUICKSTART, "--templates", "/nonexistent"], "no such template directory"),
    ],
)
def test_bad_input_is_a_clear_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and "internal error" not in err


def test_compile_o_onto_an_existing_file_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "taken").write_text("x")
    assert main(["compile", QUICKSTART, "-o", str(tmp_path / "taken")]) == 2
    assert "cannot write" in capsys.readouterr().err
