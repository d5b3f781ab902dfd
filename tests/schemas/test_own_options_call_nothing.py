"""A spec never makes nemorun call what it names outside the task: nemorun's own option trees
(executor, its container, launcher, script and command tasks) refuse ``_target_``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult

Cli = Callable[..., CliResult]
PLACES = {
    "executor": "executor:\n  _target_: os:system\n  command: 'touch {mark}'\n",
    "container": (
        "executor:\n  target: docker\n  container:\n    _target_: os:system\n"
        "    command: 'touch {mark}'\n"
    ),
    "launcher": "launcher:\n  _target_: os:system\n  command: 'touch {mark}'\n",
}


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize("command", ["validate", "schema", "compile"])
def test_a_target_in_nemorun_options_is_refused_and_never_called(
    cli: Cli, workdir: Path, place: str, command: str
) -> None:
    mark = workdir / "called"
    text = "nemorun: 1\ntask: {command: 'true'}\n" + str(PLACES[place]).format(mark=mark)
    spec = workdir / "evil.yaml"
    spec.write_text(text, encoding="utf-8")
    result = cli(command, str(spec))
    assert result.code == 2
    assert "nemorun's own options take no '_target_'" in result.err
    assert "evil.yaml:" in result.err and "._target_" in result.err
    assert not mark.exists()


def test_a_command_task_with_a_target_inside_is_refused(cli: Cli, workdir: Path) -> None:
    mark = workdir / "called"
    spec = workdir / "evil.yaml"
    spec.write_text(
        "nemorun: 1\ntask:\n  command: 'true'\n  env: {_target_: os:system, command: 'touch "
        f"{mark}'}}\n",
        encoding="utf-8",
    )
    result = cli("validate", str(spec))
    assert result.code == 2 and "task.env._target_" in result.err
    assert not mark.exists()
