"""Real libraries' signatures (torch, Lightning, scikit-learn): the spec builds the object the
library's own constructor would, or gets a located error.

Each case is checked on the built object (the Fiddle graph built in-process, as the entry point
builds it), and one spec runs as a real job whose task prints what it received. Skipped when the
libraries are not installed (``pip install -e '.[libs]'``).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")
sklearn = pytest.importorskip("sklearn")

import fiddle as fdl  # noqa: E402

from nemorun.api import load  # noqa: E402
from nemorun.compiler.graph import task_graph  # noqa: E402
from nemorun.errors import SpecErrors  # noqa: E402

HERE = Path(__file__).resolve().parent
CALLBACKS = "lightning.pytorch.callbacks"
LOGGERS = "lightning.pytorch.loggers"
QUIET_TRAINER = (
    "{_target_: lightning.pytorch.Trainer, accelerator: cpu, devices: 1, logger: false, "
    "enable_checkpointing: false, enable_progress_bar: false, enable_model_summary: false}"
)


def spec_text(task: str) -> str:
    body = textwrap.indent(textwrap.dedent(task).strip(), "  ")
    return f"nemorun: 1\nname: libs\npythonpath: ['{HERE}']\ntask:\n{body}\n"


def write(directory: Path, task: str) -> Path:
    path = directory / "spec.yaml"
    path.write_text(spec_text(task), encoding="utf-8")
    return path


def build(directory: Path, task: str) -> Any:
    """What the job's task receives: the built graph, called (it is a partial of the task)."""
    graph = task_graph(load(write(directory, task)))
    return fdl.build(graph)()


def errors(directory: Path, task: str) -> list[str]:
    with pytest.raises(SpecErrors) as info:
        load(write(directory, task))
    return [error.format() for error in info.value.errors]


TRAINER = "{_target_: lightning.pytorch.Trainer, devices: 2}"

# (case, task body, check on what the task returned)
BUILT: list[tuple[str, str, Callable[[Any], bool]]] = [
    (
        "union int|str|list given an int stays an int (Trainer.devices)",
        f"_target_: libprobe:show\ncfg: {{_target_: {LOGGERS}.CSVLogger, save_dir: logs, "
        "version: 2}",
        lambda got: got["cfg"].version == 2 and type(got["cfg"].version) is int,
    ),
    (
        "union with str first given an int (list[int] | str | int)",
        f"_target_: libprobe:show\ntrainer: {QUIET_TRAINER[:-1]}, max_epochs: 3}}",
        lambda got: got["trainer"].max_epochs == 3,
    ),
    (
        "Callable parameter given a partial _target_ (torch.optim.SGD)",
        "_target_: libprobe:fit\noptimizer: {_target_: torch.optim.SGD, lr: 0.1, "
        "momentum: 0.9, _partial_: true}",
        lambda got: (
            type(got).__name__ == "SGD"
            and got.defaults["lr"] == 0.1
            and got.defaults["momentum"] == 0.9
        ),
    ),
    (
        "factory with a function reference inside (LambdaLR.lr_lambda)",
        "_target_: libprobe:schedule\nscheduler: {_target_: torch.optim.lr_scheduler.LambdaLR, "
        "lr_lambda: 'libprobe:warmup', _partial_: true}",
        lambda got: type(got).__name__ == "LambdaLR" and got.lr_lambdas[0](0) == 0.1,
    ),
    (
        "timedelta from a mapping (ModelCheckpoint.train_time_interval)",
        f"_target_: libprobe:show\ncb: {{_target_: {CALLBACKS}.ModelCheckpoint, "
        "train_time_interval: {hours: 1, minutes: 30}}",
        lambda got: got["cb"]._train_time_interval == timedelta(hours=1, minutes=30),
    ),
    (
        "list[Callback] and Logger given _target_ mappings (Trainer)",
        f"_target_: libprobe:show\ntrainer:\n  _target_: lightning.pytorch.Trainer\n"
        "  accelerator: cpu\n  devices: 1\n  enable_progress_bar: false\n"
        f"  callbacks: [{{_target_: {CALLBACKS}.EarlyStopping, monitor: val_loss}}]\n"
        f"  logger: {{_target_: {LOGGERS}.CSVLogger, save_dir: logs}}",
        lambda got: (
            type(got["trainer"].logger).__name__ == "CSVLogger"
            and "EarlyStopping" in [type(c).__name__ for c in got["trainer"].callbacks]
        ),
    ),
    (
        "torch.dtype and torch.device from text",
        "_target_: libprobe:tensors\ndtype: float16\ndevice: cpu",
        lambda got: got.dtype == torch.float16 and got.device.type == "cpu",
    ),
    (
        "**kwargs forwarded to a documented base (nn.LSTM)",
        "_target_: libprobe:show\nlstm: {_target_: torch.nn.LSTM, input_size: 4, hidden_size: 8}",
        lambda got: got["lstm"].hidden_size == 8 and got["lstm"].input_size == 4,
    ),
    (
        "DataLoader with a dataset and a batch size",
        "_target_: libprobe:show\nloader: {_target_: torch.utils.data.DataLoader, "
        "dataset: {_target_: libprobe:ToyData}, batch_size: 4}",
        lambda got: got["loader"].batch_size == 4 and len(got["loader"]) == 2,
    ),
    (
        "scikit-learn estimator (numpy-style docs, no hints)",
        "_target_: libprobe:show\nest: {_target_: sklearn.linear_model.LogisticRegression, "
        "C: 0.5, max_iter: 200}",
        lambda got: got["est"].C == 0.5 and got["est"].max_iter == 200,
    ),
]

# (case, task body, what the located error must say)
REFUSED: list[tuple[str, str, list[str]]] = [
    (
        "a callback given as the logger",
        f"_target_: libprobe:show\ntrainer: {{_target_: lightning.pytorch.Trainer, "
        f"logger: {{_target_: {CALLBACKS}.ModelCheckpoint}}}}",
        ["trainer.logger", "Logger"],
    ),
    (
        "a logger inside callbacks",
        f"_target_: libprobe:show\ntrainer: {QUIET_TRAINER[:-1]}, "
        f"callbacks: [{{_target_: {LOGGERS}.CSVLogger, save_dir: logs}}]}}",
        ["trainer.callbacks[0]", "Callback"],
    ),
    (
        "a typo under **kwargs forwarded to the base (nn.LSTM)",
        "_target_: libprobe:show\nlstm: {_target_: torch.nn.LSTM, input_size: 4, hiden_size: 8}",
        ["hiden_size", "hidden_size"],
    ),
    (
        "text for an int (DataLoader.batch_size)",
        "_target_: libprobe:show\nloader: {_target_: torch.utils.data.DataLoader, "
        "dataset: {_target_: libprobe:ToyData}, batch_size: lots}",
        ["loader.batch_size", "lots"],
    ),
    (
        "a misspelt class name",
        f"_target_: libprobe:show\nlogger: {{_target_: {LOGGERS}.CsvLogger, save_dir: logs}}",
        ["CsvLogger", "CSVLogger"],
    ),
    (
        "a misspelt scikit-learn argument",
        "_target_: libprobe:show\nest: {_target_: sklearn.linear_model.LogisticRegression, "
        "max_iters: 5}",
        ["max_iters", "max_iter"],
    ),
]


@pytest.mark.parametrize(("case", "task", "check"), BUILT, ids=[c[0] for c in BUILT])
def test_built_object(case: str, task: str, check: Callable[[Any], bool], workdir: Path) -> None:
    got = build(workdir, task)
    assert check(got), f"{case}: built {got!r}"


@pytest.mark.parametrize(("case", "task", "words"), REFUSED, ids=[c[0] for c in REFUSED])
def test_located_error(case: str, task: str, words: list[str], workdir: Path) -> None:
    text = "\n".join(errors(workdir, task))
    assert "spec.yaml:" in text, text
    for word in words:
        assert word in text, f"{case}: {word!r} not in\n{text}"


def test_a_union_with_str_first_keeps_the_yaml_type(workdir: Path) -> None:
    """``Trainer.devices: list[int] | str | int`` given ``2``: the constructor gets the int."""
    graph = task_graph(load(write(workdir, f"_target_: libprobe:show\ntrainer: {TRAINER}")))
    assert graph.trainer.devices == 2 and type(graph.trainer.devices) is int
    graph = task_graph(
        load(
            write(
                workdir,
                "_target_: libprobe:show\ntrainer: {_target_: "
                "lightning.pytorch.Trainer, devices: '2'}",
            )
        )
    )
    assert graph.trainer.devices == "2"


def test_the_job_receives_the_objects(cli: Callable[..., Any], workdir: Path) -> None:
    """The artifact runs in its own process and prints what the task received."""
    write(
        workdir,
        f"""
        _target_: libprobe:report
        trainer: {QUIET_TRAINER[:-1]}, max_epochs: 2}}
        callbacks:
          - {{_target_: {CALLBACKS}.ModelCheckpoint, train_time_interval: {{minutes: 5}}}}
          - {{_target_: {CALLBACKS}.EarlyStopping, monitor: val_loss}}
        logger: {{_target_: {LOGGERS}.CSVLogger, save_dir: logs, version: 7}}
        interval: "1:00:00"
        dtype: bfloat16
        lstm: {{_target_: torch.nn.LSTM, input_size: 3, hidden_size: 5}}
        """,
    )
    result = cli("run", "spec.yaml")
    assert result.code == 0, result.err
    line = next(x for x in result.out.splitlines() if "REPORT " in x)
    got = json.loads(line.split("REPORT ", 1)[1])
    assert got == {
        "trainer_max_epochs": 2,
        "trainer_logger": "NoneType",
        "callbacks": ["ModelCheckpoint", "EarlyStopping"],
        "logger_version": [7, "int"],
        "interval_seconds": 3600.0,
        "dtype": "torch.bfloat16",
        "lstm_hidden": 5,
    }
