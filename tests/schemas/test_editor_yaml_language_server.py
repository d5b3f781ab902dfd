"""What an editor shows with ``nemorun schema``: the real yaml-language-server (npm, pinned in
``yaml_ls.VERSION``), driven over stdio, on specs that point at their schema with a modeline.

Completion inside a nested ``_target_`` mapping offers that target's own arguments, hover shows
an argument's docstring text, and the example specs get no diagnostic, while a typo does.
Skipped, with the reason, where node or npm is missing or the package cannot be installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT, ZOO
from yaml_ls import YamlLanguageServer, ensure_installed

from nemorun.cli import main

FIT = f"""\
nemorun: 1
pythonpath: [{ZOO}]
task:
  _target_: editor_zoo:fit
  trainer:
    max_epochs: 3
    logger:
      _target_: editor_zoo:CSVLogger
      save_dir: /tmp/x
      <logger>
    callbacks:
      - _target_: editor_zoo.EarlyStopping
        monitor: val_loss
        <callback>
  tag: first
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[YamlLanguageServer]:
    script = ensure_installed()
    if script is None:
        pytest.skip("yaml-language-server needs node and npm (and npm install to succeed)")
    with YamlLanguageServer(script, tmp_path_factory.mktemp("ls")) as ls:
        yield ls


def open_with_schema(ls: YamlLanguageServer, spec: Path, where: Path, status: int = 0) -> str:
    """Open ``spec`` with a modeline naming the schema ``nemorun schema`` prints for it."""
    schema = where / f"{spec.stem}.schema.json"
    assert main(["schema", str(spec), "-o", str(schema)]) == status
    modeline = f"# yaml-language-server: $schema={schema.as_uri()}\n"
    return ls.open(where / f"editing-{spec.name}", modeline + spec.read_text())


def position(text: str, marker: str) -> tuple[int, int]:
    """(line, column) of ``marker`` in the opened document (after the modeline)."""
    for number, line in enumerate(text.splitlines()):
        if marker in line:
            return number + 1, line.index(marker)
    raise AssertionError(marker)


@pytest.fixture
def fit(server: YamlLanguageServer, tmp_path: Path) -> str:
    """FIT opened, its markers left out (the lines stay where they are)."""
    spec = tmp_path / "fit.yaml"
    spec.write_text(FIT.replace("<logger>", "").replace("<callback>", ""))
    return open_with_schema(server, spec, tmp_path)


def test_completion_inside_nested_target_mappings(server: YamlLanguageServer, fit: str) -> None:
    logger = {i["label"] for i in server.completion(fit, *position(FIT, "<logger>"))}
    assert {"name", "flush_every"} <= logger  # CSVLogger's own, not yet written
    assert not {"prefix", "save_dir", "max_epochs"} & logger
    callback = {i["label"] for i in server.completion(fit, *position(FIT, "<callback>"))}
    assert {"patience", "mode"} <= callback
    assert not {"monitor", "save_top_k"} & callback


@pytest.mark.parametrize(
    ("key", "doc"),
    [
        ("save_dir", "Save directory of the CSV files."),  # Google, on __init__
        ("monitor", "Quantity to be monitored."),  # Sphinx, on __init__
        ("max_epochs", "Stop training once this number of epochs is reached."),
        ("tag", "A label for the run."),  # the task's own argument
        ("logger", "a `Logger` or `None`."),  # reStructuredText markup as Markdown
    ],
)
def test_hover_shows_the_argument_doc(
    server: YamlLanguageServer, fit: str, key: str, doc: str
) -> None:
    line, column = position(FIT, f"{key}:")
    assert doc in server.hover(fit, line, column + 1)


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("*.yaml")))
def test_no_diagnostic_on_the_example_specs(
    server: YamlLanguageServer, tmp_path: Path, name: str
) -> None:
    uri = open_with_schema(server, ROOT / "configs" / name, tmp_path)
    assert server.diagnostics_of(uri) == []


def test_a_null_executor_is_no_diagnostic_and_a_typo_is(
    server: YamlLanguageServer, tmp_path: Path
) -> None:
    """``executor:`` with every option commented out is the defaults, for nemorun and the
    editor alike (it was 'Incorrect type. Expected "object(nemorun spec: …)"')."""
    text = f"""\
nemorun: 1
pythonpath: [{ZOO}]
task:
  _target_: editor_zoo:fit
  trainer: {{logger: {{_target_: editor_zoo:CSVLogger, save_dir: x}}}}
executor:
  # target: slurm
launcher:
"""
    spec = tmp_path / "null.yaml"
    spec.write_text(text)
    assert server.diagnostics_of(open_with_schema(server, spec, tmp_path)) == []
    typo = tmp_path / "typo.yaml"  # the server keeps a schema it read: a new one, a new file
    typo.write_text(text.replace("save_dir", "save_dri"))
    uri = open_with_schema(server, typo, tmp_path, status=2)
    messages = [d["message"] for d in server.diagnostics_of(uri)]
    assert any("save_dri" in m for m in messages), messages


LIGHTNING = """\
nemorun: 1
task:
  _target_: lightning.pytorch:Trainer
  max_epochs: 3
  logger:
    _target_: lightning.pytorch.loggers.CSVLogger
    save_dir: /tmp/logs
    <logger>
  callbacks:
    - _target_: lightning.pytorch.callbacks.EarlyStopping
      monitor: val_loss
      <callback>
"""


def test_lightning_trainer_completes_its_loggers_and_callbacks(
    server: YamlLanguageServer, tmp_path: Path
) -> None:
    """The case as users meet it: Lightning's own Trainer, logger and callback classes."""
    pytest.importorskip("lightning")
    spec = tmp_path / "trainer.yaml"
    spec.write_text(LIGHTNING.replace("<logger>", "").replace("<callback>", ""))
    uri = open_with_schema(server, spec, tmp_path)
    assert server.diagnostics_of(uri) == []
    logger = {i["label"] for i in server.completion(uri, *position(LIGHTNING, "<logger>"))}
    assert {"flush_logs_every_n_steps", "name", "version"} <= logger
    callback = {i["label"] for i in server.completion(uri, *position(LIGHTNING, "<callback>"))}
    assert {"patience", "min_delta", "mode"} <= callback
    line, column = position(LIGHTNING, "max_epochs:")
    assert "Stop training once this number of epochs" in server.hover(uri, line, column + 1)


CONSTRUCTS = f"""\
nemorun: 1
pythonpath: [{ZOO}]
task:
  _target_: constructs_zoo:probe
  out: /tmp/out.json
  size: [3]
  schedule: {{name: cos, warmup: 2}}
  extras: {{steps: 2}}
  interval: "1:30:00"
  root: /tmp
  batch: 3
  tags: [a]
  numbers: [1, 2]
"""


def test_typing_constructs_get_no_false_diagnostic_and_mistakes_do(
    server: YamlLanguageServer, tmp_path: Path
) -> None:
    """A NamedTuple as a list, a TypedDict, a timedelta's text, Annotated bounds."""
    spec = tmp_path / "constructs.yaml"
    spec.write_text(CONSTRUCTS)
    assert server.diagnostics_of(open_with_schema(server, spec, tmp_path)) == []
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(CONSTRUCTS.replace("[3]", "[1, 2, 3]").replace("batch: 3", "batch: 0"))
    messages = [
        d["message"] for d in server.diagnostics_of(open_with_schema(server, wrong, tmp_path, 2))
    ]
    assert any("too many items" in m for m in messages), messages
    assert any("minimum of 1" in m for m in messages), messages
