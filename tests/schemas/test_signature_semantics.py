"""How the signatures ML libraries use are read: unions, factories (``Callable`` given a partial
``_target_``), class- and protocol-typed parameters, function references for unannotated
parameters, and the words of union errors.

Every spec calls a ``fit_*`` task of `siglib` (stand-ins for library classes) that returns the
arguments it received; the tests build the Fiddle graph and call it, so they check what the job
gets, not only what validation believes.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fiddle as fdl
import pytest
import siglib

from nemorun.api import load
from nemorun.compiler.entry import entry_point
from nemorun.compiler.export import export
from nemorun.compiler.graph import task_graph
from nemorun.schemas.spec import Spec

SIGLIB = Path(siglib.__file__).parent


def spec_text(task: str, body: str) -> str:
    return f"nemorun: 1\npythonpath: [{{zoo}}]\ntask:\n  _target_: siglib:{task}\n{body}"


@pytest.fixture
def job(write_spec: Callable[[str, str], Path]) -> Callable[..., dict[str, Any]]:
    """``job("fit_unions", "  version: 2\\n")``: what the task receives when the job runs."""

    def run(task: str, body: str, *overrides: str) -> dict[str, Any]:
        spec = load(write_spec("exp.yaml", spec_text(task, body)), overrides)
        result: dict[str, Any] = fdl.build(task_graph(spec))()
        return result

    return run


@pytest.fixture
def loaded(write_spec: Callable[[str, str], Path]) -> Callable[..., Spec]:
    def run(task: str, body: str) -> Spec:
        return load(write_spec("exp.yaml", spec_text(task, body)))

    return run


@pytest.fixture
def errors(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
) -> Callable[..., list[str]]:
    def run(task: str, body: str) -> list[str]:
        return load_errors(write_spec("exp.yaml", spec_text(task, body)))

    return run


# --- 1. a union takes the value's own YAML type before a str reads it as text -------------------

UNIONS = [
    # (line under task:, argument, what the job receives)
    ("version: 2", "version", 2),  # int | str
    ("tag: 2", "tag", 2),  # str | int: the int, though str comes first
    ("tag: '2'", "tag", "2"),  # quoted: text
    ("tag: 1.10", "tag", "1.10"),  # no alternative takes 1.1: the text as typed
    ("tag: 007", "tag", 7),  # YAML 1.2 reads 007 as the integer 7
    ("devices: 2", "devices", 2),  # list[int] | str | int
    ("devices: [0, 1]", "devices", [0, 1]),
    ("devices: auto", "devices", "auto"),
    ("ratio: 1e-3", "ratio", 0.001),  # str | float: PyYAML's text, YAML 1.2's number
    ("ratio: 0.5", "ratio", 0.5),
    ("ratio: v1", "ratio", "v1"),
    ("count: 2", "count", 2),  # float | int: the int itself
    ("count: 2.5", "count", 2.5),
    ("scale: 2", "scale", 2.0),  # float | str: a number before text
    ("flag: true", "flag", True),  # str | bool
    ("flag: no", "flag", "no"),  # YAML 1.2: text, not false
    ("level: 2", "level", siglib.Level.HIGH),  # str | Level: the member by value
    ("level: HIGH", "level", "HIGH"),  # str comes first and takes text
    ("mode: 3", "mode", 3),
    ("mode: auto", "mode", "auto"),
]


@pytest.mark.parametrize(("line", "name", "expected"), UNIONS)
def test_union_takes_the_native_type(
    job: Callable[..., dict[str, Any]], line: str, name: str, expected: Any
) -> None:
    got = job("fit_unions", f"  {line}\n")[name]
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("override", "expected"), [("tag=2", 2), ("tag='2'", "2"), ("devices=[1,2]", [1, 2])]
)
def test_union_override_takes_the_native_type(
    job: Callable[..., dict[str, Any]], override: str, expected: Any
) -> None:
    name = override.partition("=")[0]
    got = job("fit_unions", "  version: 1\n", override)[name]
    assert got == expected and type(got) is type(expected)


def test_union_in_toml_takes_the_native_type(write_spec: Callable[[str, str], Path]) -> None:
    path = write_spec(
        "exp.toml",
        'nemorun = 1\npythonpath = ["{zoo}"]\n[task]\n_target_ = "siglib:fit_unions"\n'
        "tag = 2\nflag = false\n",
    )
    got = fdl.build(task_graph(load(path)))()
    assert (got["tag"], got["flag"]) == (2, False)
    assert type(got["tag"]) is int and type(got["flag"]) is bool


def test_the_generated_entry_passes_the_int(write_spec: Callable[[str, str], Path]) -> None:
    source = entry_point(load(write_spec("exp.yaml", spec_text("fit_unions", "  tag: 2\n"))))
    assert "tag=2" in source.source and "tag='2'" not in source.source


# --- 2. factories: a partial _target_ for a Callable parameter --------------------------------


def test_partial_target_builds_a_partial_of_the_class(job: Callable[..., dict[str, Any]]) -> None:
    got = job("fit_factories", "  optimizer: {_target_: siglib:SGD, lr: 0.1, _partial_: true}\n")
    factory = got["optimizer"]
    assert isinstance(factory, functools.partial)
    assert factory.func is siglib.SGD and factory.keywords == {"lr": 0.1}
    made = factory([1.0, 2.0])  # what the training code does with it
    assert isinstance(made, siglib.SGD) and made.defaults == {"lr": 0.1, "momentum": 0.0}
    assert made.params == [1.0, 2.0]


def test_partial_of_a_factory_function_whose_return_fits(
    job: Callable[..., dict[str, Any]],
) -> None:
    got = job("fit_factories", "  optimizer: {_target_: siglib:make_adam, _partial_: true}\n")
    made = got["optimizer"]([3.0])
    assert isinstance(made, siglib.Adam) and made.defaults == {"beta": 0.9}


def test_a_called_factory_that_returns_the_callable(job: Callable[..., dict[str, Any]]) -> None:
    got = job("fit_factories", "  schedule: {_target_: siglib:make_schedule, warmup: 10}\n")
    assert got["schedule"](5) == 0.5


def test_callable_by_reference_still_works(job: Callable[..., dict[str, Any]]) -> None:
    assert job("fit_factories", "  make: siglib:SGD\n")["make"] is siglib.SGD
    assert job("fit_factories", "  make: siglib:make_adam\n")["make"] is siglib.make_adam


FACTORY_ERRORS = [
    (
        "optimizer: {_target_: siglib:Lion, beta: 0.5, _partial_: true}",
        "exp.yaml:5:3: task.optimizer: missing required argument 'lr' of Lion: the partial's "
        "caller passes only 1 positional argument(s); add 'lr: 0.1'",
    ),
    (
        "optimizer: {_target_: siglib:make_adam}",
        "exp.yaml:5:3: task.optimizer: make_adam(...) makes an Adam, which is not callable: "
        "expected a 'module:name' reference to a callable making an Optimizer, found a mapping "
        "without '_partial_: true'; add '_partial_: true' to pass make_adam with these "
        "arguments, for the caller to complete",
    ),
    (
        "optimizer: {_target_: siglib:Linear, _partial_: true}",
        "exp.yaml:5:25: task.optimizer._target_: 'siglib:Linear' is not a subclass of Optimizer: "
        "expected Optimizer or a subclass of it",
    ),
    (
        "optimizer: {_target_: siglib:make_linear, _partial_: true}",
        "exp.yaml:5:25: task.optimizer._target_: 'siglib:make_linear' returns Linear, not an "
        "Optimizer: expected Optimizer, a subclass, or a factory returning one",
    ),
    (
        "optimizer: {_target_: siglib:SGD, lr: 0.1}",
        "exp.yaml:5:3: task.optimizer: SGD(...) makes a SGD, which is not callable: expected "
        "a 'module:name' reference to a callable making an Optimizer, found a mapping without "
        "'_partial_: true'; add '_partial_: true' to pass SGD with these arguments, for the "
        "caller to complete",
    ),
    (
        "optimizer: {_target_: siglib:SGD, lrr: 0.1, _partial_: true}",
        "exp.yaml:5:37: task.optimizer.lrr: unknown argument of SGD; did you mean 'lr'?",
    ),
    (
        "optimizer: {_target_: siglib:SGD, lr: fast, _partial_: true}",
        "exp.yaml:5:41: task.optimizer.lr: wrong type: expected a number, found 'fast' "
        "(a string); write it like 0.001 or 1.0e-3",
    ),
    (
        "optimizer: {_target_: siglib:SGD, params: [1.0], _partial_: true}",
        "exp.yaml:5:37: task.optimizer.params: 'params' is passed when the partial is called; "
        "remove it here",
    ),
    (
        "make: siglib:Linear",
        "exp.yaml:5:9: task.make: 'siglib:Linear' does not make an Optimizer: expected a "
        "'module:name' reference to a callable making an Optimizer, found 'siglib:Linear' "
        "(a string)",
    ),
]


@pytest.mark.parametrize(("line", "error"), FACTORY_ERRORS)
def test_factory_mistakes_are_located(
    errors: Callable[..., list[str]], line: str, error: str
) -> None:
    assert errors("fit_factories", f"  {line}\n") == [error]


def test_a_factory_without_return_annotation_is_kept_with_a_warning(
    loaded: Callable[..., Spec],
) -> None:
    body = "  optimizer: {_target_: siglib:make_anything, _partial_: true}\n"
    spec = loaded("fit_factories", body)
    assert spec.warnings == [
        "exp.yaml:5:25: task.optimizer._target_: cannot check that 'siglib:make_anything' makes "
        "an Optimizer (no return annotation); the job will tell"
    ]
    made = fdl.build(task_graph(spec))()["optimizer"]([1.0])
    assert isinstance(made, siglib.SGD)


# --- 3. protocols: a _target_ whose class has the protocol's members ----------------------------


def test_a_class_that_implements_the_protocol(job: Callable[..., dict[str, Any]]) -> None:
    got = job("fit_classes", "  sink: {_target_: siglib:FileSink, path: log.txt}\n")
    assert isinstance(got["sink"], siglib.FileSink) and got["sink"].path == "log.txt"
    named = job("fit_classes", "  named: {_target_: siglib:NamedSink}\n")["named"]
    assert isinstance(named, siglib.NamedSink)


def test_a_protocol_member_set_only_in_init_is_a_warning(loaded: Callable[..., Spec]) -> None:
    spec = loaded("fit_classes", "  named: {_target_: siglib:LateNamedSink}\n")
    assert spec.warnings == [
        "exp.yaml:5:21: task.named._target_: cannot check that 'siglib:LateNamedSink' makes a "
        "Named (a member it only annotates); the job will tell"
    ]


PROTOCOL_ERRORS = [
    (
        "sink: {_target_: siglib:Linear}",
        "exp.yaml:5:20: task.sink._target_: 'siglib:Linear' does not implement Sink: it has no "
        "'write': expected a class with the members of Sink",
    ),
    (
        "sink: 3",
        "exp.yaml:5:9: task.sink: wrong type: expected a mapping with '_target_' naming a class "
        "that implements Sink, found 3 (an integer)",
    ),
    (
        "sink: {path: x}",
        "exp.yaml:5:9: task.sink: wrong type: expected a mapping with '_target_' naming a class "
        "that implements Sink, found a mapping",
    ),
]


@pytest.mark.parametrize(("line", "error"), PROTOCOL_ERRORS)
def test_protocol_mistakes_are_located(
    errors: Callable[..., list[str]], line: str, error: str
) -> None:
    assert errors("fit_classes", f"  {line}\n") == [error]


# --- 6. a function reference for an unannotated parameter -------------------------------------


def test_call_key_passes_the_function_itself(job: Callable[..., dict[str, Any]]) -> None:
    got = job("fit_untyped", "  lr_lambda: {_call_: siglib:warmup}\n")
    assert got["lr_lambda"] is siglib.warmup
    nested = job("fit_untyped", "  options: {fn: {_call_: siglib.warmup}}\n")
    assert nested["options"] == {"fn": siglib.warmup}


def test_call_key_also_serves_a_callable_hint(job: Callable[..., dict[str, Any]]) -> None:
    assert job("fit_factories", "  make: {_call_: siglib:SGD}\n")["make"] is siglib.SGD


def test_the_job_receives_the_function(
    write_spec: Callable[[str, str], Path], workdir: Path
) -> None:
    body = "  lr_lambda: {_call_: siglib:warmup}\n"
    entry = entry_point(load(write_spec("exp.yaml", spec_text("fit_untyped", body))))
    script = workdir / "entry.py"
    script.write_text(entry.source, encoding="utf-8")
    probe = workdir / "probe.py"
    probe.write_text(
        "import runpy, siglib\n"
        "seen = {}\n"
        "real = siglib.fit_untyped\n"
        "siglib.fit_untyped = lambda **kw: seen.update(kw)\n"
        "runpy.run_path('entry.py', run_name='__main__')\n"
        "print(seen['lr_lambda'] is real.__globals__['warmup'], seen['lr_lambda'](4))\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-S", str(probe)],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(SIGLIB)},
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "40"]


def test_a_reference_as_text_stays_text_with_a_warning(loaded: Callable[..., Spec]) -> None:
    spec = loaded("fit_untyped", "  lr_lambda: siglib:warmup\n  options: {mode: 'a:b'}\n")
    assert spec.task.call is not None
    assert spec.task.call.args["lr_lambda"] == "siglib:warmup"
    assert spec.warnings == [
        "exp.yaml:5:14: task.lr_lambda: 'siglib:warmup' reaches the task as text: nothing says "
        "this argument takes a function; to pass the function itself, write "
        "{_call_: 'siglib:warmup'}"
    ]


@pytest.mark.parametrize("fmt", ["yaml", "toml", "json"])
def test_an_exported_function_reference_loads_back_as_the_function(
    write_spec: Callable[[str, str], Path], workdir: Path, fmt: str
) -> None:
    body = "  lr_lambda: {_call_: siglib:warmup}\n  options: {fn: {_call_: siglib:warmup}}\n"
    text = export(load(write_spec("exp.yaml", spec_text("fit_untyped", body))), fmt)
    again = workdir / f"again.{fmt}"
    again.write_text(text, encoding="utf-8")
    got = fdl.build(task_graph(load(again)))()
    assert got == {"lr_lambda": siglib.warmup, "options": {"fn": siglib.warmup}}


REFERENCE_ERRORS = [
    (
        "lr_lambda: {_call_: siglib:wramup}",
        "exp.yaml:5:23: task.lr_lambda._call_: module 'siglib' has no attribute 'wramup'; "
        "did you mean 'siglib:warmup'?",
    ),
    (
        "lr_lambda: {_call_: siglib:CONSTANT}",
        "exp.yaml:5:23: task.lr_lambda._call_: 'siglib:CONSTANT' is not callable: found int; "
        "name a function or a class",
    ),
    (
        "lr_lambda: {_call_: siglib:warmup, step: 1}",
        "exp.yaml:5:38: task.lr_lambda.step: a '_call_' mapping holds nothing else; remove 'step'",
    ),
    (
        "lr_lambda: {_call_: 3}",
        "exp.yaml:5:23: task.lr_lambda._call_: wrong type: expected a 'module:name' string, "
        "found 3 (an integer)",
    ),
]


@pytest.mark.parametrize(("line", "error"), REFERENCE_ERRORS)
def test_reference_mistakes_are_located(
    errors: Callable[..., list[str]], line: str, error: str
) -> None:
    assert errors("fit_untyped", f"  {line}\n") == [error]


def test_a_reference_under_a_class_hint_is_refused(errors: Callable[..., list[str]]) -> None:
    assert errors("fit_classes", "  model: {_call_: siglib:make_linear}\n") == [
        "exp.yaml:5:10: task.model: wrong type: expected a mapping with '_target_' naming Module "
        "or a subclass, found siglib:make_linear (a function)"
    ]


# --- 7. an explicit _target_ under a class hint must make that class ---------------------------


def test_subclasses_and_factories_returning_one_are_built(
    job: Callable[..., dict[str, Any]],
) -> None:
    got = job(
        "fit_classes",
        "  model: {_target_: siglib:make_linear, size: 3}\n"
        "  logger: {_target_: siglib:CSVLogger, save_dir: logs}\n"
        "  callbacks: [{_target_: siglib:Checkpoint, every: 2}]\n",
    )
    assert isinstance(got["model"], siglib.Linear) and got["model"].size == 3
    assert isinstance(got["logger"], siglib.CSVLogger) and got["logger"].save_dir == "logs"
    (callback,) = got["callbacks"]
    assert isinstance(callback, siglib.Checkpoint) and callback.every == 2


CLASS_ERRORS = [
    (
        "logger: {_target_: siglib:Checkpoint}",
        "exp.yaml:5:22: task.logger._target_: 'siglib:Checkpoint' is not a subclass of Logger: "
        "expected Logger or a subclass of it",
    ),
    (
        "callbacks: [{_target_: siglib:Checkpoint}, {_target_: siglib:CSVLogger, save_dir: x}]",
        "exp.yaml:5:57: task.callbacks[1]._target_: 'siglib:CSVLogger' is not a subclass of "
        "Callback: expected Callback or a subclass of it",
    ),
    (
        "model: {_target_: siglib:make_logger}",
        "exp.yaml:5:21: task.model._target_: 'siglib:make_logger' returns CSVLogger, not a "
        "Module: expected Module, a subclass, or a factory returning one",
    ),
    (
        "model: {_target_: siglib:Logger}",
        "exp.yaml:5:21: task.model._target_: 'siglib:Logger' is not a subclass of Module: "
        "expected Module or a subclass of it",
    ),
]


@pytest.mark.parametrize(("line", "error"), CLASS_ERRORS)
def test_a_target_that_makes_another_class_is_refused(
    errors: Callable[..., list[str]], line: str, error: str
) -> None:
    assert errors("fit_classes", f"  {line}\n") == [error]


def test_a_factory_whose_return_is_unknown_is_kept_with_a_warning(
    loaded: Callable[..., Spec],
) -> None:
    spec = loaded("fit_classes", "  model: {_target_: siglib:make_untyped}\n")
    assert spec.warnings == [
        "exp.yaml:5:21: task.model._target_: cannot check that 'siglib:make_untyped' makes a "
        "Module (no return annotation); the job will tell"
    ]


# --- 10. union errors in the user's words, at the mistake ---------------------------------------

UNION_ERRORS = [
    (  # a _target_ says which alternative was meant: the error is inside it
        "fit_classes",
        "loggers: {_target_: siglib:CsvLogger}",
        "exp.yaml:5:23: task.loggers._target_: module 'siglib' has no attribute 'CsvLogger'; "
        "did you mean 'siglib:CSVLogger'?",
    ),
    (
        "fit_classes",
        "loggers: [{_target_: siglib:CSVLogger, save_dir: x, flsh: 1}]",
        "exp.yaml:5:55: task.loggers[0].flsh: unknown argument of CSVLogger; did you mean 'flush'?",
    ),
    (
        "fit_classes",
        "loggers: {_target_: siglib:Checkpoint}",
        "exp.yaml:5:23: task.loggers._target_: 'siglib:Checkpoint' is not a subclass of Logger: "
        "expected Logger or a subclass of it",
    ),
    (  # the target is a Logger, not a Callback: the mistake is inside the Logger
        "fit_classes",
        "either: {_target_: siglib:CSVLogger, save_dir: x, flsh: 1}",
        "exp.yaml:5:53: task.either.flsh: unknown argument of CSVLogger; did you mean 'flush'?",
    ),
    (  # nothing says which: every alternative, shortest first, no typing reprs
        "fit_classes",
        "loggers: 3",
        "exp.yaml:5:12: task.loggers: matches none of the allowed types: expected true or "
        "false, a mapping with '_target_' naming Logger or a subclass or a list of items, each "
        "a mapping with '_target_' naming Logger or a subclass, found 3 (an integer)",
    ),
    (  # a scalar keeps the union's words and the did-you-mean
        "fit_unions",
        "mode: autp",
        "exp.yaml:5:9: task.mode: matches none of the allowed types: expected an integer or "
        "one of 'auto', found 'autp' (a string) (as one of 'auto': not an allowed value); "
        "did you mean 'auto'?",
    ),
]


@pytest.mark.parametrize(("task", "line", "error"), UNION_ERRORS)
def test_union_errors_say_it_in_the_users_words(
    errors: Callable[..., list[str]], task: str, line: str, error: str
) -> None:
    assert errors(task, f"  {line}\n") == [error]
    assert "typing." not in error and "collections.abc" not in error


def test_call_key_in_nemoruns_own_options_is_refused_before_import(
    write_spec: Callable[[str, str], Path], load_errors: Callable[..., list[str]]
) -> None:
    path = write_spec(
        "exp.yaml",
        "nemorun: 1\ntask: {command: 'true'}\nexecutor:\n  env: {A: {_call_: os:system}}\n",
    )
    (error,) = load_errors(path)
    assert "executor.env.A._call_: nemorun's own options take no '_call_'" in error


def test_a_nemo_run_function_reference_migrates_to_the_function(
    workdir: Path, cli: Callable[..., Any]
) -> None:
    old = workdir / "old.yaml"
    old.write_text(
        "_target_: siglib.fit_untyped\n_partial_: true\n"
        "lr_lambda: {_target_: siglib.warmup, _call_: false}\n",
        encoding="utf-8",
    )
    assert cli("migrate", str(old), "--in-place").code == 0
    text = old.read_text(encoding="utf-8")
    old.write_text(text.replace("nemorun: 1\n", f"nemorun: 1\npythonpath: [{SIGLIB}]\n"))
    got = fdl.build(task_graph(load(old)))()
    assert got["lr_lambda"] is siglib.warmup


def test_a_partial_under_a_class_hint_is_kept_with_a_warning(loaded: Callable[..., Spec]) -> None:
    """The task gets a functools.partial where it asked for a Logger: said, not silent."""
    spec = loaded("fit_classes", "  logger: {_target_: siglib:CSVLogger, _partial_: true}\n")
    assert spec.warnings == [
        "exp.yaml:5:51: task.logger._partial_: '_partial_: true' gives the task a "
        "functools.partial where its hint asks for a Logger; remove '_partial_', or type the "
        "argument Callable[..., Logger]"
    ]
    assert (
        loaded("fit_classes", "  logger: {_target_: siglib:CSVLogger, save_dir: x}\n").warnings
        == []
    )
