"""``nemorun ls`` with 1,000 unfinished Slurm runs: scheduler calls and time.

    python benches/ls_slurm.py [--runs 1000] [--repeat 3]

Only against the test cluster that ``tests/infra/slurm.sh`` started (its mark is checked: a
Slurm of your own is never submitted to). The bench launches one run with ``nemorun launch``
(a held job), submits ``--runs - 1`` more held jobs with ``sbatch --hold``, and writes each a
record copied from the launched one with its own id and job (as many launches would leave
them); then it times whole ``nemorun ls --json`` processes with wrappers on ``PATH`` around
``squeue``, ``sacct`` and ``scontrol`` that count each call. Everything is cancelled at the end.

Goal (issue 10): at most 2 scheduler calls per ``ls``, whatever the number of runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import report, timed

ROOT = Path(__file__).resolve().parent.parent
MARK = Path(os.environ.get("NEMORUN_SLURM_DIR", "/var/tmp/nemorun-slurm")) / "mark"
TOOLS = ("squeue", "sacct", "scontrol")


def test_cluster() -> None:
    """Exit unless the Slurm this process reaches is the marked test cluster."""
    lines = MARK.read_text().splitlines() if MARK.is_file() else []
    config = dict(line.partition("=")[::2] for line in lines if "=" in line).get("config")
    if not config or os.environ.get("SLURM_CONF", config) != config:
        sys.exit(f"no test cluster (mark {MARK}); start it: bash tests/infra/slurm.sh start")


def nemorun(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "nemorun.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        sys.exit(f"nemorun {' '.join(args)} failed: {result.stderr}")
    return result.stdout


def counting_path(directory: Path, log: Path) -> str:
    directory.mkdir()
    for tool in TOOLS:
        real = shutil.which(tool)
        assert real is not None
        (directory / tool).write_text(f'#!/bin/sh\necho {tool} >> "{log}"\nexec "{real}" "$@"\n')
        (directory / tool).chmod(0o755)
    return f"{directory}{os.pathsep}{os.environ['PATH']}"


def copies(root: Path, first: str, count: int) -> list[str]:
    """``count`` held jobs, each with a record copied from the run ``first``."""
    record = json.loads((root / first / "run.json").read_text())
    [job] = record["jobs"]
    ids = []
    for i in range(count):
        out = subprocess.run(
            ["sbatch", "--parsable", "--hold", "-J", f"bench-{i}", "--wrap", "true"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        job_id = out.strip().split(";")[0]
        run_id = f"{first[:15]}-bench-{i:06x}"
        shutil.copytree(root / first, root / run_id)
        data = {**record, "id": run_id, "jobs": [{**job, "id": job_id}]}
        (root / run_id / "run.json").write_text(json.dumps(data))
        (root / run_id / "state.json").unlink(missing_ok=True)
        ids.append(job_id)
    return ids


def ls(env: dict[str, str]) -> list[dict[str, str]]:
    runs: list[dict[str, str]] = json.loads(nemorun(env, "ls", "--json"))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    test_cluster()
    with tempfile.TemporaryDirectory(prefix="nemorun-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "NEMORUN_HOME": str(work / "home"), "PYTHONPATH": str(ROOT)}
        spec = work / "held.yaml"
        spec.write_text(
            "nemorun: 1\nname: held\ntask: {command: 'true'}\n"
            "executor: {target: slurm, extra: {hold: true}}\n"
        )
        first = nemorun(env, "launch", str(spec), "--no-preflight").strip()
        root = work / "home" / "nemorun-runs"
        jobs = [str(j["id"]) for j in json.loads((root / first / "run.json").read_text())["jobs"]]
        try:
            jobs += copies(root, first, args.runs - 1)
            log = work / "calls.log"
            counted = {**env, "PATH": counting_path(work / "bin", log)}
            listed: list[dict[str, str]] = []
            calls = []
            for _ in range(args.repeat):
                log.write_text("")
                times = timed(lambda: listed.append(ls(counted)), 1)
                calls.append(len(log.read_text().split()))
                report(f"ls --json, {args.runs:,} unfinished Slurm runs", times)
            states = {r["status"] for r in listed[-1]}
            print(f"runs listed: {len(listed[-1]):,}; states: {sorted(states)}")
            print(f"scheduler calls per ls: {calls} (goal: at most 2)")
        finally:
            for start in range(0, len(jobs), 500):
                subprocess.run(["scancel", *jobs[start : start + 500]], timeout=120, check=False)


if __name__ == "__main__":
    main()
