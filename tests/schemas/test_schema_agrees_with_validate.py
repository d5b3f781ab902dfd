"""The editor's schema and ``nemorun validate`` give the same verdict on every spec.

Each row is a spec (Lightning-shaped code in ``editor_zoo.py``) that ``validate`` accepts or
refuses; the schema ``nemorun schema`` prints for that same spec (it prints one for a spec with
errors too, exit status 2) must accept or refuse the file as written, checked with the
``jsonschema`` library. The example configs are checked the same way.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import tomllib
from conftest import ROOT, ZOO, CliResult

from nemorun.schemas.yamlload import load_yaml


def read_yaml(path: Path) -> Any:
    """The tree as nemorun reads the file (YAML 1.2): what the schema is held to."""
    return load_yaml(path.read_text(encoding="utf-8"), path, path.name).tree


HEAD = f"""\
nemorun: 1
pythonpath: [{ZOO}]
"""

TRAINER = """\
task:
  _target_: editor_zoo:fit
  trainer:
"""

# (id, spec after HEAD, validate accepts it)
ROWS: list[tuple[str, str, bool]] = [
    ("defaults", TRAINER + "    max_epochs: 2\n", True),
    ("enum-by-name", TRAINER + "    accelerator: GPU\n", True),
    ("enum-by-value", TRAINER + "    accelerator: gpu\n", True),
    ("enum-from-env", TRAINER + "    accelerator: ${oc.env:ACCEL,GPU}\n", True),
    ("literal-from-env", TRAINER + "    precision: ${oc.env:PRECISION,16-mixed}\n", True),
    ("int-from-env", TRAINER + "    max_epochs: ${oc.env:EPOCHS,3}\n", True),
    ("number-for-str", TRAINER + "    default_root_dir: 1.5\n  tag: 7\n", True),
    ("bool-for-str", TRAINER + "    max_epochs: 1\n  tag: false\n", True),
    ("interpolation", TRAINER + "    max_epochs: 4\n  seed: ${task.trainer.max_epochs}\n", True),
    (
        "subclass-args",
        TRAINER + "    logger:\n      _target_: editor_zoo:CSVLogger\n      save_dir: /tmp/x\n",
        True,
    ),
    (
        "subclass-dotted",
        TRAINER + "    logger: {_target_: editor_zoo.TensorBoardLogger, log_dir: /tmp/tb}\n",
        True,
    ),
    ("base-class-named", TRAINER + "    logger: {_target_: editor_zoo:Logger, prefix: a}\n", True),
    ("factory", TRAINER + "    logger: {_target_: editor_zoo:make_logger, version: 3}\n", True),
    ("partial", TRAINER + "    logger: {_target_: editor_zoo:CSVLogger, _partial_: true}\n", True),
    (
        "list-of-subclasses",
        TRAINER
        + "    callbacks:\n"
        + "      - {_target_: editor_zoo:ModelCheckpoint, monitor: val, save_top_k: 2}\n"
        + "      - {_target_: editor_zoo:EarlyStopping, monitor: val, mode: max}\n",
        True,
    ),
    ("null-executor", TRAINER + "    max_epochs: 1\nexecutor:\n  # target: slurm\n", True),
    ("null-launcher", TRAINER + "    max_epochs: 1\nlauncher:\n", True),
    (
        "slurm-executor",
        TRAINER + "    max_epochs: 1\nexecutor: {target: slurm, partition: debug, time: 10}\n",
        True,
    ),
    ("any-scalar", TRAINER + "    plugins: 3\n", True),
    ("any-list", TRAINER + "    plugins: [a, {b: 1}]\n", True),
    ("any-target", TRAINER + "    plugins: {_target_: editor_zoo:CSVLogger, save_dir: x}\n", True),
    (
        "interpolated-config",
        TRAINER + "    plugins: {_target_: editor_zoo:CSVLogger, save_dir: x}\n"
        "    logger: ${task.trainer.plugins}\n",
        True,
    ),
    (
        "interpolated-list",
        TRAINER + "    plugins: [{_target_: editor_zoo:EarlyStopping, monitor: a}]\n"
        "    callbacks: ${task.trainer.plugins}\n",
        True,
    ),
    ("env-for-a-config", TRAINER + "    logger: ${oc.env:LOGGER}\n", False),
    ("callable-reference", TRAINER + "    max_epochs: 1\n  schedule: editor_zoo:warmup\n", True),
    (
        "callable-partial-factory",
        TRAINER + "    max_epochs: 1\n"
        "  make_logger: {_target_: editor_zoo:CSVLogger, _partial_: true, flush_every: 5}\n",
        True,
    ),
    (
        "callable-factory-typo",
        TRAINER + "    max_epochs: 1\n"
        "  make_logger: {_target_: editor_zoo:CSVLogger, _partial_: true, flush_evry: 5}\n",
        False,
    ),
    (
        "iterable-of-subclasses",
        TRAINER + "    max_epochs: 1\n  loggers:\n"
        "    - {_target_: editor_zoo:CSVLogger, save_dir: a}\n"
        "    - {_target_: editor_zoo:TensorBoardLogger, log_dir: b}\n",
        True,
    ),
    (
        "iterable-item-typo",
        TRAINER + "    max_epochs: 1\n  loggers: [{_target_: editor_zoo:CSVLogger, save_dri: a}]\n",
        False,
    ),
    (
        "callable-wrong-factory",
        TRAINER + "    max_epochs: 1\n"
        "  make_logger: {_target_: editor_zoo:ModelCheckpoint, _partial_: true}\n",
        False,
    ),
    ("union-int", TRAINER + "    max_epochs: 1\n  devices: 2\n", True),
    ("union-list", TRAINER + "    max_epochs: 1\n  devices: [0, 1]\n", True),
    ("union-wrong", TRAINER + "    max_epochs: 1\n  devices: {a: 1}\n", False),
    ("call-untyped", TRAINER + "    plugins: {_call_: editor_zoo:warmup}\n", True),
    (
        "call-callable",
        TRAINER + "    max_epochs: 1\n  schedule: {_call_: editor_zoo:warmup}\n",
        True,
    ),
    ("set-duplicates", TRAINER + "    max_epochs: 1\n  labels: [a, b, a]\n", True),
    ("null-description", TRAINER + "    max_epochs: 1\ndescription:\nname:\n", True),
    (
        "tasks-null-executor",
        "tasks:\n  a:\n    task: {command: echo}\n    executor:\n  b:\n    task:\n"
        "      _target_: editor_zoo:fit\n      trainer: {}\n    after: [a]\n",
        True,
    ),
    (
        "after-conditions",
        "tasks:\n  a: {task: {command: x}}\n  b: {task: {command: y}, after: {a: notok}}\n"
        "  c: {task: {command: z}, after: {a: any, b: corr}, singleton: true}\n",
        True,
    ),
    (
        "after-unknown-condition",
        "tasks:\n  a: {task: {command: x}}\n  b: {task: {command: y}, after: {a: sometimes}}\n",
        False,
    ),
    (
        "after-unknown-task",
        "tasks:\n  a: {task: {command: x}}\n  b: {task: {command: y}, after: {c: ok}}\n",
        False,
    ),
    (
        "singleton-not-a-bool",
        "tasks:\n  a: {task: {command: x}, singleton: [yes]}\n",
        False,
    ),
    ("missing-required", "task:\n  _target_: editor_zoo:fit\n", False),
    ("no-task-yet", "name: draft\n", False),
    ("task-not-a-mapping", "task: 5\nexecutor: [1]\n", False),
    ("tasks-not-a-mapping", "tasks: [1]\n", False),
    (
        "task-target-a-mapping",
        "tasks:\n  a:\n    task: {_target_: {x: 1}}\n  b: 3\nsweep: 5\n",
        False,
    ),
    ("task-and-tasks", TRAINER + "    max_epochs: 1\ntasks: {a: {task: {command: x}}}\n", False),
    (
        "any-target-typo",
        TRAINER + "    plugins: {_target_: editor_zoo:CSVLogger, save_dri: x}\n",
        False,
    ),
    ("any-target-missing", TRAINER + "    plugins: [{_target_: editor_zoo:CSVLogger}]\n", False),
    ("any-target-unknown", TRAINER + "    plugins: {_target_: editor_zoo:Nope}\n", False),
    ("any-target-unreadable", TRAINER + "    plugins: {_target_: builtins:dict}\n", False),
    ("nested-missing", TRAINER + "    logger: {_target_: editor_zoo:CSVLogger}\n", False),
    ("nested-typo", TRAINER + "    logger: {_target_: editor_zoo:CSVLogger, save_dri: x}\n", False),
    (
        "list-item-typo",
        TRAINER + "    callbacks: [{_target_: editor_zoo:EarlyStopping, monitor: a, patince: 3}]\n",
        False,
    ),
    (
        "list-item-type",
        TRAINER + "    callbacks: [{_target_: editor_zoo:ModelCheckpoint, save_top_k: many}]\n",
        False,
    ),
    ("factory-missing", TRAINER + "    logger: {_target_: editor_zoo:make_logger}\n", False),
    (
        "factory-typo",
        TRAINER + "    logger: {_target_: editor_zoo:make_logger, versoin: 1}\n",
        False,
    ),
    (
        "other-subclass-args",
        TRAINER + "    logger: {_target_: editor_zoo:TensorBoardLogger, save_dir: x}\n",
        False,
    ),
    ("not-a-subclass", TRAINER + "    logger: {_target_: editor_zoo:ModelCheckpoint}\n", False),
    ("target-typo", TRAINER + "    logger: {_target_: editor_zoo:CsvLogger, save_dir: x}\n", False),
    ("task-target-typo", "task:\n  _target_: editor_zoo:fitt\n  trainer: {}\n", False),
    ("base-typo", TRAINER + "    max_epoch: 3\n", False),
    ("enum-wrong", TRAINER + "    accelerator: tpu\n", False),
    ("literal-wrong", TRAINER + "    precision: '8'\n", False),
    ("int-wrong", TRAINER + "    max_epochs: many\n", False),
    ("top-level-typo", TRAINER + "    max_epochs: 1\nexecuter: {}\n", False),
    (
        "executor-typo",
        TRAINER + "    max_epochs: 1\nexecutor: {target: slurm, partiton: debug}\n",
        False,
    ),
]


def schema_errors(schema: dict[str, Any], tree: Any) -> list[str]:
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = jsonschema.Draft202012Validator(schema).iter_errors(tree)
    return [f"{list(e.path)}: {e.message}" for e in errors]


def verdicts(cli: Any, path: Path, tree: Any) -> tuple[bool, list[str]]:
    """(validate accepts ``path``, the errors of its own schema on ``tree``)."""
    validated: CliResult = cli("validate", str(path))
    out = path.with_suffix(".schema.json")
    printed: CliResult = cli("schema", str(path), "-o", str(out))
    assert printed.code == validated.code, printed.err  # 2 with errors, and the schema anyway
    return validated.code == 0, schema_errors(json.loads(out.read_text()), tree)


@pytest.mark.parametrize(("text", "valid"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_the_schema_and_validate_agree(text: str, valid: bool, cli: Any, workdir: Path) -> None:
    path = workdir / "spec.yaml"
    path.write_text(HEAD + textwrap.dedent(text), encoding="utf-8")
    accepted, errors = verdicts(cli, path, read_yaml(path))
    assert accepted == valid, "the row's own verdict is wrong"
    assert (errors == []) == valid, errors


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").iterdir()))
def test_the_example_configs_pass_their_own_schema(name: str, cli: Any) -> None:
    path = ROOT / "configs" / name
    text = path.read_text()
    tree = tomllib.loads(text) if path.suffix == ".toml" else read_yaml(path)
    validated: CliResult = cli("validate", str(path))
    printed: CliResult = cli("schema", str(path))
    assert (validated.code, printed.code) == (0, 0), validated.err + printed.err
    assert schema_errors(json.loads(printed.out), tree) == []


def test_a_spec_with_errors_still_gets_the_schema_of_what_resolves(cli: Any, workdir: Path) -> None:
    """One typo must not cost the editor its completion: the errors go to stderr, exit 2."""
    path = workdir / "spec.yaml"
    path.write_text(
        HEAD + TRAINER + "    max_epoch: 3\n    logger: {_target_: editor_zoo:CsvLogger}\n"
    )
    result = cli("schema", str(path))
    assert result.code == 2
    located = [line.split(": ")[:2] for line in result.error_lines]
    assert located == [
        [f"{path.name}:6:5", "task.trainer.max_epoch"],
        [f"{path.name}:7:24", "task.trainer.logger._target_"],
    ]
    schema = json.loads(result.out)
    trainer = schema["$defs"]["editor_zoo.Trainer"]["properties"]
    assert {"max_epochs", "logger", "callbacks"} <= set(trainer)
    task = schema["properties"]["task"]["properties"]
    assert task["tag"]["description"] == "A label for the run."


@pytest.mark.parametrize(
    "place",
    [
        "executor:\n  target: docker\n  container: {_target_: sideeffect:thing}\n",
        "launcher: {_target_: sideeffect:thing}\n",
        "sweep:\n  executor.container: [{_target_: sideeffect:thing}]\n",
    ],
)
def test_the_schema_never_imports_a_target_in_nemorun_options(
    cli: Any, workdir: Path, place: str
) -> None:
    """As validate, which refuses such a ``_target_`` unread: importing runs the module."""
    module = f"sideeffect_{workdir.name}"  # a module imported once stays in sys.modules
    (workdir / f"{module}.py").write_text(f"open({str(workdir / 'imported')!r}, 'w')\nthing = 1\n")
    path = workdir / "spec.yaml"
    place = place.replace("sideeffect", module)
    path.write_text(f"nemorun: 1\npythonpath: [.]\ntask: {{command: 'true'}}\n{place}")
    assert cli("schema", str(path)).code == 2
    assert not (workdir / "imported").exists()


LIGHTNING = """\
task:
  _target_: lightning.pytorch:Trainer
  max_epochs: 3
  devices: {devices}
  accelerator: cpu
  precision: 16-mixed
  max_time: "00:01:00:00"
  logger: {{_target_: lightning.pytorch.loggers.CSVLogger, save_dir: /tmp/x}}
  callbacks:
    - {{_target_: lightning.pytorch.callbacks.ModelCheckpoint, monitor: val, save_top_k: 2}}
    - {{_target_: lightning.pytorch.callbacks.EarlyStopping, monitor: val, {patience}: 3}}
"""

REAL_ROWS = [
    ("lightning", LIGHTNING.format(devices=2, patience="patience"), True),
    ("lightning-device-list", LIGHTNING.format(devices="[0]", patience="patience"), True),
    ("lightning-callback-typo", LIGHTNING.format(devices=2, patience="patince"), False),
    (
        "sklearn",
        "task:\n  _target_: sklearn.linear_model:LogisticRegression\n  C: 0.5\n  penalty: l2\n",
        True,
    ),
    (
        "sklearn-typo",
        "task:\n  _target_: sklearn.linear_model:LogisticRegression\n  c: 0.5\n",
        False,
    ),
]


@pytest.mark.parametrize(
    ("text", "valid"), [r[1:] for r in REAL_ROWS], ids=[r[0] for r in REAL_ROWS]
)
def test_the_schema_and_validate_agree_on_real_libraries(
    text: str, valid: bool, cli: Any, workdir: Path
) -> None:
    pytest.importorskip("lightning" if "lightning" in text else "sklearn")
    path = workdir / "spec.yaml"
    path.write_text("nemorun: 1\n" + text, encoding="utf-8")
    accepted, errors = verdicts(cli, path, read_yaml(path))
    assert accepted == valid, "the row's own verdict is wrong"
    assert (errors == []) == valid, errors


def construct_rows() -> list[tuple[str, str, bool]]:
    """(task, line, valid) of every row of the typing-construct tables."""
    from test_typing_constructs import ACCEPTED, REFUSED, TORCH_ACCEPTED, TORCH_REFUSED

    zoo, torch = "constructs_zoo:probe", "constructs_torch:probe"
    return [
        *((zoo, r[0], True) for r in ACCEPTED),
        *((zoo, r[0], False) for r in REFUSED),
        *((torch, r[0], True) for r in TORCH_ACCEPTED),
        *((torch, r[0], False) for r in TORCH_REFUSED),
    ]


SCHEMA_CANNOT_TELL = {
    "interval: 1:30:00",  # YAML 1.1 (this test's reader) reads 5400; an editor reads the text
    "bucket: {items: [1, x]}",  # T of Bucket[int] is bound while validating
    "batch: ${oc.env:BATCH,0}",  # the default of an environment reference
    "dtype: float17",  # torch's names, unknown until torch is imported
    "device: gpu:0",
}


@pytest.mark.parametrize(("task", "line", "valid"), construct_rows(), ids=lambda x: str(x))
def test_the_schema_and_validate_agree_on_typing_constructs(
    task: str, line: str, valid: bool, cli: Any, workdir: Path
) -> None:
    from test_typing_constructs import spec_text

    if "torch" in task:
        pytest.importorskip("torch")
    path = workdir / "exp.yaml"
    path.write_text(spec_text(task, line, workdir / "out.json"), encoding="utf-8")
    accepted, errors = verdicts(cli, path, read_yaml(path))
    assert accepted == valid, "the row's own verdict is wrong"
    if line not in SCHEMA_CANNOT_TELL:
        assert (errors == []) == valid, errors
