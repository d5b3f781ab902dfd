"""The target registry: each built-in target's declaration is whole, and finding one is cheap.

The plugin side (a distribution registering a target through the ``nemorun.targets`` entry
points) is proved end to end in ``tests/test_target_plugin.py``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from nemorun.launchers.base import Target
from nemorun.registry import BUILTIN, TargetDef, get_target, stop_hint
from nemorun.schemas.formats import formats_of
from nemorun.schemas.options import ExecutorOptions

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "nemorun" / "templates"


@pytest.mark.parametrize("name", BUILTIN)
def test_a_built_in_declaration_is_whole(name: str) -> None:
    target = get_target(name)
    assert target.name == name
    assert issubclass(target.options, ExecutorOptions) and target.options is not ExecutorOptions
    assert (TEMPLATES / target.template).is_file()
    assert target.template_dir is None  # nemorun's own templates
    launcher = target.launcher()
    assert isinstance(launcher, Target) and launcher.name == name
    if target.parallel_option is not None:
        field = next(
            f for f in dataclasses.fields(target.options) if f.name == target.parallel_option
        )
        assert [fmt.minimum for fmt in formats_of(field)] == [1]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"options": dict}, "target t: options must subclass ExecutorOptions"),
        ({"parallel_option": "max_paralel"}, "target t: no option 'max_paralel'"),
    ],
)
def test_a_declaration_that_cannot_work_is_refused_when_made(
    change: dict[str, object], error: str
) -> None:
    fields: dict[str, object] = {
        "name": "t",
        "options": ExecutorOptions,
        "plan": lambda spec, job: (None, []),
        "template": "t.j2",
        "suffix": ".t",
        "launch": "mod:Class",
    }
    with pytest.raises(TypeError, match=error):
        TargetDef(**{**fields, **change})


def test_a_built_in_name_reads_no_package_metadata() -> None:
    """Built-ins are known by name: validate never scans the installed distributions."""
    code = (
        "import sys\n"
        "from nemorun.registry import get_target, target_names\n"
        "for name in ('local', 'slurm', 'docker', 'skypilot', 'ray', 'kubernetes'):\n"
        "    get_target(name).options\n"
        "print('importlib.metadata' in sys.modules)\n"
        "target_names()\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout == "False\nTrue\n"


@pytest.mark.parametrize(
    ("target", "hint"),
    [
        ("slurm", "scancel 12 13"),  # its declared stop_command
        ("local", "stop local jobs 12 13"),  # none declared
        ("uninstalled", "stop uninstalled jobs 12 13"),  # a plugin no longer installed
    ],
)
def test_the_hint_for_jobs_a_killed_launch_left_comes_from_the_target(
    target: str, hint: str
) -> None:
    assert stop_hint(target, "12 13") == hint
