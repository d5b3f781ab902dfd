"""Cluster profiles (``clusters.yaml``): defaults under the spec's executor, located errors,
and the ssh command lines built from them (no network here: tests/launchers/test_remote_slurm.py
runs them against a real sshd)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from nemorun.launchers.ssh import Transport
from nemorun.schemas.clusters import Cluster
from tests.conftest import CliResult, WriteSpec

PROFILES = """\
clusters:
  draco:
    host: login.example.org
    remote_dir: /lustre/alice/nemorun
    defaults: {partition: batch, time: "04:00:00"}
  typo:
    host: login.example.org
    remote_dir: /lustre/alice/nemorun
    defaults: {time: forever}
"""


@pytest.fixture
def profiles(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (workdir / "config" / "nemorun").mkdir(parents=True)
    path = workdir / "config" / "nemorun" / "clusters.yaml"
    path.write_text(PROFILES)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(workdir / "config"))
    return path


def spec(write_spec: WriteSpec, executor: str) -> Path:
    return write_spec(
        "exp.yaml",
        f"""
        nemorun: 1
        pythonpath: [{{examples}}]
        executor: {executor}
        task: {{_target_: trainlib:train, model: {{hidden_size: 8}}, optim: {{lr: 0.1}}}}
        """,
    )


def test_the_profile_fills_in_what_the_spec_does_not_set(
    profiles: Path, write_spec: WriteSpec, cli: Callable[..., CliResult]
) -> None:
    spec(write_spec, "{target: slurm, partition: mine}")
    result = cli("compile", "exp.yaml", "--cluster", "draco")
    assert result.code == 0, result.err
    assert "#SBATCH --partition=mine\n#SBATCH --time=04:00:00\n" in result.out
    # without a cluster, nothing of the profile applies
    assert "--time" not in cli("compile", "exp.yaml").out


def test_a_bad_default_is_reported_at_its_line_in_the_profile(
    profiles: Path, write_spec: WriteSpec, cli: Callable[..., CliResult]
) -> None:
    spec(write_spec, "{target: slurm, cluster: typo}")
    result = cli("compile", "exp.yaml")
    assert result.code == 2
    assert result.error_lines == [
        "config/nemorun/clusters.yaml:9:22: executor.time: not a Slurm time: expected minutes, "
        "MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (or UNLIMITED), found 'forever'; "
        "e.g. '04:00:00'"
    ]


def test_an_unknown_cluster_names_the_file_and_the_nearest(
    profiles: Path, write_spec: WriteSpec, cli: Callable[..., CliResult]
) -> None:
    spec(write_spec, "{target: slurm, cluster: drako}")
    result = cli("compile", "exp.yaml")
    assert result.code == 2
    assert result.error_lines == [
        f"exp.yaml:3:27: executor.cluster: no cluster 'drako' in {profiles} "
        "(it has: draco, typo); did you mean 'draco'?"
    ]
    assert cli("compile", "exp.yaml", "--cluster", "a,b").error_lines == [
        "bad --cluster: expected a cluster name (letters, digits, '_', '.', '-'), found 'a,b'; "
        "see: nemorun cluster ls"
    ]


def test_remote_commands_are_quoted_argv_and_never_skip_host_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMORUN_SSH_DIR", str(tmp_path / "sockets"))
    transport = Transport(Cluster("c", "login", "/r", user="alice", port=2222))
    argv = transport.command(["echo", "$(id)", "a b'c"], cwd="/r/x y")
    assert argv[-2:] == ["login", "cd -- '/r/x y' && echo '$(id)' 'a b'\"'\"'c'"]
    assert shlex.split(argv[-1])[4:] == ["echo", "$(id)", "a b'c"]
    assert "StrictHostKeyChecking=no" not in argv and "BatchMode=yes" in argv
    assert argv[-7:-2] == ["-p", "2222", "-l", "alice", "--"]
    assert (tmp_path / "sockets").stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("option", ["per_job: 2", "fail_fast: true"])
def test_a_packed_sweep_is_refused_on_a_cluster(
    profiles: Path, write_spec: WriteSpec, cli: Callable[..., CliResult], option: str
) -> None:
    """A packed element's point files live in the run directory on the cluster, which status and
    cancel read only here: refused at the option rather than showing every point unknown."""
    spec(write_spec, f"{{target: slurm, partition: mine, {option}}}")
    result = cli("compile", "exp.yaml", "--cluster", "draco", "steps=1,2,3")
    assert result.code == 2, result.out
    key = option.split(":")[0]
    assert f"executor.{key}: a packed sweep's point" in result.err
    assert "not supported with a remote cluster yet" in result.err
