"""The typing constructs of real libraries' signatures: what the job receives, and what is
refused (with the whole error line).

The tasks are stand-ins (`constructs_zoo`, `constructs_typing_only`, `constructs_torch`) that
write what they received, with types, to a JSON file. Each accepted value is checked in the
job: the entry point is generated, run as plain Python, and its report read back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nemorun.api import load
from nemorun.compiler.entry import entry_point
from nemorun.compiler.export import export

HERE = Path(__file__).resolve().parent


def spec_text(task: str, lines: str, out: Path) -> str:
    body = "".join(f"  {line}\n" for line in lines.strip("\n").splitlines())
    return (
        f"nemorun: 1\npythonpath: [{json.dumps(str(HERE))}]\ntask:\n  _target_: {task}\n"
        f"  out: {json.dumps(str(out))}\n{body}"
    )


def run_job(spec: Path, where: Path, isolated: bool = True) -> dict[str, Any]:
    """Run the spec's generated entry point (``python -S``: no nemorun, no fiddle, unless the
    task needs site-packages itself) and return what its task reported."""
    script = where / "entry.py"
    script.write_text(entry_point(load(spec)).source, encoding="utf-8")
    flags = ["-S"] if isolated else []
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(HERE)}
    proc = subprocess.run(
        [sys.executable, *flags, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads((where / "out.json").read_text(encoding="utf-8")))


@pytest.fixture
def received(workdir: Path) -> Callable[..., dict[str, Any]]:
    """``received("size: [3]")`` → what ``constructs_zoo.probe`` got, as its report shows it."""

    def run(lines: str, task: str = "constructs_zoo:probe", isolated: bool = True) -> Any:
        spec = workdir / "exp.yaml"
        spec.write_text(spec_text(task, lines, workdir / "out.json"), encoding="utf-8")
        return run_job(spec, workdir, isolated)

    return run


@pytest.fixture
def errors_of(workdir: Path, load_errors: Callable[..., list[str]]) -> Callable[..., list[str]]:
    def run(lines: str, task: str = "constructs_zoo:probe") -> list[str]:
        spec = workdir / "exp.yaml"
        spec.write_text(spec_text(task, lines, workdir / "out.json"), encoding="utf-8")
        return load_errors(spec)

    return run


# --- accepted: what the job receives ------------------------------------------------------------

ACCEPTED = [
    # TypedDict: a plain dict with its keys read as typed; NotRequired / total=False respected
    ("schedule: {name: cos}", "schedule", {"dict": {"name": "cos"}}),
    ("schedule: {name: cos, warmup: 3}", "schedule", {"dict": {"name": "cos", "warmup": 3}}),
    ("extras: {steps: 2, beta: 1}", "extras", {"dict": {"steps": 2, "beta": 1.0}}),
    # NamedTuple: by field name (defaults kept) or as a list
    ("size: {width: 32}", "size", {"ImageSize": "ImageSize(width=32, height=224)"}),
    ("size: [32, 48]", "size", {"ImageSize": "ImageSize(width=32, height=48)"}),
    # a generic class, its type variable bound to int
    ("bucket: {items: [1, 2]}", "bucket", {"Bucket": "Bucket([1, 2], 'bucket')"}),
    # timedelta: str(timedelta)'s text (YAML 1.1 reads 1:30:00 as 5400: the text counts) or parts
    ("interval: 1:30:00", "interval", {"timedelta": "datetime.timedelta(seconds=5400)"}),
    (
        "interval: '0:00:01.5'",
        "interval",
        {"timedelta": "datetime.timedelta(seconds=1, microseconds=500000)"},
    ),
    (
        "interval: 1 day, 2:00:00",
        "interval",
        {"timedelta": "datetime.timedelta(days=1, seconds=7200)"},
    ),
    (
        "interval: {hours: 1, minutes: 30}",
        "interval",
        {"timedelta": "datetime.timedelta(seconds=5400)"},
    ),
    # os.PathLike: a Path; `str | os.PathLike[str]`: the text (a str is what the job asked for)
    ("root: data/x", "root", {"PosixPath": "PosixPath('data/x')"}),
    ("cache: /c", "cache", "/c"),
    # abstract collections given a list: the job gets the list
    ("numbers: [1, 2]", "numbers", {"list": [1, 2]}),
    ("names: [a, b]", "names", {"list": ["a", "b"]}),
    (
        "loggers: [{_target_: constructs_zoo:CsvLogger, folder: x}]",
        "loggers",
        {"list": [{"CsvLogger": "CsvLogger({'folder': 'x', 'flush_every': 10})"}]},
    ),
    # Annotated bounds that hold
    ("batch: 1", "batch", 1),
    ("dropout: 1", "dropout", 1.0),
    ("tags: [a, b]", "tags", {"list": ["a", "b"]}),
    # **kwargs forwarded to the base (it fills `mode`), or declared by a typed overload
    (
        "model: {_target_: constructs_zoo:Lstm, hidden_size: 3}",
        "model",
        {"Lstm": "Lstm({'mode': 'lstm', 'hidden_size': 3, 'layers': 1})"},
    ),
    (
        "model: {_target_: constructs_zoo:Gru, hidden_size: 3, gated: false}",
        "model",
        {"Gru": "Gru({'gated': False, 'mode': 'gru', 'hidden_size': 3, 'layers': 1})"},
    ),
    # a body nobody can follow stays unchecked, as before: the task sees what was written
    (
        "model: {_target_: constructs_zoo:Opaque, Hidden_Size: 3}",
        "model",
        {"Opaque": "Opaque({'mode': 'opaque', 'hidden_size': 3, 'layers': 1})"},
    ),
]


@pytest.mark.parametrize(("line", "name", "expected"), ACCEPTED, ids=[r[0] for r in ACCEPTED])
def test_the_job_receives_the_constructed_value(
    received: Callable[..., dict[str, Any]], line: str, name: str, expected: Any
) -> None:
    assert received(line)[name] == expected


# --- refused: the whole error line --------------------------------------------------------------

REFUSED = [
    (
        "schedule: {name: cos, warmups: 3}",
        "6:25: task.schedule.warmups: unknown key of Schedule; did you mean 'warmup'?",
    ),
    (
        "schedule: {warmup: 3}",
        "6:3: task.schedule: missing required key 'name' of Schedule; add 'name: text'",
    ),
    (
        "extras: {beta: 2}",
        "6:3: task.extras: missing required key 'steps' of Extras; add 'steps: 1'",
    ),
    (
        "schedule: [cos]",
        "6:13: task.schedule: wrong type: expected a mapping of Schedule keys, found a list",
    ),
    (
        "size: [1, 2, 3]",
        "6:9: task.size: too many items: expected at most 2 (width, height), found a list of 3",
    ),
    (
        "size: []",
        "6:9: task.size: missing 'width' of ImageSize: "
        "expected a list of 2 (width, height), found a list of 0",
    ),
    (
        "size: {widht: 3}",
        "6:10: task.size.widht: unknown argument of ImageSize; did you mean 'width'?",
    ),
    (
        "size: [x]",
        "6:10: task.size[0]: wrong type: expected an integer, found 'x' (a string)",
    ),
    (
        "bucket: {items: [1, x]}",
        "6:23: task.bucket.items[1]: wrong type: expected an integer, found 'x' (a string)",
    ),
    (
        "interval: 1:70:00",
        "6:13: task.interval: wrong type: expected a duration: 'H:MM:SS', 'D days, H:MM:SS' "
        "or a mapping such as {hours: 1, minutes: 30}, found '1:70:00' (a string)",
    ),
    (
        "interval: {hour: 1}",
        "6:14: task.interval.hour: unknown argument of timedelta; did you mean 'hours'?",
    ),
    ("root: 3", "6:9: task.root: wrong type: expected a path, found 3 (an integer)"),
    (
        "numbers: 3",
        "6:12: task.numbers: wrong type: expected a list of integers, found 3 (an integer)",
    ),
    (
        "numbers: [1, a]",
        "6:16: task.numbers[1]: wrong type: expected an integer, found 'a' (a string)",
    ),
    (
        "loggers: [{_target_: constructs_zoo:CsvLogger, folder: x, flush: 3}]",
        "6:61: task.loggers[0].flush: unknown argument of CsvLogger; did you mean 'flush_every'?",
    ),
    (
        "batch: 0",
        "6:10: task.batch: out of range: expected at least 1, found 0 (an integer)",
    ),
    (
        "dropout: 0",
        "6:12: task.dropout: out of range: expected greater than 0.0, found 0 (an integer)",
    ),
    (
        "dropout: 1.5",
        "6:12: task.dropout: out of range: expected at most 1.0, found 1.5 (a number)",
    ),
    (
        "batch: ${oc.env:BATCH,0}",
        "6:10: task.batch: out of range: expected at least 1, found 0 (an integer), "
        "the default of '${oc.env:BATCH,0}'",
    ),
    (
        "tags: []",
        "6:9: task.tags: wrong length: expected a length of at least 1, found a list of length 0",
    ),
    (
        "tags: [a, b, c]",
        "6:9: task.tags: wrong length: expected a length of at most 2, found a list of length 3",
    ),
    (
        "model: {_target_: constructs_zoo:Lstm, hiden_size: 3}",
        "6:42: task.model.hiden_size: unknown argument of Lstm; did you mean 'hidden_size'?",
    ),
    (
        "model: {_target_: constructs_zoo:Lstm, mode: gru, hidden_size: 3}",
        "6:42: task.model.mode: unknown argument of Lstm",
    ),
    (
        "model: {_target_: constructs_zoo:Lstm, hidden_size: many}",
        "6:55: task.model.hidden_size: wrong type: expected an integer, found 'many' (a string)",
    ),
    (
        "model: {_target_: constructs_zoo:StackedLstm, layer: 3}",
        "6:49: task.model.layer: unknown argument of StackedLstm; did you mean 'layers'?",
    ),
    (
        "model: {_target_: constructs_zoo:Gru, hidden_size: 3, mode: x}",
        "6:57: task.model.mode: unknown argument of Gru",
    ),
]


@pytest.mark.parametrize(("line", "error"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_value_that_does_not_fit_is_a_located_error(
    errors_of: Callable[..., list[str]], line: str, error: str
) -> None:
    assert f"exp.yaml:{error}" in errors_of(line)


# --- exports: each construct survives being written as YAML, TOML or Python ---------------------

EVERY_CONSTRUCT = """\
schedule: {name: cos, warmup: 3}
extras: {steps: 2}
size: [32, 48]
bucket: {items: [1, 2]}
interval: 1 day, 0:30:00
root: /data
numbers: [1, 2]
loggers: [{_target_: constructs_zoo:CsvLogger, folder: x}]
batch: 4
model: {_target_: constructs_zoo:Lstm, hidden_size: 3}
"""


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_an_export_gives_the_job_the_same_values(workdir: Path, fmt: str) -> None:
    spec = workdir / "exp.yaml"
    spec.write_text(
        spec_text("constructs_zoo:probe", EVERY_CONSTRUCT, workdir / "out.json"), encoding="utf-8"
    )
    original = run_job(spec, workdir)
    exported = workdir / f"again.{fmt}"
    exported.write_text(export(load(spec), fmt, workdir), encoding="utf-8")

    assert run_job(exported, workdir) == original
    assert original["interval"] == {"timedelta": "datetime.timedelta(days=1, seconds=1800)"}


def test_the_python_export_builds_the_same_values(workdir: Path) -> None:
    spec = workdir / "exp.yaml"
    spec.write_text(
        spec_text("constructs_zoo:probe", EVERY_CONSTRUCT, workdir / "out.json"), encoding="utf-8"
    )
    original = run_job(spec, workdir)
    module = workdir / "again.py"
    module.write_text(export(load(spec), "python", workdir), encoding="utf-8")
    (workdir / "out.json").unlink()

    subprocess.run([sys.executable, str(module)], check=True, timeout=120)

    assert json.loads((workdir / "out.json").read_text(encoding="utf-8")) == original


# --- Annotated bounds of the real libraries ------------------------------------------------------

REAL_BOUNDS = [
    ("workers: -1", "6:12: task.workers: out of range: expected at least 0, found -1 (an integer)"),
    ("ratio: 1", "6:10: task.ratio: out of range: expected less than 1, found 1 (an integer)"),
    ("step: 12", "6:9: task.step: out of range: expected a multiple of 8, found 12 (an integer)"),
    (
        "name: abcde",
        "6:9: task.name: wrong length: expected a length of at most 4, "
        "found 'abcde' (a string) of length 5",
    ),
    ("size: 0", "6:9: task.size: out of range: expected greater than 0, found 0 (an integer)"),
]


@pytest.mark.parametrize(("line", "error"), REAL_BOUNDS, ids=[r[0] for r in REAL_BOUNDS])
def test_annotated_types_and_pydantic_bounds_are_checked(
    errors_of: Callable[..., list[str]], line: str, error: str
) -> None:
    pytest.importorskip("annotated_types")
    pytest.importorskip("pydantic")
    assert errors_of(line, "constructs_bounds:bounded") == [f"exp.yaml:{error}"]


def test_values_within_real_bounds_reach_the_job(received: Callable[..., dict[str, Any]]) -> None:
    pytest.importorskip("annotated_types")
    pytest.importorskip("pydantic")
    lines = "workers: 0\nratio: 0.25\nstep: 16\nname: abcd\nsize: 3"
    report = received(lines, "constructs_bounds:bounded", isolated=False)
    assert report == {"workers": 0, "ratio": 0.25, "step": 16, "name": "abcd", "size": 3}


# --- hints naming what is imported only for type checkers ---------------------------------------


def test_a_type_checking_import_is_made_to_check_the_hint(
    received: Callable[..., dict[str, Any]], errors_of: Callable[..., list[str]]
) -> None:
    report = received("size: [3]", "constructs_typing_only:prepare")
    assert report["size"] == "ImageSize(width=3, height=224)"
    assert errors_of("size: {widht: 3}", "constructs_typing_only:prepare") == [
        "exp.yaml:6:3: task.size: missing required argument 'width' of ImageSize; add 'width: 1'",
        "exp.yaml:6:10: task.size.widht: unknown argument of ImageSize; did you mean 'width'?",
    ]


def test_a_hint_that_cannot_be_resolved_is_accepted_with_a_warning_naming_it(
    workdir: Path,
) -> None:
    spec = workdir / "exp.yaml"
    lines = "size: [3]\ntokenizer: {vocab: 3}"
    spec.write_text(spec_text("constructs_typing_only:prepare", lines, workdir / "o.json"))

    loaded = load(spec)

    assert loaded.warnings == [
        "exp.yaml:7:3: task.tokenizer: argument 'tokenizer' of prepare is not checked: its type "
        "hint 'Tokenizer | None' names 'Tokenizer', imported only under 'if TYPE_CHECKING:' "
        "from 'not_installed_anywhere', which cannot be imported here"
    ]
    assert loaded.task.call is not None
    assert loaded.task.call.args["tokenizer"] == {"vocab": 3}


# --- torch's own types (where torch is installed) -----------------------------------------------

TORCH_ACCEPTED = [
    ("dtype: float16", "dtype", ["dtype", "torch.float16"]),
    ("dtype: torch.bfloat16", "dtype", ["dtype", "torch.bfloat16"]),
    ("device: cpu", "device", ["device", "device(type='cpu')"]),
    ("device: cuda:1", "device", ["device", "device(type='cuda', index=1)"]),
    (
        "module: {_target_: torch.nn.LSTM, input_size: 2, hidden_size: 3, num_layers: 2}",
        "module",
        ["LSTM", "LSTM(2, 3, num_layers=2)"],
    ),
]


@pytest.mark.parametrize(
    ("line", "name", "expected"), TORCH_ACCEPTED, ids=[r[0] for r in TORCH_ACCEPTED]
)
def test_torch_values_reach_the_job(
    received: Callable[..., dict[str, Any]], line: str, name: str, expected: Any
) -> None:
    pytest.importorskip("torch")
    assert received(line, "constructs_torch:probe", isolated=False)[name] == expected


TORCH_REFUSED = [
    (
        "dtype: float17",
        "6:10: task.dtype: not a torch dtype: expected a dtype name such as 'float32' or "
        "'torch.bfloat16', found 'float17' (a string); did you mean 'float16'?",
    ),
    (
        "device: gpu:0",
        "6:11: task.device: wrong type: expected a device such as 'cpu', 'cuda' or 'cuda:0', "
        "found 'gpu:0' (a string)",
    ),
    (
        "module: {_target_: torch.nn.LSTM, input_size: 2, hiden_size: 3}",
        "6:52: task.module.hiden_size: unknown argument of LSTM; did you mean 'hidden_size'?",
    ),
]


@pytest.mark.parametrize(("line", "error"), TORCH_REFUSED, ids=[r[0] for r in TORCH_REFUSED])
def test_torch_values_that_do_not_fit_are_located_errors(
    errors_of: Callable[..., list[str]], line: str, error: str
) -> None:
    pytest.importorskip("torch")
    assert f"exp.yaml:{error}" in errors_of(line, "constructs_torch:probe")


def test_torch_values_survive_an_export(workdir: Path) -> None:
    pytest.importorskip("torch")
    spec = workdir / "exp.yaml"
    lines = "dtype: bfloat16\ndevice: cuda:0"
    spec.write_text(spec_text("constructs_torch:probe", lines, workdir / "out.json"))
    original = run_job(spec, workdir, isolated=False)
    exported = workdir / "again.yaml"
    exported.write_text(export(load(spec), "yaml", workdir), encoding="utf-8")

    assert run_job(exported, workdir, isolated=False) == original
    assert original["device"] == ["device", "device(type='cuda', index=0)"]


def test_validating_without_torch_hints_never_imports_torch(workdir: Path) -> None:
    spec = workdir / "exp.yaml"
    spec.write_text(spec_text("constructs_zoo:probe", EVERY_CONSTRUCT, workdir / "out.json"))
    code = (
        "import sys\nfrom nemorun.api import load\nfrom nemorun.compiler.entry import entry_point\n"
        f"entry_point(load({str(spec)!r}))\nprint('torch' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(HERE.parents[1])}  # this checkout's nemorun
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"
