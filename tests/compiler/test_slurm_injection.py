"""Hostile strings in every string-valued Slurm option: a located error, or the value exactly.

A table of options (`OPTIONS`: where the spec writes each, and whether it becomes an ``#SBATCH``
value or a word of the job's shell) times a table of hostile values (`HOSTILE`). sbatch reads
each ``#SBATCH`` line alone, so a line break, carriage return or NUL there must be refused
(exit 2, at its key path); a NUL can reach no job at all. Anything else compiles to a script
that ``bash -n`` accepts, whose ``#SBATCH`` lines are exactly the expected ones, and that gives
the value byte-exact:

- ``#SBATCH`` values as sbatch's parser reads them back (`sbatch_directives`) and, on the test
  cluster, as Slurm stored them (comment, job name, log paths of a held job);
- shell words as the job receives them: the script is run with a stand-in ``srun`` that reports
  its arguments, environment and directory; on the test cluster ``sbatch --test-only`` accepts
  it (an injected ``#SBATCH --partition=evil`` would be refused).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.job import RunContext
from nemorun.compiler.targets.slurm import SlurmOptions
from nemorun.errors import SpecErrors
from nemorun.launchers.slurm_script import (
    sbatch_directives,
)
from nemorun.schemas.formats import formats_of

ROOT = Path(__file__).resolve().parents[2]

HOSTILE = {
    "LF": "a\nb",
    "CR": "a\rb",
    "CRLF": "a\r\nb",
    "NUL": "a\0b",
    "directive after LF": "x\n#SBATCH --partition=evil",
    "directive after CR": "x\r#SBATCH --partition=evil",
    "directive text": "#SBATCH --partition=evil",
    "VT": "a\vb",
    "FF": "a\fb",
    "NEL": "a\x85b",
    "LS": "a\u2028b",
    "quotes": 'it\'s "$(x)" `y` \\ #z %',
}
BREAKS = "\n\r\0"


@dataclass(frozen=True)
class Option:
    path: tuple[str | int, ...]
    """Where the spec writes it."""
    directive: str | None = None
    """The ``#SBATCH`` long option it becomes; None for a word of the job's shell."""
    text: bool = False
    """Slurm takes any text here (and stores it): it must compile, and is read back."""
    formatted: bool = False
    """nemorun checks its format: every hostile value is refused."""
    in_container: bool = False
    """The spec also names a container image."""

    @property
    def key(self) -> str:
        """The key path as errors print it."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out.lstrip(".")


def sbatch(name: str, **kw: Any) -> Option:
    return Option(("executor", name), name.replace("_", "-"), **kw)


# Plain sbatch options: sbatch (or the cluster) judges their values.
PLAIN = [
    "account",
    "partition",
    "qos",
    "gres",
    "mem",
    "mem_per_cpu",
    "mem_per_gpu",
    "constraint",
    "exclude",
    "nodelist",
    "reservation",
    "signal",
    "mail_type",
    "mail_user",
    "wckey",
    "licenses",
]
# Fields whose format the validator checks (declared on `SlurmOptions`): every hostile value
# there is refused by its format, before the line-break rule sees it.
FORMATTED = {f.name for f in dataclasses.fields(SlurmOptions) if formats_of(f)}
OPTIONS = {
    **{name: sbatch(name, formatted=name in FORMATTED) for name in PLAIN},
    **{name: sbatch(name, text=True) for name in ("comment", "job_name", "output", "error")},
    **{
        name: sbatch(name, formatted=True) for name in ("time", "time_min", "gpus", "gpus_per_node")
    },
    "name": Option(("name",), "job-name"),  # refuses control characters: it names files too
    "extra.begin": Option(("executor", "extra", "begin"), "begin"),
    "extra.mcs_label": Option(("executor", "extra", "mcs_label"), "mcs-label"),
    "env": Option(("executor", "env", "HOSTILE")),
    "container.image": Option(("executor", "container", "image")),
    "container.mounts": Option(("executor", "container", "mounts", 0)),
    "workdir": Option(("executor", "workdir")),
    "workdir in a container": Option(("executor", "workdir"), in_container=True),
    "python": Option(("executor", "python")),
    "task.command": Option(("task", "command")),
}


def mount_of(value: str) -> str:
    """A well-formed mount (``HOST:CONTAINER``, absolute) holding ``value``."""
    return f"/{value}:/mnt"


def spec_tree(option: Option, value: str) -> dict[str, Any]:
    tree: dict[str, Any] = {
        "nemorun": 1,
        "name": "inj",
        "pythonpath": [str(ROOT / "examples")],
        "task": {"_target_": "trainlib:train", "model": {}, "optim": {}, "steps": 1},
        "executor": {"target": "slurm"},
    }
    if option.path == ("task", "command"):
        tree["task"] = {"command": value}
        return tree
    if option.path[:3] == ("executor", "container", "mounts"):
        tree["executor"]["container"] = {"image": "img", "mounts": [mount_of(value)]}
        return tree
    if option.in_container:
        tree["executor"]["container"] = {"image": "img"}
    node = tree
    for part in option.path[:-1]:
        node = node.setdefault(part, {})
    node[option.path[-1]] = value
    return tree


def refused(option: Option, value: str) -> bool:
    """Must this value be refused? (A NUL anywhere; a line break on an #SBATCH line.)"""
    return "\0" in value or (option.directive is not None and any(c in value for c in BREAKS))


CASES = [pytest.param(name, label, id=f"{name}-{label}") for name in OPTIONS for label in HOSTILE]


@dataclass(frozen=True)
class Compiled:
    code: int
    script: str
    errors: list[str]


@pytest.fixture
def compile_slurm(workdir: Path, cli: Callable[..., Any]) -> Callable[[Option, str], Compiled]:
    def run(option: Option, value: str) -> Compiled:
        spec = workdir / "job.yaml"
        spec.write_text(yaml.safe_dump(spec_tree(option, value)), encoding="utf-8")
        result = cli("compile", "job.yaml", "--target", "slurm")
        return Compiled(result.code, result.out, result.error_lines)

    return run


def header_directives(script: str) -> list[str]:
    """The ``#SBATCH`` lines sbatch reads: those before the first command (split at ``\\n``
    only, as sbatch splits the script)."""
    lines = []
    for line in script.split("\n")[1:]:
        if line.strip() and not line.startswith("#"):
            break
        if line.startswith("#SBATCH"):
            lines.append(line)
    return lines


@pytest.mark.parametrize(("name", "label"), CASES)
def test_a_hostile_value_is_refused_where_written_or_kept_exactly(
    name: str, label: str, compile_slurm: Callable[[Option, str], Compiled], workdir: Path
) -> None:
    option, value = OPTIONS[name], HOSTILE[label]
    compiled = compile_slurm(option, value)

    if compiled.code != 0 or refused(option, value) or option.formatted:
        assert compiled.code == 2, compiled
        located = re.compile(rf"job\.yaml:\d+:\d+: {re.escape(option.key)}: ")
        assert any(located.match(e) for e in compiled.errors), compiled.errors
        assert not (refused(option, value) is False and option.text), compiled.errors
        own_rule = option.formatted or option.path == ("name",)  # the run name: no controls
        if option.directive is not None and "\0" not in value and not own_rule:
            assert (
                f"{option.key}: an sbatch option cannot hold a line break, carriage return or "
                f"NUL: found {value!r}" in "\n".join(compiled.errors)
            )
        return

    script = workdir / "job.sbatch"
    script.write_text(compiled.script, encoding="utf-8")
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr

    lines = header_directives(compiled.script)
    directives = sbatch_directives(compiled.script)
    expected = {"job-name", "nodes", "output", "error"} | (
        {option.directive} if option.directive else set()
    )
    assert len(lines) == len(expected), lines  # one line each, nothing injected
    assert set(directives) == expected
    assert "partition" not in directives or name == "partition"
    if option.directive is not None:
        assert directives[option.directive] == value
    else:
        assert job_receives(script, workdir, name, value)


def job_receives(script: Path, workdir: Path, name: str, value: str) -> bool:
    """Run the batch script with a stand-in ``srun``; True if the job got ``value`` exactly."""
    bin_dir = workdir / "bin"
    bin_dir.mkdir()
    srun = bin_dir / "srun"
    srun.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        "json.dump({'argv': sys.argv[1:], 'env': os.environ.get('HOSTILE'), "
        "'cwd': os.getcwd()}, open(os.environ['SRUN_REPORT'], 'w'))\n",
        encoding="utf-8",
    )
    srun.chmod(0o755)
    if name.startswith("workdir"):
        (workdir / value).mkdir()
    report = workdir / "srun.json"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SLURM_")},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SRUN_REPORT": str(report),
    }
    proc = subprocess.run(["bash", str(script)], cwd=workdir, env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(report.read_text(encoding="utf-8"))
    argv = got["argv"]
    cwd = str((workdir / value).resolve())
    return {
        "env": lambda: got["env"] == value,
        "container.image": lambda: f"--container-image={value}" in argv,
        "container.mounts": lambda: any(  # after the entry's own file
            a.startswith("--container-mounts=") and a.endswith(f":ro,{mount_of(value)}")
            for a in argv
        ),
        "workdir": lambda: got["cwd"] == cwd,
        "workdir in a container": lambda: (
            got["cwd"] == cwd and f"--container-workdir={value}" in argv
        ),
        "python": lambda: argv[0] == value and argv[1] == "-c",
        "task.command": lambda: argv == ["bash", "-c", value],
    }[name]()


# --- the test cluster: what Slurm itself reads ---------------------------------------------------

KEPT = [label for label, value in HOSTILE.items() if not any(c in value for c in BREAKS)]
READ_BACK = {
    "comment": ("squeue", "%k"),
    "job_name": ("squeue", "%j"),
    "output": ("scontrol", "StdOut"),
    "error": ("scontrol", "StdErr"),
}


@pytest.mark.usefixtures("slurm_cluster")
@pytest.mark.parametrize("label", KEPT)
@pytest.mark.parametrize("name", READ_BACK)
def test_slurm_stores_a_text_option_exactly(
    name: str, label: str, compile_slurm: Callable[[Option, str], Compiled], workdir: Path
) -> None:
    option, value = OPTIONS[name], HOSTILE[label]
    compiled = compile_slurm(option, value)
    assert compiled.code == 0, compiled.errors
    script = workdir / "job.sbatch"
    script.write_text(compiled.script, encoding="utf-8")
    submitted = subprocess.run(
        ["sbatch", "--parsable", "--hold", str(script)], cwd=workdir, capture_output=True
    )
    assert submitted.returncode == 0, submitted.stderr
    job = submitted.stdout.decode().strip().split(";")[0]
    try:
        tool, field = READ_BACK[name]
        if tool == "squeue":
            shown = subprocess.run(["squeue", "-h", "-j", job, "-o", field], capture_output=True)
            stored = shown.stdout.decode().removesuffix("\n")
        else:
            shown = subprocess.run(["scontrol", "show", "job", job], capture_output=True)
            line = next(w for w in shown.stdout.decode().split("\n") if f"{field}=" in w)
            stored = line.split(f"{field}=", 1)[1]
        expected = value if tool == "squeue" else str(workdir / value)
        assert stored == expected
    finally:
        subprocess.run(["scancel", job], capture_output=True)


SHELL = [name for name, option in OPTIONS.items() if option.directive is None]


@pytest.mark.usefixtures("slurm_cluster")
@pytest.mark.parametrize("label", [*KEPT, "LF", "CR", "directive after LF", "directive after CR"])
@pytest.mark.parametrize("name", SHELL)
def test_sbatch_accepts_a_script_with_hostile_shell_words(
    name: str, label: str, compile_slurm: Callable[[Option, str], Compiled], workdir: Path
) -> None:
    compiled = compile_slurm(OPTIONS[name], HOSTILE[label])
    assert compiled.code == 0, compiled.errors
    script = workdir / "job.sbatch"
    script.write_text(compiled.script, encoding="utf-8")
    proc = subprocess.run(
        ["sbatch", "--test-only", str(script)], cwd=workdir, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr  # partition "evil" does not exist: not read
    assert "to start at" in proc.stderr


def test_the_spec_path_and_overrides_stay_in_their_comment_lines(
    workdir: Path, cli: Callable[..., Any]
) -> None:
    """The script's header comments name the spec file and the overrides: a line break in
    either is written escaped, never as a line of the script (a command, or a directive)."""
    hostile = "x\ntouch pwned\n#SBATCH --partition=evil"
    spec = workdir / hostile / "job.yaml"
    spec.parent.mkdir()
    spec.write_text(yaml.safe_dump(spec_tree(OPTIONS["env"], "plain")), encoding="utf-8")
    note = "a\ntouch pwned2\n#SBATCH --qos=evil"
    result = cli("compile", str(spec), "--target", "slurm", f"+executor.env.NOTE='{note}'")
    assert result.code == 0, result.err
    assert len(header_directives(result.out)) == 4
    script = workdir / "job.sbatch"
    script.write_text(result.out, encoding="utf-8")
    assert job_receives(script, workdir, "env", "plain")
    assert not (workdir / "pwned").exists() and not (workdir / "pwned2").exists()
    comments = "\n".join(line for line in result.out.split("\n") if line.startswith("# "))
    assert hostile.replace("\n", "\\n") in comments and note.replace("\n", "\\n") in comments


def test_a_run_directory_with_a_line_break_is_refused_for_its_log_paths(tmp_path: Path) -> None:
    """The log paths of a run are under its directory: one with a line break cannot be written
    on an ``#SBATCH`` line, and the error says which option and how to avoid it."""
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump(spec_tree(OPTIONS["env"], "plain")), encoding="utf-8")
    loaded, warnings = load_for_target(spec, (), "slurm")
    run = RunContext("r1", tmp_path / "runs\nx")
    with pytest.raises(SpecErrors) as raised:
        compile_spec(loaded, warnings=warnings, run=run)
    logs = str(run.logs_dir)
    found = [e.format() for e in raised.value.errors]
    assert len(found) == 2
    for error, (name, ext) in zip(found, (("output", "out"), ("error", "err"))):
        assert error.startswith(str(spec)), error  # located in the spec (at executor)
        assert error.endswith(
            f": executor.{name}: --{name} ({logs + '/inj-%j.' + ext!r}) cannot be written on an "
            f"#SBATCH line; set executor.{name}"
        ), error
