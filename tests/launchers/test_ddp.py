"""The torch DDP example (``configs/ddp.yaml``, ``examples/ddp/train_ddp.py``), for real.

- On the test Slurm (``tests/infra/slurm.sh start``): compiled for slurm, submitted with
  ``sbatch`` and waited for (`submit_and_wait`): torchrun on the 2 emulated nodes (node1 and
  node2, both this host) with 2 workers each; the rendezvous is on node1 (127.0.0.1 through
  /etc/hosts) and gloo talks over loopback (no ``GLOO_SOCKET_IFNAME`` needed: the host name
  resolves to 127.0.0.1 here). Each of the 4 ranks prints its loss at every step and ends
  with the same weights.
- On this machine (the local target): the same spec, one node, 2 ranks.

torch is an optional extra pinned exactly (``pip install 'nemorun[torch]'``, torch==2.13.0, a
CPU build here); without it, or without Slurm, these tests skip with the reason.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "configs" / "ddp.yaml"
STEPS = 5
FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")
LINE = re.compile(
    r"\[ddp\] rank=(?P<rank>\d+)/(?P<world>\d+) local_rank=(?P<local>\d+) node=(?P<node>\d+) "
    r"step=(?P<step>\d+) loss=(?P<loss>\S+)"
)
DONE = re.compile(r"\[ddp\] rank=(?P<rank>\d+)/\d+ done on (?P<host>\S+): weights (?P<sync>.+?) \(")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("torch") is None,
        reason="torch is not installed: pip install 'nemorun[torch]' (torch==2.13.0, CPU)",
    ),
]


def job_env() -> dict[str, str]:
    """The submitting shell of a user whose environment has torch: this interpreter's bin
    directory first on PATH (``python3`` and ``torchrun`` there), as an activated venv does.
    Slurm exports it to the job (sbatch's default ``--export=ALL``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def ranks(output: str, world: int) -> dict[int, dict[str, object]]:
    """What each rank printed: its losses by step, its node, its local rank, its end."""
    seen: dict[int, dict[str, object]] = {}
    for line in output.splitlines():
        if (match := LINE.fullmatch(line)) is not None:
            assert int(match["world"]) == world, line
            rank = seen.setdefault(int(match["rank"]), {"losses": {}})
            rank["node"], rank["local"] = int(match["node"]), int(match["local"])
            losses = rank["losses"]
            assert isinstance(losses, dict)
            losses[int(match["step"])] = float(match["loss"])
        elif (done := DONE.match(line)) is not None:
            rank = seen.setdefault(int(done["rank"]), {"losses": {}})
            rank["host"], rank["sync"] = done["host"], done["sync"]
        else:
            raise AssertionError(f"a line that is not one rank's: {line!r}")
    return seen


def check_ranks(seen: dict[int, dict[str, object]], world: int, nodes: int) -> None:
    assert sorted(seen) == list(range(world))
    for rank, info in seen.items():
        losses = info["losses"]
        assert isinstance(losses, dict)
        assert sorted(losses) == list(range(1, STEPS + 1)), (rank, info)
        assert all(math.isfinite(loss) and loss >= 0 for loss in losses.values())
        assert info["sync"] == "in sync", (rank, info)
    per_node = world // nodes
    for node in range(nodes):
        on_node = sorted(r for r, info in seen.items() if info["node"] == node)
        assert len(on_node) == per_node
        assert sorted(seen[r]["local"] for r in on_node) == list(range(per_node))  # type: ignore[type-var]


def submit_and_wait(script: Path, timeout: float = 600) -> tuple[str, str, str]:
    """Submit ``script`` from its directory and wait for its end: (job id, state, exit code).

    Not ``sbatch --wait``: it checks after 2, 10 and then every 32 s (22.05), so a 10-second
    job could take 42 s to be seen done. ``scontrol show job`` answers with or without
    accounting, for MinJobAge (300 s) after the job ends.
    """
    proc = subprocess.run(
        ["sbatch", "--parsable", str(script)],
        cwd=script.parent,
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip().split(";")[0]
    deadline = time.monotonic() + timeout
    fields: dict[str, str] = {}
    while time.monotonic() < deadline:
        shown = subprocess.run(
            ["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=30
        ).stdout
        fields = dict(w.split("=", 1) for w in shown.split() if "=" in w)
        if fields.get("JobState") in FINAL:
            return job, fields["JobState"], fields.get("ExitCode", "")
        time.sleep(0.25)
    subprocess.run(["scancel", job], capture_output=True)
    raise AssertionError(f"job {job} did not end in {timeout} s: {fields.get('JobState')}")


@pytest.mark.usefixtures("slurm_cluster")
def test_ddp_trains_on_two_slurm_nodes_with_four_ranks(tmp_path: Path) -> None:
    loaded, warnings = load_for_target(SPEC, (), "slurm")
    script = tmp_path / "ddp.sbatch"
    script.write_text(compile_spec(loaded, warnings=warnings).main.text, encoding="utf-8")

    job, state, exit_code = submit_and_wait(script)

    out = tmp_path / f"ddp-{job}.out"
    err = tmp_path / f"ddp-{job}.err"
    errors = err.read_text() if err.exists() else ""
    assert (state, exit_code) == ("COMPLETED", "0:0"), errors
    seen = ranks(out.read_text(), world=4)
    check_ranks(seen, world=4, nodes=2)
    # the two torchrun agents ran on the two emulated nodes, one each
    assert {seen[r]["host"] for r in seen} == {"node1", "node2"}
    for node in (0, 1):
        assert len({seen[r]["host"] for r in seen if seen[r]["node"] == node}) == 1


def test_ddp_trains_on_this_machine_with_the_local_target(tmp_path: Path) -> None:
    loaded, warnings = load_for_target(SPEC, (), "local")
    script = tmp_path / "ddp.sh"
    script.write_text(compile_spec(loaded, warnings=warnings).main.text, encoding="utf-8")

    proc = subprocess.run(
        ["bash", str(script)], cwd=tmp_path, env=job_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    check_ranks(ranks(proc.stdout, world=2), world=2, nodes=1)
