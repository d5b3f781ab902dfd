"""``executor.extra`` is checked against the options of this machine's own ``sbatch`` (its
``--help``), else nemorun's built-in list of sbatch 22.05's, and an error says which list
refused an option. Compile itself asks nothing: the CLI and the launcher tell it
(`nemorun.compiler.machine`).

Only Slurm 22.05 can be installed here. A newer Slurm is stood in for by a fake ``sbatch``
script on PATH that prints the ``--version`` and ``--help`` of a newer release (abridged, with
the options 22.05 lacks); nothing else of Slurm is faked, and no job is submitted."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nemorun.api import load_for_target
from nemorun.compiler import machine
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.machine import Machine
from nemorun.compiler.sbatch_options import BUILTIN, from_help

Cli = Callable[..., Any]

SPEC = """\
nemorun: 1
name: job
task: {{command: 'true'}}
executor:
  target: slurm
  extra: {{{extra}}}
"""

NEWER_HELP = """\
Usage: sbatch [OPTIONS(0)...] [ : [OPTIONS(N)...]] script(0) [args(0)...]

Parallel run options:
  -a, --array=indexes         job array index values
  -A, --account=name          charge job to specified account
      --comment=name          arbitrary comment
  -c, --cpus-per-task=ncpus   number of cpus required per task
  -e, --error=err             file for batch script's standard error
  -J, --job-name=jobname      name of job
  -N, --nodes=N               number of nodes on which to run (N = min[-max])
  -o, --output=out            file for batch script's standard output
  -p, --partition=partition   partition requested
      --segment=n             segment size for topology/block
  -t, --time=minutes          time limit
      --tres-per-task=list    list of tres required per task

Help options:
  -h, --help                  show this help message
      --usage                 display brief usage message

Other options:
  -V, --version               output version information and exit
"""


def fake_sbatch(directory: Path, version: str, help_text: str, delay: float = 0) -> Path:
    """An ``sbatch`` that only answers ``--version`` and ``--help``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "help.txt").write_text(help_text, encoding="utf-8")
    script = directory / "sbatch"
    # PATH holds only this directory in the tests: the tools it uses are named by their path.
    cat, sleep = shutil.which("cat"), shutil.which("sleep")
    script.write_text(
        textwrap.dedent(f"""\
            #!/bin/sh
            {sleep} {delay}
            case "$1" in
              --version) echo "slurm {version}" ;;
              --help) {cat} "{directory / "help.txt"}" ;;
              *) echo "this fake sbatch submits nothing" >&2; exit 1 ;;
            esac
            """),
        encoding="utf-8",
    )
    script.chmod(0o755)
    return script


def write_spec(workdir: Path, extra: str) -> Path:
    path = workdir / "job.yaml"
    path.write_text(SPEC.format(extra=extra), encoding="utf-8")
    return path


def test_a_newer_sbatch_on_path_lets_its_own_options_through(
    workdir: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_sbatch(workdir / "bin", "24.11.1", NEWER_HELP)
    monkeypatch.setenv("PATH", str(workdir / "bin"))
    write_spec(workdir, "segment: 2, tres-per-task: 'cpu=2', hint: nomultithread")
    result = cli("validate", "job.yaml")
    assert result.code == 0, result.err
    result = cli("compile", "job.yaml")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    for line in (
        "#SBATCH --segment=2",
        "#SBATCH --tres-per-task=cpu=2",
        "#SBATCH --hint=nomultithread",
    ):
        assert line in lines

    write_spec(workdir, "segmnet: 2, mem-bind: local")
    result = cli("compile", "job.yaml")
    assert result.code == 2
    assert result.error_lines == [
        "job.yaml:6:20: executor.extra.segmnet: not an option of sbatch 24.11.1 on this machine: "
        "expected a long option of sbatch, without the leading '--'; did you mean 'segment'?"
    ]


def test_the_built_in_list_refuses_newer_options_and_says_so(
    workdir: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(workdir / "empty"))  # no sbatch here
    write_spec(workdir, "segment: 2")
    for command in ("validate", "compile"):
        result = cli(command, "job.yaml")
        assert result.code == 2
        assert result.error_lines == [
            "job.yaml:6:20: executor.extra.segment: not in nemorun's built-in list of sbatch "
            "22.05 options: expected a long option of sbatch, without the leading '--'"
        ]


@pytest.mark.skipif(shutil.which("sbatch") is None, reason="no sbatch on PATH")
def test_the_real_sbatch_here_is_asked(workdir: Path, cli: Cli) -> None:
    version = subprocess.run(["sbatch", "--version"], capture_output=True, text=True).stdout
    number = version.split()[-1]
    write_spec(workdir, "open_mode: append, segment: 2")
    result = cli("validate", "job.yaml")
    assert result.code == 2
    assert result.error_lines == [
        f"job.yaml:6:39: executor.extra.segment: not an option of sbatch {number} on this "
        "machine: expected a long option of sbatch, without the leading '--'"
    ]
    help_text = subprocess.run(["sbatch", "--help"], capture_output=True, text=True).stdout
    listed = from_help(version, help_text)
    assert listed is not None
    # What this sbatch's help lists, and the options it leaves out, are all there is to know.
    assert {"account", "extra-node-info", "open-mode", "hint"} <= listed.names
    assert not {"help", "usage", "version"} & listed.names


def test_compile_asks_no_sbatch_unless_told_to(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_sbatch(workdir / "bin", "24.11.1", NEWER_HELP)
    monkeypatch.setenv("PATH", str(workdir / "bin"))
    spec, warnings = load_for_target(write_spec(workdir, "open_mode: append"), (), None)

    def no_commands(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"compile ran a command: {args}")

    monkeypatch.setattr(subprocess, "run", no_commands)
    artifacts = compile_spec(spec, warnings=warnings)  # the default machine: nothing known
    assert "#SBATCH --open-mode=append\n" in artifacts.main.text


def test_an_sbatch_that_does_not_answer_in_time_falls_back_to_the_built_in_list(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = fake_sbatch(workdir / "slow", "24.11.1", NEWER_HELP, delay=5)
    monkeypatch.setattr(machine, "SBATCH_TIMEOUT", 0.5)
    assert Machine(sbatch=str(slow)).sbatch_options() == BUILTIN
    garbled = fake_sbatch(workdir / "garbled", "24.11.1", "no options here\n")
    assert Machine(sbatch=str(garbled)).sbatch_options() == BUILTIN
