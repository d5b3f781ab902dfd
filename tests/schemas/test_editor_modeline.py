"""``nemorun fmt --modeline`` as an editor meets it: the real yaml-language-server (pinned in
``yaml_ls.VERSION``) opens the spec from where it lies, follows the relative modeline to the
schema ``fmt`` wrote beside it, and reports a wrong-typed value (and nothing on a right one);
taplo (``@taplo/cli``) does the same for a TOML spec's ``#:schema`` directive. Skipped, with
the reason, where node or npm is missing or the package cannot be installed."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import taplo_cli
from conftest import EXAMPLES
from yaml_ls import YamlLanguageServer, ensure_installed

from nemorun.cli import main

SPEC = f"""\
name: typed
pythonpath: [{EXAMPLES}]
task:
    _target_: trainlib:train
    model: {{hidden_size: 32}}
    optim: {{lr: 0.05}}
    steps: STEPS
nemorun: 1
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[YamlLanguageServer]:
    script = ensure_installed()
    if script is None:
        pytest.skip("yaml-language-server needs node and npm (and npm install to succeed)")
    with YamlLanguageServer(script, tmp_path_factory.mktemp("ls")) as ls:
        yield ls


@pytest.mark.parametrize(("steps", "wrong"), [("60", False), ("many", True)])
def test_the_language_server_follows_the_modeline_fmt_wrote(
    server: YamlLanguageServer, tmp_path: Path, steps: str, wrong: bool
) -> None:
    spec = tmp_path / "configs" / f"train-{steps}.yaml"
    spec.parent.mkdir()
    spec.write_text(SPEC.replace("STEPS", steps))
    assert main(["fmt", "--modeline", str(spec)]) == 0
    text = spec.read_text()
    assert text.startswith(
        f"# yaml-language-server: $schema=./.nemorun/{spec.name}.schema.json\nnemorun: 1\n"
    )
    assert (spec.parent / ".nemorun" / f"{spec.name}.schema.json").is_file()
    messages = [d["message"] for d in server.diagnostics_of(server.open(spec, text))]
    if wrong:
        assert any("Incorrect type" in m and "integer" in m for m in messages), messages
    else:
        assert messages == []


TOML = f"""\
name = "typed"
  nemorun = 1
pythonpath = ["{EXAMPLES}"]

[task]
_target_ = "trainlib:train"
steps = STEPS
[task.model]
hidden_size = 32
[task.optim]
lr = 0.05
"""


@pytest.mark.parametrize(("steps", "wrong"), [("60", False), ('"many"', True)])
def test_taplo_follows_the_schema_directive_fmt_wrote(
    tmp_path: Path, steps: str, wrong: bool
) -> None:
    script = taplo_cli.ensure_installed()
    if script is None:
        pytest.skip("taplo (@taplo/cli) needs node and npm (and npm install to succeed)")
    spec = tmp_path / "configs" / "train.toml"
    spec.parent.mkdir()
    spec.write_text(TOML.replace("STEPS", steps))
    assert main(["fmt", "--modeline", str(spec)]) == 0
    assert spec.read_text().startswith("#:schema ./.nemorun/train.toml.schema.json\nnemorun = 1\n")
    lint = subprocess.run(
        ["node", script, "lint", "--no-auto-config", "--colors", "never", spec.name],
        cwd=spec.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if wrong:
        assert lint.returncode == 1
        assert 'steps = "many"' in lint.stderr and "schema validation failed" in lint.stderr
    else:
        assert lint.returncode == 0, lint.stderr
