"""Preflight against the live test cluster (`nemorun.launchers.slurm_preflight`): what the
cluster cannot honour is a located error with a did-you-mean before anything is submitted
(``nemorun check`` and ``nemorun launch`` alike), the start estimate comes from ``sbatch
--test-only``, and a controller that does not answer is a clear error within the timeout.

The test cluster (`tests/infra/slurm.sh`) has one partition, ``debug``, whose nodes have
``gpu:a100:2``; accounting runs, and the user (root) may charge account ``root`` with QOS
``normal``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from nemorun.launchers.slurm_preflight import (
    Gres,
    gpu_requests,
    parse_assoc,
    parse_gres,
    parse_sinfo,
)
from tests.conftest import CliResult, needs_slurm, nemorun, run_dirs

Cli = Callable[..., CliResult]

SPEC = """
nemorun: 1
name: preflight
task: {command: "echo ran"}
executor:
  target: slurm
  partition: debug
"""


# --- what the cluster's tools print, read (no cluster needed) --------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpu:a100:2", [Gres("gpu", "a100", 2)]),
        ("gpu:a100:2(S:0-1)", [Gres("gpu", "a100", 2)]),
        ("gpu:4,shard:8", [Gres("gpu", None, 4), Gres("shard", None, 8)]),
        ("gpu:h100:8(S:0-1),gpu:a100:4", [Gres("gpu", "h100", 8), Gres("gpu", "a100", 4)]),
        ("(null)", []),
        ("", []),
    ],
)
def test_gres_as_sinfo_prints_it(text: str, expected: list[Gres]) -> None:
    assert parse_gres(text) == expected


def test_partitions_the_default_and_node_groups() -> None:
    partitions, default = parse_sinfo(
        "cpu*|up|(null)\ngpu|up|gpu:a100:4\ngpu|up|gpu:h100:8(S:0)\nold|down|(null)\n"
    )
    assert default == "cpu"
    assert [(p.name, p.up, p.max_gpus(), sorted(p.gpu_types())) for p in partitions] == [
        ("cpu", True, 0, []),
        ("gpu", True, 8, ["a100", "h100"]),
        ("old", False, 0, []),
    ]


def test_associations() -> None:
    rows = parse_assoc("llm|gpu|normal,high\nroot||normal\n")
    assert [(a.account, a.partition, a.qos) for a in rows] == [
        ("llm", "gpu", ("normal", "high")),
        ("root", "", ("normal",)),
    ]


class Options:
    def __init__(self, **values: object) -> None:
        self.__dict__.update(values)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"gpus_per_node": 2}, [("gpus_per_node", None, 2)]),
        ({"gpus_per_node": "a100:2"}, [("gpus_per_node", "a100", 2)]),
        ({"gpus": "h100:16"}, [("gpus", "h100", 16)]),
        ({"gres": "gpu:a100:2"}, [("gres", "a100", 2)]),
        ({"gres": "gpu:2,shard:1"}, [("gres", None, 2)]),
        ({"gres": "gpu"}, [("gres", None, 1)]),
        ({"gres": "gpu:a100"}, [("gres", "a100", None)]),
        ({"gres": "shard:1"}, []),
    ],
)
def test_gpu_requests(
    values: dict[str, object], expected: list[tuple[str, str | None, int | None]]
) -> None:
    assert gpu_requests(Options(**values)) == expected


# --- against the test cluster -------------------------------------------------------------------

REFUSED = [
    # (override, key path, what the message says, the suggestion)
    (
        "executor.partition=debg",
        "executor.partition",
        "partition 'debg' does not exist",
        "did you mean 'debug'?",
    ),
    ("executor.partition=nope", "executor.partition", "expected one of: debug", "sinfo -s"),
    (
        "executor.account=rot",
        "executor.account",
        "cannot charge account 'rot'",
        "did you mean 'root'?",
    ),
    (
        "executor.qos=normall",
        "executor.qos",
        "QOS 'normall' is not allowed",
        "did you mean 'normal'?",
    ),
    (
        "executor.gpus_per_node=h100:1",
        "executor.gpus_per_node",
        "GPUs of type 'h100'",
        "did you mean 'a100'?",
    ),
    ("executor.gres=gpu:a10:1", "executor.gres", "GPUs of type 'a10'", "did you mean 'a100'?"),
    ("executor.gpus_per_node=3", "executor.gpus_per_node", "at most 2 GPUs", "at most 2 per node"),
]


@needs_slurm
@pytest.mark.parametrize(("override", "key", "message", "suggestion"), REFUSED)
def test_check_locates_what_the_cluster_cannot_honour(
    cli: Cli, home: Path, override: str, key: str, message: str, suggestion: str
) -> None:
    Path("exp.yaml").write_text(SPEC.lstrip())
    result = cli("check", "exp.yaml", override)
    assert result.code == 2, result.err
    [line] = result.error_lines
    assert line.startswith(f"override 1 '{override}': {key}: "), line
    assert message in line and suggestion in line
    assert not (home / "nemorun-runs").exists() or not run_dirs(home)


@needs_slurm
def test_a_spec_line_is_named_and_every_task_executor_is_checked(cli: Cli, home: Path) -> None:
    Path("pipe.yaml").write_text(
        "nemorun: 1\nname: pipe\ntasks:\n"
        "  prep:\n    task: {command: 'echo prep'}\n"
        "    executor: {target: slurm, partition: gpuu}\n"
        "  train:\n    task: {command: 'echo train'}\n    after: [prep]\n"
        "    executor: {target: slurm, account: llm}\n"
    )
    result = cli("check", "pipe.yaml")
    assert result.code == 2
    assert result.error_lines == [
        "pipe.yaml:6:42: tasks.prep.executor.partition: partition 'gpuu' does not exist on this "
        "cluster: expected one of: debug, found gpuu; list them: sinfo -s",
        "pipe.yaml:10:40: tasks.train.executor.account: you cannot charge account 'llm' on this "
        "cluster: expected one of: root, found llm; ask: sacctmgr show assoc user=$USER",
    ]


@needs_slurm
def test_check_prints_the_estimate_and_submits_nothing(cli: Cli, home: Path) -> None:
    Path("exp.yaml").write_text(SPEC.lstrip())
    before = _jobs_named("preflight")
    result = cli("check", "exp.yaml", "executor.gpus_per_node=a100:1")
    assert result.code == 0, result.err
    assert result.out.startswith("preflight.sbatch: would start at ")
    assert "in partition debug" in result.out
    assert "slurm would take it" in result.err
    assert _jobs_named("preflight") == before
    assert not (home / "nemorun-runs").exists() or not run_dirs(home)


@needs_slurm
def test_launch_asks_first_refused_means_nothing_submitted(cli: Cli, home: Path) -> None:
    Path("exp.yaml").write_text(SPEC.lstrip())
    before = _jobs_named("preflight")
    refused = cli("launch", "exp.yaml", "executor.partition=debugg")
    assert refused.code == 2
    assert "did you mean 'debug'?" in refused.err
    assert _jobs_named("preflight") == before
    assert run_dirs(home) == []


@needs_slurm
def test_launch_prints_the_estimate_before_it_submits(home: Path, workdir: Path) -> None:
    (workdir / "exp.yaml").write_text(SPEC.lstrip())
    env = {"NEMORUN_HOME": str(home)}
    launched = nemorun("launch", "exp.yaml", "--wait", cwd=workdir, **env)
    assert launched.returncode == 0, launched.stderr
    lines = launched.stderr.splitlines()
    estimate = next(i for i, line in enumerate(lines) if "would start at" in line)
    submitted = next(i for i, line in enumerate(lines) if line.startswith("nemorun: run "))
    assert estimate < submitted
    assert "ran" in launched.stdout
    skipped = nemorun("launch", "exp.yaml", "--no-preflight", cwd=workdir, **env)
    assert skipped.returncode == 0 and "would start" not in skipped.stderr
    nemorun("cancel", skipped.stdout.strip(), cwd=workdir, **env)


@needs_slurm
def test_a_controller_that_does_not_answer_is_a_clear_error(home: Path, workdir: Path) -> None:
    """``SLURM_CONF`` naming no configuration: Slurm's clients wait for a controller they
    cannot find. Each command gives up within ``NEMORUN_SLURM_TIMEOUT`` (the subprocess
    timeout catches a hang) and says so; records stay as they were."""
    (workdir / "exp.yaml").write_text(SPEC.replace("echo ran", "sleep 60").lstrip())
    env = {"NEMORUN_HOME": str(home)}
    run_id = nemorun("launch", "exp.yaml", cwd=workdir, **env).stdout.strip()
    record = (home / "nemorun-runs" / run_id / "run.json").read_bytes()
    lost = {**env, "SLURM_CONF": str(workdir / "no-such.conf"), "NEMORUN_SLURM_TIMEOUT": "3"}
    try:
        for argv, code, said in [
            (("check", "exp.yaml"), 1, "sinfo did not answer within 3 s"),
            (("launch", "exp.yaml"), 1, "sinfo did not answer within 3 s"),
            (("status", run_id), 0, "did not answer within 3 s; showing the states last seen"),
            (("ls",), 0, "the slurm scheduler did not answer (squeue did not answer within 3 s)"),
        ]:
            result = nemorun(*argv, cwd=workdir, timeout=60, **lost)
            assert result.returncode == code, (argv, result.stderr)
            assert said in result.stderr, (argv, result.stderr)
            assert "Traceback" not in result.stderr
        assert len(run_dirs(home)) == 1
        assert (home / "nemorun-runs" / run_id / "run.json").read_bytes() == record
    finally:
        nemorun("cancel", run_id, cwd=workdir, **env)


def _jobs_named(name: str) -> list[str]:
    result = subprocess.run(
        ["squeue", "-h", "-n", name, "-o", "%i"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.split())
