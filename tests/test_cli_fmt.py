"""``nemorun fmt``: --check prints a diff and exits 1, a rewrite is in place (atomic, mode and
symbolic links kept), a file that does not parse is a located error and stays untouched, JSON
is left as it is, and --modeline writes the line and the schema it names."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import EXAMPLES, CliResult, WriteSpec

Cli = Callable[..., CliResult]

MESSY = f"""\
name: messy   # a comment
pythonpath: ['{EXAMPLES}']
task:
    _target_: trainlib:train
    model: {{hidden_size: 8}}
    optim:
        lr: 0.05
    steps: 3
nemorun: 1
"""

TIDY = f"""\
nemorun: 1
name: messy   # a comment
pythonpath: ["{EXAMPLES}"]
task:
  _target_: trainlib:train
  model: {{hidden_size: 8}}
  optim:
    lr: 0.05
  steps: 3
"""


def test_check_prints_a_diff_and_exits_1_writing_nothing(cli: Cli, write_spec: WriteSpec) -> None:
    spec = write_spec("exp.yaml", MESSY)
    result = cli("fmt", "--check", "exp.yaml")
    assert result.code == 1
    assert result.out.startswith("--- exp.yaml (as written)\n+++ exp.yaml (formatted)\n")
    assert "\n+nemorun: 1\n" in result.out and "\n-nemorun: 1\n" in result.out
    assert "\n-    steps: 3\n" in result.out and "\n+  steps: 3\n" in result.out
    assert result.err == "1 file would be reformatted (run: nemorun fmt SPEC…)\n"
    assert spec.read_text() == MESSY


def test_fmt_rewrites_in_place_then_check_passes(cli: Cli, write_spec: WriteSpec) -> None:
    spec = write_spec("exp.yaml", MESSY)
    spec.chmod(0o640)
    link = spec.parent / "link.yaml"
    link.symlink_to(spec.name)
    result = cli("fmt", "link.yaml")
    assert (result.code, result.err) == (0, "formatted link.yaml\n")
    assert spec.read_text() == TIDY
    assert link.is_symlink() and spec.stat().st_mode & 0o777 == 0o640
    assert cli("fmt", "--check", "exp.yaml").code == 0
    assert cli("validate", "exp.yaml").code == 0
    assert sorted(p.name for p in spec.parent.iterdir()) == ["exp.yaml", "link.yaml"]


def test_a_file_that_does_not_parse_is_a_located_error_and_untouched(
    cli: Cli, write_spec: WriteSpec
) -> None:
    broken = "nemorun: 1\ntask:\n  a: [1, 2\n  b: 3\n"
    spec = write_spec("bad.yaml", broken)
    good = write_spec("good.yaml", MESSY)
    result = cli("fmt", "bad.yaml", "good.yaml")
    assert result.code == 2
    assert result.error_lines[0].startswith("bad.yaml:4:")
    assert spec.read_text() == broken
    assert good.read_text() == TIDY  # the other files are still formatted


def test_duplicate_keys_and_unknown_formats_are_errors(cli: Cli, write_spec: WriteSpec) -> None:
    write_spec("dup.yaml", "nemorun: 1\na: 1\na: 2\n")
    write_spec("x.ini", "a=1\n")
    result = cli("fmt", "dup.yaml", "x.ini")
    assert result.code == 2
    assert "error: dup.yaml:3:1: a: duplicate key" in result.err
    assert "x.ini: unknown spec format" in result.err


def test_json_is_left_as_it_is(cli: Cli, write_spec: WriteSpec) -> None:
    text = '{"nemorun": 1,   "task": {"_target_": "m:f"}}'
    spec = write_spec("exp.json", text)
    result = cli("fmt", "--check", "exp.json")
    assert (result.code, result.out) == (0, "")
    assert result.err == "exp.json: left as it is (fmt rewrites YAML and TOML specs)\n"
    assert spec.read_text() == text


def test_toml_is_formatted(cli: Cli, write_spec: WriteSpec) -> None:
    spec = write_spec("exp.toml", 'name  =  "x"\n  nemorun=1\n\n\n[task]\n  steps = 3\n')
    assert cli("fmt", "exp.toml").code == 0
    assert spec.read_text() == 'nemorun = 1\nname = "x"\n\n[task]\nsteps = 3\n'


def test_modeline_points_at_the_schema_it_writes(cli: Cli, write_spec: WriteSpec) -> None:
    spec = write_spec("configs/exp.yaml", TIDY)
    assert cli("fmt", "--check", "--modeline", "configs/exp.yaml").code == 1
    assert not (spec.parent / ".nemorun").exists()  # --check writes nothing
    result = cli("fmt", "--modeline", "configs/exp.yaml")
    assert result.code == 0, result.err
    line = "# yaml-language-server: $schema=./.nemorun/exp.yaml.schema.json\n"
    assert spec.read_text() == line + TIDY
    schema = json.loads((spec.parent / ".nemorun" / "exp.yaml.schema.json").read_text())
    assert "steps" in json.dumps(schema)
    assert "wrote configs/.nemorun/exp.yaml.schema.json" in result.err
    again = cli("fmt", "--modeline", "configs/exp.yaml")
    assert again.code == 0 and spec.read_text() == line + TIDY  # updated, not added twice


def test_cold_start_exit_codes_in_a_fresh_interpreter(write_spec: WriteSpec) -> None:
    from conftest import nemorun

    spec = write_spec("exp.yaml", MESSY)
    cwd = spec.parent
    assert nemorun("fmt", "--check", "exp.yaml", cwd=cwd).returncode == 1
    assert nemorun("fmt", "exp.yaml", cwd=cwd).returncode == 0
    assert nemorun("fmt", "--check", "exp.yaml", cwd=cwd).returncode == 0
    missing = nemorun("fmt", "nope.yaml", cwd=cwd)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write a read-only directory")
def test_an_unwritable_file_is_an_error_and_stays(cli: Cli, write_spec: WriteSpec) -> None:
    spec = write_spec("ro/exp.yaml", MESSY)
    spec.parent.chmod(0o500)
    try:
        result = cli("fmt", "ro/exp.yaml")
    finally:
        spec.parent.chmod(0o700)
    assert result.code == 2 and "cannot write" in result.err
    assert spec.read_text() == MESSY


def test_the_modeline_function_replaces_an_old_one() -> None:
    from nemorun.schemas.modeline import add_modeline

    text = "# yaml-language-server: $schema=old.json\n# keep\nnemorun: 1\n"
    new, schema = add_modeline(text, Path("cfg/a.yaml"), "yaml")
    assert new == (
        "# yaml-language-server: $schema=./.nemorun/a.yaml.schema.json\n# keep\nnemorun: 1\n"
    )
    assert schema == Path("cfg/.nemorun/a.yaml.schema.json")
    toml, _ = add_modeline("#:schema x.json\nnemorun = 1\n", Path("a.toml"), "toml")
    assert toml == "#:schema ./.nemorun/a.toml.schema.json\nnemorun = 1\n"
    assert add_modeline(new, Path("cfg/a.yaml"), "yaml")[0] == new


def test_a_failed_write_loses_nothing(
    cli: Cli, write_spec: WriteSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk cannot be made here without root's help to undo it: fsync fails instead."""
    import errno

    spec = write_spec("exp.yaml", MESSY)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = cli("fmt", "exp.yaml")
    assert result.code == 2
    assert "error: cannot write" in result.err and "No space left on device" in result.err
    assert spec.read_text() == MESSY
    assert [p.name for p in spec.parent.iterdir()] == ["exp.yaml"]


def test_a_comment_the_formatter_would_drop_leaves_the_file_as_it_is(
    cli: Cli, write_spec: WriteSpec
) -> None:
    """ruamel.yaml loses the comment after this alias: fmt refuses rather than lose it."""
    text = "nemorun: 1\nb: &n0 {x: 1}\nl:\n-\n  a: *n0  # keep me\n# c17\n- {}  # c18\n"
    spec = write_spec("alias.yaml", text)
    result = cli("fmt", "alias.yaml")
    assert result.code == 2
    assert result.error_lines == [
        "alias.yaml:5: fmt cannot keep this comment (# keep me); the file is left as it is; "
        "the formatter loses some comments (next to an alias *name, or after an empty block "
        "scalar): move it, or format this file by hand"
    ]
    assert spec.read_text() == text


def test_a_spec_without_a_schema_is_an_error_and_the_others_go_on(
    cli: Cli, write_spec: WriteSpec
) -> None:
    write_spec("orphan.yaml", "nemorun: 1\nextends: [missing.yaml]\n")
    write_spec("exp.yaml", TIDY)
    result = cli("fmt", "--modeline", "orphan.yaml", "exp.yaml")
    assert result.code == 2
    assert result.error_lines[0].startswith("orphan.yaml:3:11: extends[0]: base spec")
    assert "wrote .nemorun/exp.yaml.schema.json" in result.err
