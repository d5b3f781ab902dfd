"""``nemorun fmt --modeline`` as an editor meets it: the real yaml-language-server (pinned in
``yaml_ls.VERSION``) opens the spec from where it lies, follows the relative modeline to the
schema ``fmt`` wrote beside it, and reports a wrong-typed value (and nothing on a right one).
Skipped, with the reason, where node or npm is missing or the package cannot be installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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
