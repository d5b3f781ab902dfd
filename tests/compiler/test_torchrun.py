"""``launcher: {kind: torchrun}`` for the local and slurm targets.

torch is not installed here (the real DDP example belongs to part 3, with the ``torch==2.13.0``
extra), so the real runs put a **fake** ``torchrun`` first on ``PATH`` (`FAKE_TORCHRUN`): it
prints its argv and the rank environment it would set, then runs the program once per local
worker with ``RANK``/``LOCAL_RANK``/``WORLD_SIZE`` set. What is checked for real: the command
the artifact runs (golden), that bash parses it, that ``sbatch --test-only`` accepts it, and
that a 2-node Slurm job and a local job start torchrun with node ranks 0 and 1, the rendezvous
on the allocation's first node and ``--rdzv-id`` = the job id.

Golden files: ``tests/compiler/golden/torchrun*``; regenerate all golden files with::

    NEMORUN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler -k golden
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_golden, nemorun

from nemorun.compiler import torchrun
from nemorun.compiler.render import shell_quote
from nemorun.compiler.torchrun import Macros, Var, Word
from nemorun.schemas.options import LauncherOptions

NEMORUN = [sys.executable, "-m", "nemorun.cli"]


FAKE_TORCHRUN = '''#!/usr/bin/env python3
"""A fake torchrun for tests (torch is not installed): prints its argv and the rank environment
it sets, then runs the program once per local worker, in turn."""
import json
import os
import subprocess
import sys

args = sys.argv[1:]
shown = [a if len(a) < 200 else f"<{len(a)} bytes>" for a in args]
print("torchrun argv " + json.dumps(shown), flush=True)
opts = {}
while args and args[0].startswith("--"):
    word = args.pop(0)
    if word == "--no-python":
        opts["no_python"] = "1"
        continue
    name, eq, value = word[2:].partition("=")
    opts[name] = value if eq else args.pop(0)
if "no_python" not in opts:
    sys.exit("fake torchrun: expected --no-python")
nnodes, nproc = int(opts["nnodes"]), int(opts["nproc-per-node"])
node_rank = int(opts["node-rank"])
if not 0 <= node_rank < nnodes:
    sys.exit(f"fake torchrun: node rank {node_rank} is not in 0..{nnodes - 1}")
host, _, port = opts["rdzv-endpoint"].rpartition(":")
print(
    f"torchrun node={os.environ.get('SLURMD_NODENAME', 'local')} node_rank={node_rank} "
    f"nnodes={nnodes} nproc_per_node={nproc} backend={opts['rdzv-backend']} "
    f"endpoint={opts['rdzv-endpoint']} id={opts['rdzv-id']}",
    flush=True,
)
status = 0
for local in range(nproc):
    env = {
        **os.environ,
        "RANK": str(node_rank * nproc + local),
        "LOCAL_RANK": str(local),
        "WORLD_SIZE": str(nnodes * nproc),
        "LOCAL_WORLD_SIZE": str(nproc),
        "GROUP_RANK": str(node_rank),
        "MASTER_ADDR": host,
        "MASTER_PORT": port,
        "TORCHELASTIC_RUN_ID": opts["rdzv-id"],
    }
    status |= subprocess.run(args, env=env).returncode
sys.exit(status)
'''

WORKER = """import os


def report(tag: str) -> None:
    keys = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "NEMORUN_POINT")
    print(f"worker {tag} " + " ".join(f"{k}={os.environ.get(k)}" for k in keys), flush=True)
"""


def fake_torchrun(tmp_path: Path) -> dict[str, str]:
    """The environment that puts the fake torchrun first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "torchrun").write_text(FAKE_TORCHRUN, encoding="utf-8")
    (bin_dir / "torchrun").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def worker_spec(tmp_path: Path, executor: str, launcher: str = "") -> Path:
    (tmp_path / "ranks.py").write_text(WORKER, encoding="utf-8")
    spec = tmp_path / "tr.yaml"
    spec.write_text(
        "nemorun: 1\nname: tr\npythonpath: [.]\ntask: {_target_: ranks:report, tag: hello}\n"
        f"executor: {executor}\n"
        f"launcher: {{kind: torchrun, nproc_per_node: 2{launcher}}}\n",
        encoding="utf-8",
    )
    return spec


# --- the module's API ---------------------------------------------------------------------------


def test_words_quote_literals_and_expand_variables(tmp_path: Path) -> None:
    python = "/opt/my env/bin/python3 'x' $(no) `no`"
    macros = Macros(
        node_rank=Word.of(Var("RANK_VAR")),
        head_node=Word.of(Var("HEAD")),
        job_id=Word.of("id-$(no)-", Var("JOB")),
    )
    words = torchrun.command(
        LauncherOptions(kind="torchrun", nproc_per_node=4, rdzv_port=1234),
        3,
        macros,
        torchrun.python_program(python, Var("ENTRY")),
    )
    line = " ".join(shell_quote(w) for w in words)
    proc = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {line}"],
        env={"RANK_VAR": "2", "HEAD": "node 1", "JOB": "77", "ENTRY": "print('hi')\n"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:-2] == [
        "torchrun",
        "--nnodes=3",
        "--nproc-per-node=4",
        "--node-rank=2",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=node 1:1234",
        "--rdzv-id=id-$(no)-77",
        "--no-python",
        python,
        "-u",
        "-c",
        torchrun.RUN_ENTRY,
        "print('hi')",
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_variable_must_be_a_name() -> None:
    with pytest.raises(ValueError, match="not a shell variable name"):
        Var("$(x)")
    assert shell_quote(Word.of("")) == "''"
    assert shell_quote(Word.of("a", Var("B"), 3)) == 'a"$B"3'


# --- compiled artifacts -------------------------------------------------------------------------

GOLDEN_CASES = [
    (
        "torchrun-2node.sbatch",
        [
            "configs/quickstart.yaml",
            "--target",
            "slurm",
            "+launcher.kind=torchrun",
            "+launcher.nproc_per_node=2",
            "+executor.nodes=2",
        ],
    ),
    (
        "torchrun.sh",
        [
            "configs/quickstart.yaml",
            "--target",
            "local",
            "+launcher.kind=torchrun",
            "+launcher.nproc_per_node=2",
            "+launcher.rdzv_port=29600",
            "+executor.python=python3",
        ],
    ),
]


@pytest.mark.parametrize(("name", "args"), GOLDEN_CASES, ids=[c[0] for c in GOLDEN_CASES])
def test_golden_torchrun_artifacts(name: str, args: list[str], tmp_path: Path) -> None:
    proc = nemorun("compile", *args)
    assert proc.returncode == 0, proc.stderr
    assert_golden(name, proc.stdout)  # nemorun runs under this interpreter: jobs default to it
    artifact = tmp_path / name
    artifact.write_text(proc.stdout, encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(artifact)], capture_output=True).returncode == 0


def test_the_slurm_command_runs_one_torchrun_per_node(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, "{target: slurm, nodes: 2}", ", rdzv_port: 29555")
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert 'NEMORUN_HEAD_NODE="$(scontrol show hostnames "$SLURM_JOB_NODELIST")"' in text
    srun = text.rstrip("\n").splitlines()[-1]
    assert srun.startswith(
        "srun --nodes=2 --ntasks=2 --ntasks-per-node=1 --kill-on-bad-exit=1 bash -c 'exec "
        'torchrun --nnodes=2 --nproc-per-node=2 --node-rank="$SLURM_NODEID" '
        '--rdzv-backend=c10d --rdzv-endpoint="$NEMORUN_HEAD_NODE":29555 '
        f'--rdzv-id="$SLURM_JOB_ID" --no-python {sys.executable} -u -c "$1" "$2"\''
    )  # nemorun runs under sys.executable: Slurm jobs default to it
    runner = shell_quote(torchrun.RUN_ENTRY)
    assert srun.endswith(f' nemorun-torchrun {runner} "$NEMORUN_ENTRY"')
    assert "random" not in text.lower() and "uuid" not in text.lower()
    again = nemorun("compile", str(spec))
    assert again.stdout == text


def test_a_script_task_runs_under_torchrun_as_given(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "nemorun: 1\nname: s\ntask: {script: train.py, args: [--lr, '0.1']}\n"
        "executor: {target: slurm, nodes: 2, python: /venv/bin/python}\n"
        "launcher: {kind: torchrun, nproc_per_node: 8}\n",
        encoding="utf-8",
    )
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 0, proc.stderr
    srun = proc.stdout.rstrip("\n").splitlines()[-1]
    assert srun.endswith("--no-python /venv/bin/python train.py --lr 0.1' nemorun-torchrun")


def test_torchrun_options_are_checked_at_their_line(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, "{target: slurm}")
    proc = nemorun("compile", str(spec), "launcher.nproc_per_node=0", "+launcher.rdzv_port=70000")
    assert proc.returncode == 2
    assert "launcher.nproc_per_node: must be at least 1: found 0" in proc.stderr
    assert "launcher.rdzv_port: must be at most 65535: found 70000" in proc.stderr
    assert proc.stdout == ""


def test_slurm_warns_that_task_counts_size_the_batch_job_only(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, "{target: slurm, nodes: 2, ntasks_per_node: 2}")
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 0, proc.stderr
    assert "warning: executor.ntasks_per_node sizes the batch job only" in proc.stderr
    assert "#SBATCH --ntasks-per-node=2" in proc.stdout
    assert "srun --nodes=2 --ntasks=2 --ntasks-per-node=1 " in proc.stdout


def test_local_torchrun_points_run_one_at_a_time(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, "{max_parallel: 2}")
    swept = nemorun("compile", str(spec), "tag=a,b")
    single = nemorun("compile", str(spec))
    assert swept.returncode == 2
    assert "executor.max_parallel: under launcher torchrun, local points run one at a time" in (
        swept.stderr
    )
    assert single.returncode == 0, single.stderr  # one point: nothing runs beside it


def test_local_rendezvous_ids_come_from_the_run_name_and_point(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, "{}")
    proc = nemorun("compile", str(spec), "--target", "local")
    assert proc.returncode == 0, proc.stderr
    assert "--node-rank=0 --rdzv-backend=c10d --rdzv-endpoint=localhost:29500 " in proc.stdout
    assert '--rdzv-id=nemorun-tr-"$NEMORUN_POINT" --no-python ' in proc.stdout


def test_the_sbatch_command_survives_hostile_words(tmp_path: Path) -> None:
    """The nested quoting (srun → bash -c → torchrun → python -c), run by bash with stand-ins
    for srun (one task, node 0) and scontrol, and the fake torchrun."""
    odd = tmp_path / "py 'q' \"$(touch pwned)\" `x` * -n"
    odd.mkdir()
    (odd / "python").symlink_to(sys.executable)
    spec = worker_spec(tmp_path, json.dumps({"target": "slurm", "python": str(odd / "python")}))
    tag = 'it\'s "$(x)" `y`'
    spec.write_text(spec.read_text().replace("tag: hello", f"tag: {json.dumps(tag)}"))
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 0, proc.stderr
    script = tmp_path / "tr.sbatch"
    script.write_text(proc.stdout, encoding="utf-8")
    env = fake_torchrun(tmp_path)
    stand_ins = {
        "srun": '#!/bin/bash\nwhile [[ $1 == --* ]]; do shift; done\nSLURM_NODEID=0 exec "$@"\n',
        "scontrol": "#!/bin/sh\nprintf 'nodeA\\nnodeB\\n'\n",
    }
    for name, text in stand_ins.items():
        (tmp_path / "bin" / name).write_text(text, encoding="utf-8")
        (tmp_path / "bin" / name).chmod(0o755)
    env |= {"SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "node[A-B]"}

    run = subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )

    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "pwned").exists()
    argv = json.loads(
        next(x for x in run.stdout.splitlines() if x.startswith("torchrun argv "))[14:]
    )
    assert argv[:8] == [
        "--nnodes=1",
        "--nproc-per-node=2",
        "--node-rank=0",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=nodeA:29500",
        "--rdzv-id=42",
        "--no-python",
        str(odd / "python"),
    ]
    workers = [x for x in run.stdout.splitlines() if x.startswith("worker ")]
    assert workers == [
        f"worker {tag} RANK={r} LOCAL_RANK={r} WORLD_SIZE=2 MASTER_ADDR=nodeA NEMORUN_POINT=0"
        for r in range(2)
    ]


@pytest.mark.usefixtures("slurm_cluster")
def test_torchrun_sbatch_passes_sbatch_test_only(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, "{target: slurm, nodes: 2, gpus_per_node: 2}")
    for args in ([], ["tag=a,b,c"]):
        script = tmp_path / "tr.sbatch"
        proc = nemorun("compile", str(spec), *args)
        assert proc.returncode == 0, proc.stderr
        script.write_text(proc.stdout, encoding="utf-8")
        test = subprocess.run(
            ["sbatch", "--test-only", str(script)], cwd=tmp_path, capture_output=True, text=True
        )
        assert test.returncode == 0, test.stderr
        assert "to start at" in test.stderr and "node[1-2]" in test.stderr


# --- real runs, with the fake torchrun ---------------------------------------------------------


def _torchrun_lines(log: str) -> dict[int, str]:
    """node rank → the fake torchrun's summary line."""
    found = {}
    for line in log.splitlines():
        match = re.match(r"torchrun node=\S+ node_rank=(\d+) ", line)
        if match:
            found[int(match.group(1))] = line
    return found


@pytest.mark.slow
@pytest.mark.usefixtures("slurm_cluster")
def test_a_two_node_torchrun_job_runs_on_slurm(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, "{target: slurm, nodes: 2}")
    script = tmp_path / "tr.sbatch"
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 0, proc.stderr
    script.write_text(proc.stdout, encoding="utf-8")

    job = subprocess.run(
        ["sbatch", "--parsable", "--wait", str(script)],
        cwd=tmp_path,
        env=fake_torchrun(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert job.returncode == 0, job.stderr
    job_id = job.stdout.strip().split(";")[0]
    log = (tmp_path / f"tr-{job_id}.out").read_text()
    err = (tmp_path / f"tr-{job_id}.err").read_text()
    lines = _torchrun_lines(log)
    assert sorted(lines) == [0, 1], log + err
    for rank, line in lines.items():
        assert f"node=node{rank + 1} node_rank={rank} nnodes=2 nproc_per_node=2" in line
        assert f"backend=c10d endpoint=node1:29500 id={job_id}" in line
    workers = sorted(line for line in log.splitlines() if line.startswith("worker "))
    assert workers == [
        f"worker hello RANK={r} LOCAL_RANK={r % 2} WORLD_SIZE=4 MASTER_ADDR=node1 NEMORUN_POINT=0"
        for r in range(4)
    ]
    argv = json.loads(next(x for x in log.splitlines() if x.startswith("torchrun argv "))[14:])
    assert argv[-5:-1] == [sys.executable, "-u", "-c", torchrun.RUN_ENTRY]
    assert argv[-1].startswith("/tmp/nemorun-entry.")  # each node's own copy


@pytest.mark.slow
def test_a_local_torchrun_sweep_runs_each_point(tmp_path: Path) -> None:
    spec = worker_spec(tmp_path, "{}")
    script = tmp_path / "tr.sh"
    proc = nemorun("compile", str(spec), "tag=a,b", "--target", "local")
    assert proc.returncode == 0, proc.stderr
    script.write_text(proc.stdout, encoding="utf-8")

    run = subprocess.run(
        ["bash", str(script)],
        cwd=tmp_path,
        env=fake_torchrun(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr
    summaries = [x for x in run.stdout.splitlines() if x.startswith("torchrun node=")]
    assert summaries == [
        f"torchrun node=local node_rank=0 nnodes=1 nproc_per_node=2 backend=c10d "
        f"endpoint=localhost:29500 id=nemorun-tr-{point}"
        for point in (0, 1)
    ]
    workers = [x for x in run.stdout.splitlines() if x.startswith("worker ")]
    assert workers == [
        f"worker {tag} RANK={r} LOCAL_RANK={r} WORLD_SIZE=2 MASTER_ADDR=localhost "
        f"NEMORUN_POINT={point}"
        for point, tag in enumerate("ab")
        for r in range(2)
    ]
