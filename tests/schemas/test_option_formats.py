"""Option formats are declared once (on the option fields) and enforced everywhere alike:
``nemorun validate`` and ``nemorun compile`` refuse a bad value with the same located error at
its line, the spec's JSON Schema refuses it too, and a good value passes all three. For Slurm,
the real ``sbatch`` is asked as well: it refuses what nemorun refuses and accepts what it lets
through."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import needs_slurm

from nemorun.api import load
from nemorun.schemas.jsonschema import spec_schema

Cli = Callable[..., Any]

SPEC = """\
nemorun: 1
name: fmt
task: {{command: 'true'}}
executor:
  target: {target}
  {option}
"""

TIME = "minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (or UNLIMITED)"
MEMORY = "megabytes, or a whole number with a unit K, M, G or T, like 4000 or 64G"
GPUS = "a count or type:count, like 8 or a100:8"
PORTS = "a port 1 to 65535, or a range 'from-to' with from <= to"

# (target, the option's line under executor, the error; its line is always 6).
BAD = [
    ("slurm", "time: forever", f"6:9: executor.time: not a Slurm time: expected {TIME}, "
     "found 'forever'; e.g. '04:00:00'"),
    ("slurm", "time: -5", "6:9: executor.time: must be at least 0: found -5"),
    ("slurm", "time: '4h'", f"6:9: executor.time: not a Slurm time: expected {TIME}, "
     "found '4h'; e.g. '04:00:00'"),
    ("slurm", "time_min: '1:2:3:4'", f"6:13: executor.time_min: not a Slurm time: expected "
     f"{TIME}, found '1:2:3:4'; e.g. '04:00:00'"),
    ("slurm", "mem: 4.5", f"6:8: executor.mem: not a Slurm memory size: expected {MEMORY}, "
     "found '4.5'; e.g. '64G'"),
    ("slurm", "time: 1.5", f"6:9: executor.time: not a Slurm time: expected {TIME}, "
     "found '1.5'; e.g. '04:00:00'"),
    ("slurm", "mem: lots", f"6:8: executor.mem: not a Slurm memory size: expected {MEMORY}, "
     "found 'lots'; e.g. '64G'"),
    ("slurm", "mem_per_cpu: 4.5G", "6:16: executor.mem_per_cpu: not a Slurm memory size: "
     f"expected {MEMORY}, found '4.5G'; e.g. '64G'"),
    ("slurm", "mem_per_gpu: 4 G", "6:16: executor.mem_per_gpu: not a Slurm memory size: "
     f"expected {MEMORY}, found '4 G'; e.g. '64G'"),
    ("slurm", "gpus: two", f"6:9: executor.gpus: not a GPU count: expected {GPUS}, "
     "found 'two'; e.g. 'a100:8'"),
    ("slurm", "gpus_per_node: a100:x", "6:18: executor.gpus_per_node: not a GPU count: "
     f"expected {GPUS}, found 'a100:x'; e.g. 'a100:8'"),
    ("slurm", "gpus_per_task: -1", "6:18: executor.gpus_per_task: must be at least 0: found -1"),
    ("slurm", "nodes: 0", "6:10: executor.nodes: must be at least 1: found 0"),
    ("slurm", "ntasks: 0", "6:11: executor.ntasks: must be at least 1: found 0"),
    ("slurm", "ntasks_per_node: -2", "6:20: executor.ntasks_per_node: must be at least 1: "
     "found -2"),
    ("slurm", "cpus_per_task: 0", "6:18: executor.cpus_per_task: must be at least 1: found 0"),
    ("slurm", "array_parallelism: 0", "6:22: executor.array_parallelism: must be at least 1: "
     "found 0"),
    ("slurm", "max_array_size: 0", "6:19: executor.max_array_size: must be at least 1: found 0"),
    ("slurm", "mail_type: END,FIAL", "6:14: executor.mail_type: not a list of mail types: "
     "expected comma-separated NONE, BEGIN, END, FAIL, REQUEUE, ALL, INVALID_DEPEND, "
     "STAGE_OUT, TIME_LIMIT, TIME_LIMIT_90, TIME_LIMIT_80, TIME_LIMIT_50, ARRAY_TASKS, found "
     "'END,FIAL'; e.g. 'END,FAIL'"),
    ("slurm", "signal: USR1@soon", "6:11: executor.signal: not a signal: expected "
     "[R:|B:]SIGNAL[@SECONDS], like USR1@90, found 'USR1@soon'; e.g. 'USR1@90'"),
    ("docker", "shm_size: 16 gigs", "6:13: executor.shm_size: not a size: expected a number "
     "with a unit, like 64m or 16g, found '16 gigs'; e.g. '16g'"),
    ("docker", "gpus: 0", "6:9: executor.gpus: must be at least 1: found 0"),
    ("docker", "gpus: '0'", "6:9: executor.gpus: not a --gpus value: expected 'all', a count "
     "or 'device=0,1', found '0'; e.g. 'all'"),
    ("skypilot", "instance_type: ' '", "6:18: executor.instance_type: not an instance type: "
     "expected a name like p5.48xlarge, found ' '"),
    ("docker", "gpus: a b", "6:9: executor.gpus: not a --gpus value: expected 'all', a count "
     "or 'device=0,1', found 'a b'; e.g. 'all'"),
    ("docker", "ipc: hots", "6:8: executor.ipc: not an IPC mode: expected none, private, "
     "shareable, host or container:NAME, found 'hots'; did you mean 'host'?"),
    ("docker", "user: root me", "6:9: executor.user: not a user: expected NAME or UID, "
     "optionally followed by :GROUP or :GID, found 'root me'"),
    ("docker", "labels: {a=b: x}", "6:12: executor.labels.a=b: not a label key: expected "
     "letters, digits, '.', '_', '/' and '-', like com.example.team, found 'a=b'"),
    ("local", "max_parallel: 0", "6:17: executor.max_parallel: must be at least 1: found 0"),
    ("local", "env: {1BAD: x}", "6:9: executor.env.1BAD: not a valid environment variable "
     "name: expected letters, digits and '_', not starting with a digit, found '1BAD'"),
    ("skypilot", "cpus: 0", "6:9: executor.cpus: must be more than 0: found 0"),
    ("skypilot", "cpus: many", "6:9: executor.cpus: not a cpus amount: expected a positive "
     "number, or '<number>+' for at least, found 'many'; e.g. '8+'"),
    ("skypilot", "memory: 0GB", "6:11: executor.memory: not a memory amount: expected GB as a "
     "positive number, '<number><unit>' (KB, MB, GB, TB, PB) or '<number>+' for at least, "
     "found '0GB'; e.g. '32+'"),
    ("skypilot", "accelerators: H100:0", "6:17: executor.accelerators: not an accelerator "
     "request: expected <name>[:<count>] with a positive count, like H100:8, found 'H100:0'; "
     "e.g. 'H100:8'"),
    ("skypilot", "disk_size: 0", "6:14: executor.disk_size: must be at least 1: found 0"),
    ("skypilot", "infra: awz/us-east-1", "6:10: executor.infra: not an infra: expected "
     "cloud[/region[/zone]], '*' for any cloud, or k8s[/<context>], found 'awz/us-east-1'; "
     "did you mean 'aws'?"),
    ("skypilot", "job_recovery: failovr", "6:17: executor.job_recovery: not a recovery "
     "strategy: expected one of EAGER_NEXT_REGION, FAILOVER, found 'failovr'; did you mean "
     "'FAILOVER'?"),
    ("skypilot", "ports: [70000]", "6:11: executor.ports[0]: must be at most 65535: found 70000"),
    ("skypilot", "file_mounts: {data: /tmp}", "6:17: executor.file_mounts.data: not a mount "
     "destination: expected an absolute path on the cluster (starting with '/' or '~'), not "
     "ending with '/', found 'data'"),
    # Names that fit the format but are nemorun's own (`Format.reserved`).
    ("local", "env: {NEMORUN_POINT: '3'}", "6:9: executor.env.NEMORUN_POINT: nemorun sets "
     "NEMORUN_POINT itself; use a name of your own"),
    ("slurm", "env: {NEMORUN_RUN_DIR: /x}", "6:9: executor.env.NEMORUN_RUN_DIR: nemorun sets "
     "NEMORUN_RUN_DIR itself; use a name of your own"),
    ("docker", "labels: {nemorun.point: x}", "6:12: executor.labels.nemorun.point: nemorun "
     "sets the label 'nemorun.point' itself"),
]  # fmt: skip

# (target, the option's line, what the compiled artifact holds for it).
GOOD = [
    ("slurm", "time: 30", "#SBATCH --time=30\n"),
    ("slurm", "time: '04:00:00'", "#SBATCH --time=04:00:00\n"),
    ("slurm", "time: 2-12:30", "#SBATCH --time=2-12:30\n"),
    ("slurm", "time: UNLIMITED", "#SBATCH --time=UNLIMITED\n"),
    ("slurm", "time_min: 10", "#SBATCH --time-min=10\n"),
    ("slurm", "mem: 4G", "#SBATCH --mem=4G\n"),
    ("slurm", "mem_per_cpu: '4000'", "#SBATCH --mem-per-cpu=4000\n"),
    ("slurm", "mem_per_gpu: 64gb", "#SBATCH --mem-per-gpu=64gb\n"),
    ("slurm", "gpus_per_node: a100:2", "#SBATCH --gpus-per-node=a100:2\n"),
    ("slurm", "gpus: 0", "#SBATCH --gpus=0\n"),
    ("slurm", "ntasks: 2", "#SBATCH --ntasks=2\n"),
    ("slurm", "cpus_per_task: 1", "#SBATCH --cpus-per-task=1\n"),
    ("slurm", "mail_type: END,FAIL", "#SBATCH --mail-type=END,FAIL\n"),
    ("slurm", "signal: B:USR1@90", "#SBATCH --signal=B:USR1@90\n"),
    ("docker", "shm_size: 1.5g", "--shm-size 1.5g"),
    ("docker", "shm_size: 1.5", "--shm-size 1.5"),
    ("docker", "gpus: all", "--gpus all"),
    ("docker", "gpus: 2", "--gpus 2"),
    ("docker", "ipc: container:other", "--ipc container:other"),
    ("docker", "labels: {com.example.team: ml}", "com.example.team=ml"),
    ("local", "max_parallel: 2", "for target local"),
    ("skypilot", "cpus: 8+", 'cpus: "8+"'),
    ("skypilot", "memory: 64GB+", 'memory: "64GB+"'),
    ("skypilot", "accelerators: A100:0.5", 'accelerators: "A100:0.5"'),
    ("skypilot", "infra: k8s/my-context", 'infra: "k8s/my-context"'),
    ("skypilot", "ports: [8080, '9000-9010']", "9000-9010"),
    ("skypilot", "job_recovery: failover", 'job_recovery: "failover"'),
    ("skypilot", "file_mounts: {'~/ckpt': 's3://bucket/ckpt'}", "s3://bucket/ckpt"),
]


def spec_text(target: str, option: str) -> str:
    return SPEC.format(target=target, option=option)


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> jsonschema.protocols.Validator:
    """The JSON Schema of these specs (their task is a command, so one schema fits all)."""
    path = tmp_path_factory.mktemp("schema") / "exp.yaml"
    path.write_text(spec_text("local", "max_parallel: 1"), encoding="utf-8")
    body = spec_schema(load(path))
    return jsonschema.Draft202012Validator(body)


def ids(case: tuple[str, ...]) -> str:
    return f"{case[0]}-{case[1]}"


@pytest.mark.parametrize("case", BAD, ids=ids)
def test_a_bad_option_value_is_refused_alike_by_validate_compile_and_the_schema(
    workdir: Path, cli: Cli, schema: jsonschema.protocols.Validator, case: tuple[str, str, str]
) -> None:
    target, option, error = case
    text = spec_text(target, option)
    (workdir / "exp.yaml").write_text(text, encoding="utf-8")
    for command in ("validate", "compile"):
        result = cli(command, "exp.yaml")
        assert result.code == 2, (command, result.err)
        assert result.error_lines == [f"exp.yaml:{error}"], command
        assert result.out == ""
    assert not schema.is_valid(yaml.safe_load(text))
    without = yaml.safe_load(text.replace(f"  {option}\n", ""))
    assert schema.is_valid(without), "the schema refuses the spec for another reason"


@pytest.mark.parametrize("case", GOOD, ids=ids)
def test_a_good_option_value_passes_validate_compile_and_the_schema(
    workdir: Path, cli: Cli, schema: jsonschema.protocols.Validator, case: tuple[str, str, str]
) -> None:
    target, option, written = case
    text = spec_text(target, option)
    (workdir / "exp.yaml").write_text(text, encoding="utf-8")
    result = cli("validate", "exp.yaml")
    assert result.code == 0, result.err
    result = cli("compile", "exp.yaml")
    assert result.code == 0, result.err
    assert written in result.out
    assert schema.is_valid(yaml.safe_load(text)), list(schema.iter_errors(yaml.safe_load(text)))


# Refused by validate and compile alike, beyond what a JSON Schema can say (the order of a range).
BEYOND_THE_SCHEMA = [
    ("skypilot", "ports: ['10-5']", f"6:11: executor.ports[0]: not a port or port range: "
     f"expected {PORTS}, found '10-5'"),
]  # fmt: skip


@pytest.mark.parametrize("case", BEYOND_THE_SCHEMA, ids=ids)
def test_a_rule_beyond_the_schema_is_still_refused_alike_by_validate_and_compile(
    workdir: Path, cli: Cli, case: tuple[str, str, str]
) -> None:
    target, option, error = case
    (workdir / "exp.yaml").write_text(spec_text(target, option), encoding="utf-8")
    for command in ("validate", "compile"):
        result = cli(command, "exp.yaml")
        assert (result.code, result.error_lines) == (2, [f"exp.yaml:{error}"]), command


def _sbatch_accepts(tmp_path: Path, directive: str) -> bool:
    script = tmp_path / "probe.sbatch"
    script.write_text(f"#!/bin/bash\n{directive}\ntrue\n", encoding="utf-8")
    proc = subprocess.run(
        ["sbatch", "--test-only", str(script)], capture_output=True, text=True, timeout=60
    )
    return proc.returncode == 0 and "Invalid" not in proc.stderr


@needs_slurm
def test_sbatch_itself_agrees_with_the_slurm_formats(tmp_path: Path) -> None:
    """What nemorun refuses, sbatch refuses too; what it writes, sbatch takes (``--test-only``
    submits nothing). Values a cluster may refuse for want of resources are left out."""
    refused = ["--time=forever", "--time=1:2:3:4", "--mem=lots", "--mem=4.5G", "--ntasks=0"]
    refused += ["--cpus-per-task=0", "--mail-type=FIAL", "--signal=USR1@soon"]
    assert [d for d in refused if _sbatch_accepts(tmp_path, f"#SBATCH {d}")] == []
    for _, option, written in (case for case in GOOD if case[0] == "slurm"):
        if "gpu" in option or "ntasks" in option:
            continue  # the test cluster has no GPUs and one CPU per node
        assert _sbatch_accepts(tmp_path, written.strip()), option


def test_validate_and_compile_agree_on_other_targets_options_and_on_rules_between_options(
    workdir: Path, cli: Cli
) -> None:
    (workdir / "exp.yaml").write_text(
        "nemorun: 1\nname: fmt\ntask: {command: 'true'}\n"
        "executor:\n  partition: debug\n  time: forever\n  mem: 1G\n  mem_per_cpu: 1G\n",
        encoding="utf-8",
    )
    # For the spec's own target (local), Slurm's options are dropped with a warning each...
    for command in ("validate", "compile"):
        result = cli(command, "exp.yaml")
        assert result.code == 0, (command, result.err)
        assert [line for line in result.err.splitlines() if "slurm" in line] == [
            f"warning: executor.{key} is an option of slurm; target local does not use it"
            for key in ("partition", "time", "mem", "mem_per_cpu")
        ]
    # ...and for --target slurm, both check them: formats, then the rules between options.
    for command in ("validate", "compile"):
        result = cli(command, "exp.yaml", "--target", "slurm")
        assert result.code == 2
        assert result.error_lines == [
            f"exp.yaml:6:9: executor.time: not a Slurm time: expected {TIME}, found 'forever'; "
            "e.g. '04:00:00'"
        ]
    text = (workdir / "exp.yaml").read_text(encoding="utf-8")
    (workdir / "exp.yaml").write_text(text.replace("forever", "'10'"), encoding="utf-8")
    for command in ("validate", "compile"):
        result = cli(command, "exp.yaml", "--target", "slurm")
        assert result.code == 2
        assert result.error_lines == [
            "exp.yaml:8:16: executor.mem_per_cpu: mem and mem_per_cpu exclude each other: "
            "expected only one of them"
        ]


def test_schema_reads_a_spec_as_validate_does(workdir: Path, cli: Cli) -> None:
    (workdir / "exp.yaml").write_text(spec_text("local", "partition: debug"), encoding="utf-8")
    for command in ("validate", "schema"):
        result = cli(command, "exp.yaml")
        assert result.code == 0, (command, result.err)
        assert "warning: executor.partition is an option of slurm" in result.err
