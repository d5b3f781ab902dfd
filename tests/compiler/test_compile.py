"""``nemorun compile``: real artifacts, checked by the real engines (bash, and Slurm when up).

- local: the script runs every point (or the one given), each with its own values;
- every artifact of every example config parses with ``bash -n`` and is byte-identical when
  compiled twice, also across processes with different hash seeds;
- hostile strings (quotes, ``$()``, backticks, newlines, ``*``, leading ``-``, any Unicode
  but NUL and surrogates) reach the running task byte-exact through an environment value, a
  string argument, a path argument and the run name (hypothesis);
- slurm: every sbatch passes ``sbatch --test-only`` when a cluster answers (start one with
  ``tests/infra/slurm.sh start``), and a 4-point sweep runs for real as one job array (slow).

Golden files (``tests/compiler/golden/``) hold representative artifacts, with the checkout's
path replaced by ``<ROOT>``. Regenerate them with::

    NEMORUN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler -k golden
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, CliResult, assert_golden, nemorun
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.torchrun import RUN_ENTRY

CONFIGS = sorted(p for p in (ROOT / "configs").iterdir() if p.suffix in (".yaml", ".toml"))
FIXTURES = Path(__file__).resolve().parent
TARGETS = ("local", "slurm")


def bash(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


# --- local --------------------------------------------------------------------------------------


def test_a_local_sweep_runs_each_point_with_its_own_values(tmp_path: Path) -> None:
    proc = nemorun(
        "compile", "configs/quickstart.yaml", "optim.lr=0.01,0.02,0.03", "--target", "local"
    )
    assert proc.returncode == 0, proc.stderr
    script = tmp_path / "quickstart.sh"
    script.write_text(proc.stdout, encoding="utf-8")

    everything = bash(script, cwd=tmp_path)
    only_one = bash(script, "1", cwd=tmp_path)
    beyond = bash(script, "3", cwd=tmp_path)

    assert everything.returncode == 0, everything.stderr
    starts = [line for line in everything.stdout.splitlines() if "point=" in line]
    assert starts == [
        f"[train] point={i} model=32x2 RELU optim=sgd lr={lr} data=/tmp/data"
        for i, lr in enumerate(["0.01", "0.02", "0.03"])
    ]
    assert only_one.returncode == 0 and "point=1 " in only_one.stdout
    assert "lr=0.02" in only_one.stdout and "point=0" not in only_one.stdout
    assert beyond.returncode == 2 and "the points are 0 to 2" in beyond.stderr


def test_a_failing_point_fails_the_local_script_after_the_others_ran(tmp_path: Path) -> None:
    spec = tmp_path / "fail.yaml"
    spec.write_text(
        f"nemorun: 1\npythonpath: [{json.dumps(str(FIXTURES))}]\n"
        "task: {_target_: fixtures_entry:echo, out: out.jsonl, text: hi, where: /nowhere}\n"
        "executor: {max_parallel: 2}\nsweep: {text: [a, b, c]}\n"
        "# point 1 cannot write its output\n"
        "# (its 'out' is a directory)\n",
        encoding="utf-8",
    )
    spec_with_bad_point = spec.read_text().replace(
        "sweep: {text: [a, b, c]}", "sweep: {out: [one.jsonl, ., two.jsonl]}"
    )
    spec.write_text(spec_with_bad_point, encoding="utf-8")
    script = tmp_path / "fail.sh"
    script.write_text(nemorun("compile", str(spec)).stdout, encoding="utf-8")

    proc = bash(script, cwd=tmp_path)

    assert proc.returncode == 1
    assert (tmp_path / "one.jsonl").exists() and (tmp_path / "two.jsonl").exists()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_example_compiles_parses_and_is_deterministic(
    config: Path, target: str, tmp_path: Path
) -> None:
    first = nemorun("compile", str(config), "--target", target, cwd=tmp_path, PYTHONHASHSEED="1")
    second = nemorun("compile", str(config), "--target", target, cwd=tmp_path, PYTHONHASHSEED="2")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    artifact = tmp_path / f"artifact.{target}"
    artifact.write_text(first.stdout, encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(artifact)], capture_output=True).returncode == 0
    assert list(tmp_path.iterdir()) == [artifact]  # compiling wrote nothing


def test_sets_print_in_the_same_order_whatever_the_hash_seed(tmp_path: Path) -> None:
    spec = tmp_path / "sets.yaml"
    spec.write_text(
        f"nemorun: 1\npythonpath: [{json.dumps(str(FIXTURES))}]\n"
        "task: {_target_: fixtures_entry:probe, out: o, tags: [q, w, e, r, t, y, u, i, o, p]}\n",
        encoding="utf-8",
    )
    outputs = {nemorun("compile", str(spec), PYTHONHASHSEED=str(seed)).stdout for seed in range(4)}
    assert len(outputs) == 1
    assert "tags={'e', 'i', 'o', 'p', 'q', 'r', 't', 'u', 'w', 'y'}" in outputs.pop()


def test_output_dir_holds_the_artifact_and_the_entry(tmp_path: Path) -> None:
    proc = nemorun(
        "compile", "configs/pretrain.yaml", "--target", "slurm", "-o", str(tmp_path / "out")
    )
    assert proc.returncode == 0, proc.stderr
    main, entry = tmp_path / "out" / "pretrain.sbatch", tmp_path / "out" / "entry.py"
    assert os.access(main, os.X_OK) and entry.is_file()
    assert entry.read_text() in main.read_text()
    stdout = nemorun("compile", "configs/pretrain.yaml", "--target", "slurm").stdout
    assert main.read_text() == stdout


def test_list_points(tmp_path: Path) -> None:
    proc = nemorun("compile", "configs/pretrain.yaml", "seed=1,2", "--list-points")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "0  optim.lr=0.0001 seed=1",
        "1  optim.lr=0.0001 seed=2",
        "2  optim.lr=0.0003 seed=1",
        "3  optim.lr=0.0003 seed=2",
        "4  optim.lr=0.001 seed=1",
        "5  optim.lr=0.001 seed=2",
    ]


def test_target_comes_from_the_flag_then_the_spec_then_local(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        f"nemorun: 1\npythonpath: [{json.dumps(str(ROOT / 'examples'))}]\n"
        "task: {_target_: trainlib:train, model: {}, optim: {}}\n"
        "executor: {target: slurm, partition: debug, time: '00:10:00'}\n",
        encoding="utf-8",
    )
    from_spec = nemorun("compile", str(spec))
    as_local = nemorun("compile", str(spec), "--target", "local")
    plain = nemorun("compile", "configs/quickstart.yaml")

    assert "#SBATCH --partition=debug" in from_spec.stdout
    assert "#SBATCH --time=00:10:00" in from_spec.stdout
    assert as_local.returncode == 0 and "#SBATCH" not in as_local.stdout
    assert "warning: executor.partition is an option of slurm" in as_local.stderr
    assert "warning: executor.time is an option of slurm" in as_local.stderr
    assert plain.stdout.startswith("#!/usr/bin/env bash")


def test_a_user_template_directory_comes_first(tmp_path: Path) -> None:
    (tmp_path / "local.sh.j2").write_text(
        "# mine: {{ job.name | q }} has {{ job.num_points }} points\n", encoding="utf-8"
    )
    proc = nemorun("compile", "configs/pretrain.yaml", "--templates", str(tmp_path))
    assert proc.stdout == "# mine: pretrain has 3 points\n"


GOLDEN_CASES = [
    ("quickstart.sh", ["configs/quickstart.yaml", "--target", "local", "+executor.python=python3"]),
    ("quickstart.sbatch", ["configs/quickstart.yaml", "--target", "slurm"]),
    (
        "pretrain-sweep.sh",
        [
            "configs/pretrain.yaml",
            "seed=1,2",
            "+executor.max_parallel=2",
            "+executor.python=python3",
        ],
    ),
    ("pretrain-sweep.sbatch", ["configs/pretrain.yaml", "seed=1,2", "--target", "slurm"]),
    ("finetune.sbatch", ["configs/finetune.toml", "--target", "slurm", "+executor.time=90"]),
]


@pytest.mark.parametrize(("name", "args"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden_artifacts(name: str, args: list[str]) -> None:
    proc = nemorun("compile", *args)
    assert proc.returncode == 0, proc.stderr
    assert_golden(name, proc.stdout)  # nemorun runs under this interpreter: jobs default to it


# --- slurm options ------------------------------------------------------------------------------


def slurm_spec(tmp_path: Path, executor: str) -> Path:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"nemorun: 1\nname: job\npythonpath: [{json.dumps(str(ROOT / 'examples'))}]\n"
        "task: {_target_: trainlib:train, model: {}, optim: {}, steps: 2}\n"
        f"executor:\n  target: slurm\n{executor}",
        encoding="utf-8",
    )
    return spec


@pytest.mark.parametrize(
    "value", ["30", "90:00", "04:00:00", "2-12", "2-12:30", "2-12:30:00", "UNLIMITED", 45]
)
def test_slurm_accepts_every_time_format(tmp_path: Path, value: object) -> None:
    spec = slurm_spec(tmp_path, f"  time: {json.dumps(value)}\n")
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 0, proc.stderr
    assert f"#SBATCH --time={value}\n" in proc.stdout


@pytest.mark.parametrize("value", ["4h", "1:2:3:4", "2-", "-5", "12:00:00:00", "1 day"])
def test_slurm_refuses_a_bad_time_at_its_line(tmp_path: Path, value: str) -> None:
    spec = slurm_spec(tmp_path, f"  partition: debug\n  time: {json.dumps(value)}\n")
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 2
    assert "job.yaml:8:9: executor.time: not a Slurm time: expected minutes, MM:SS" in proc.stderr


def test_slurm_options_become_sbatch_lines(tmp_path: Path) -> None:
    spec = slurm_spec(
        tmp_path,
        "  account: acct\n  partition: debug\n  nodes: 2\n  ntasks_per_node: 1\n"
        "  gpus_per_node: a100:2\n  mem: 4G\n  exclusive: true\n  requeue: false\n"
        '  signal: USR1@90\n  comment: "it\'s a \\\\ test"\n'
        "  extra: {open_mode: append, hint: nomultithread, contiguous: true}\n",
    )
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("#SBATCH")]
    assert lines == [
        "#SBATCH --job-name=job",
        "#SBATCH --nodes=2",
        "#SBATCH --account=acct",
        "#SBATCH --partition=debug",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gpus-per-node=a100:2",
        "#SBATCH --mem=4G",
        "#SBATCH --exclusive",
        "#SBATCH --signal=USR1@90",
        "#SBATCH --comment='it'\"'\"'s a \\\\ test'",
        "#SBATCH --no-requeue",
        "#SBATCH --open-mode=append",
        "#SBATCH --hint=nomultithread",
        "#SBATCH --contiguous",
        "#SBATCH --output=%x-%j.out",
        "#SBATCH --error=%x-%j.err",
    ]


def test_slurm_option_mistakes_are_located_errors(tmp_path: Path) -> None:
    spec = slurm_spec(
        tmp_path,
        "  gpus_per_task: 1\n  mem: 1G\n  mem_per_cpu: 1G\n"
        "  extra: {opne_mode: append, job_name: x, array: 0-3}\n",
    )
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 2
    for message in (
        "executor.mem_per_cpu: mem and mem_per_cpu exclude each other",
        "executor.gpus_per_task: gpus_per_task needs a task count",
        # which list refused it (this machine's sbatch, or the built-in one): test_sbatch_options
        "executor.extra.opne_mode: not ",
        ": expected a long option of sbatch, without the leading '--'; did you mean 'open-mode'?",
        "executor.extra.job_name: 'job-name' has its own option; set executor.job_name",
        "executor.extra.array: nemorun sets --array itself",
    ):
        assert message in proc.stderr


def test_a_slurm_sweep_is_one_array(tmp_path: Path) -> None:
    spec = slurm_spec(tmp_path, "  array_parallelism: 2\n")
    proc = nemorun("compile", str(spec), "steps=1,2,3,4")
    assert "#SBATCH --array=0-3%2" in proc.stdout
    assert "#SBATCH --output=%x-%A_%a.out" in proc.stdout
    assert 'export NEMORUN_POINT="${SLURM_ARRAY_TASK_ID:?' in proc.stdout
    too_big = nemorun("compile", str(spec), "steps=range(1,5)", "+executor.max_array_size=3")
    assert too_big.returncode == 2 and "more than max_array_size (3)" in too_big.stderr


# --- hostile strings ----------------------------------------------------------------------------

HOSTILE = st.one_of(
    st.sampled_from(
        ["", "-n", "--help", "*", "$(touch pwned)", "`touch pwned`", "a'b\"c", "x\ny", "\\", "!!"]
    ),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=30,
    ),
    st.text(alphabet=" \t\n\r'\"$`\\*?[]{}();&|<>~#!-=%", max_size=30),
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=HOSTILE, value=HOSTILE)
def test_hostile_strings_reach_the_job_byte_exact(tmp_path: Path, text: str, value: str) -> None:
    # ``${`` starts an interpolation in the spec language itself: not a shell matter.
    assume("${" not in text and "${" not in value)
    work = tmp_path / f"run{time.monotonic_ns()}"
    work.mkdir()
    out = work / "out.jsonl"
    tree = {
        "nemorun": 1,
        "name": _printable(value) or "x",
        "pythonpath": [str(FIXTURES)],
        "task": {"_target_": "fixtures_entry:echo", "out": str(out), "text": text, "where": text},
        "executor": {"env": {"HOSTILE": value}},
    }
    spec = work / "spec.yaml"
    spec.write_text(yaml.safe_dump(tree, allow_unicode=False), encoding="utf-8")
    loaded, warnings = load_for_target(spec, (), "local")
    script = work / "job.sh"
    script.write_text(compile_spec(loaded, warnings=warnings).main.text, encoding="utf-8")

    proc = bash(script, cwd=work)

    assert proc.returncode == 0, proc.stderr
    assert not (work / "pwned").exists()
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["text"] == text
    assert report["where"] == str(Path(text))
    assert report["env"] == value
    assert report["run_name"] == (_printable(value) or "x")
    assert report["point"] == "0"


# --- slurm, for real ----------------------------------------------------------------------------


@pytest.mark.usefixtures("slurm_cluster")
@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_sbatch_passes_sbatch_test_only(config: Path, tmp_path: Path) -> None:
    script = tmp_path / "job.sbatch"
    script.write_text(nemorun("compile", str(config), "--target", "slurm").stdout)
    proc = subprocess.run(
        ["sbatch", "--test-only", str(script)], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "to start at" in proc.stderr


@pytest.mark.usefixtures("slurm_cluster")
def test_a_hostile_sbatch_value_reaches_slurm_intact(tmp_path: Path) -> None:
    comment = 'it\'s "$(x)" `y` \\ #z  %'
    spec = slurm_spec(tmp_path, f"  comment: {json.dumps(comment)}\n")
    script = tmp_path / "job.sbatch"
    script.write_text(nemorun("compile", str(spec)).stdout)
    job = subprocess.run(
        ["sbatch", "--parsable", "--hold", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert job.returncode == 0, job.stderr
    job_id = job.stdout.strip().split(";")[0]
    try:
        shown = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%k"], capture_output=True, text=True
        )
        assert shown.stdout.rstrip("\n") == comment
    finally:
        subprocess.run(["scancel", job_id], capture_output=True)


@pytest.mark.slow
@pytest.mark.usefixtures("slurm_cluster")
def test_a_four_point_sweep_runs_as_one_slurm_array(tmp_path: Path) -> None:
    proc = nemorun(
        "compile",
        "configs/quickstart.yaml",
        "optim.lr=0.01,0.02,0.03,0.04",
        "steps=5",
        "--target",
        "slurm",
    )
    script = tmp_path / "sweep.sbatch"
    script.write_text(proc.stdout)

    job = subprocess.run(
        ["sbatch", "--parsable", "--wait", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert job.returncode == 0, job.stderr
    job_id = job.stdout.strip().split(";")[0]
    for point, lr in enumerate(["0.01", "0.02", "0.03", "0.04"]):
        log = (tmp_path / f"quickstart-{job_id}_{point}.out").read_text()
        err = (tmp_path / f"quickstart-{job_id}_{point}.err").read_text()
        assert f"point={point} model=32x2 RELU optim=sgd lr={lr} " in log, err
        assert "step 5 loss" in log


@pytest.mark.slow
@pytest.mark.usefixtures("slurm_cluster")
def test_a_two_node_job_runs_the_task_once_per_node(tmp_path: Path) -> None:
    proc = nemorun(
        "compile", "configs/quickstart.yaml", "steps=2", "+executor.nodes=2", "--target", "slurm"
    )
    script = tmp_path / "two.sbatch"
    script.write_text(proc.stdout)

    job = subprocess.run(
        ["sbatch", "--parsable", "--wait", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert job.returncode == 0, job.stderr
    job_id = job.stdout.strip().split(";")[0]
    log = (tmp_path / f"quickstart-{job_id}.out").read_text()
    err = (tmp_path / f"quickstart-{job_id}.err").read_text()
    assert log.count("point=0 model=32x2 RELU optim=sgd lr=0.05") == 2, err


def test_the_specs_templates_key_puts_its_directory_first(tmp_path: Path) -> None:
    mine = tmp_path / "tpl"
    mine.mkdir()
    (mine / "local.sh.j2").write_text("# from the spec's templates: {{ job.name }}\n")
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "nemorun: 1\nname: mine\ntemplates: tpl\n"
        f"pythonpath: [{json.dumps(str(ROOT / 'examples'))}]\n"
        "task: {_target_: trainlib:train, model: {}, optim: {}}\n"
    )
    proc = nemorun("compile", str(spec), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "# from the spec's templates: mine\n"
    spec.write_text(spec.read_text().replace("templates: tpl", "templates: nowhere"))
    proc = nemorun("compile", str(spec), cwd=tmp_path)
    assert (
        proc.returncode == 2
        and "job.yaml:3:12: templates: no such template directory" in proc.stderr
    )


def test_environment_references_in_executor_options_are_refused(tmp_path: Path) -> None:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"nemorun: 1\npythonpath: [{json.dumps(str(ROOT / 'examples'))}]\n"
        "task: {_target_: trainlib:train, model: {}, optim: {}}\n"
        "executor:\n  target: slurm\n  partition: ${oc.env:PART,debug}\n"
        "  env: {DATA: '${oc.env:DATA,/data}'}\n"
    )
    proc = nemorun("compile", str(spec), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "job.yaml:6:14: executor.partition: an environment reference cannot be read here" in (
        proc.stderr
    )
    assert "executor.env" not in proc.stderr


def _printable(text: str) -> str:
    """A run name may not hold control characters (validation refuses them): they become "_";
    the rest of the hostile text stays, quotes, ``$()``, backticks and leading dashes included."""
    return "".join(c if ord(c) >= 32 and ord(c) != 127 else "_" for c in text)


# --- the job's Python ---------------------------------------------------------------------------

HOST_PYTHON = "/opt/venv with space/bin/python"


@pytest.mark.parametrize(
    ("target", "executor", "python"),
    [
        ("local", "", HOST_PYTHON),
        ("slurm", "", HOST_PYTHON),
        ("slurm", "container: {image: 'nvcr.io/nvidia/pytorch:24.01-py3'}", "python3"),
        ("docker", "container: {image: 'python:3.11-slim'}", "python3"),
        ("skypilot", "", "python3"),
        ("local", "python: /usr/bin/python3.12", "/usr/bin/python3.12"),
        ("slurm", "python: /usr/bin/python3.12", "/usr/bin/python3.12"),
        ("docker", "python: /usr/bin/python3.12", "/usr/bin/python3.12"),
        ("skypilot", "python: /usr/bin/python3.12", "/usr/bin/python3.12"),
    ],
)
def test_one_rule_picks_the_jobs_python_on_every_target(
    tmp_path: Path, target: str, executor: str, python: str
) -> None:
    """``executor.python``, else the interpreter nemorun runs under when the job runs on this
    machine's files outside a container, else ``python3`` of the job's own PATH."""
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"nemorun: 1\nname: job\npythonpath: [{json.dumps(str(ROOT / 'examples'))}]\n"
        "task: {_target_: trainlib:train, model: {}, optim: {}, steps: 2}\n"
        f"executor:\n  target: {target}\n  {executor}\n",
        encoding="utf-8",
    )
    loaded, warnings = load_for_target(spec, (), target)
    text = compile_spec(loaded, warnings=warnings, host_python=HOST_PYTHON).main.text
    assert f'{shlex.quote(python)} -c {shlex.quote(RUN_ENTRY)} "$NEMORUN_ENTRY"' in text
    # compile reads nothing of the machine: without host_python, python3
    if python == HOST_PYTHON:
        plain = compile_spec(loaded, warnings=warnings).main.text
        assert f'python3 -c {shlex.quote(RUN_ENTRY)} "$NEMORUN_ENTRY"' in plain


@pytest.mark.parametrize("target", ["local", "slurm", "docker", "skypilot", "ray"])
def test_env_cannot_set_what_nemorun_gives_the_job(
    cli: Callable[..., CliResult], workdir: Path, target: str
) -> None:
    # On Slurm `env: {NEMORUN_POINT: …}` used to override the array index: every element
    # silently ran the same point.
    (workdir / "job.yaml").write_text(
        "nemorun: 1\nname: job\ntask: {command: 'echo $NEMORUN_POINT'}\n"
        f"executor:\n  target: {target}\n  env: {{NEMORUN_POINT: '3', NEMORUN_POINT_DIR: /x}}\n",
        encoding="utf-8",
    )
    result = cli("compile", "job.yaml")
    assert result.code == 2 and result.out == ""
    assert result.error_lines == [
        "job.yaml:6:9: executor.env.NEMORUN_POINT: nemorun sets NEMORUN_POINT itself; "
        "use a name of your own",
        "job.yaml:6:29: executor.env.NEMORUN_POINT_DIR: nemorun sets NEMORUN_POINT_DIR "
        "itself; use a name of your own",
    ]
