"""One status refresh of a remote cluster's jobs: squeue and sacct as one ssh command (what
``status`` and ``ls`` do), against the same two commands sent one after the other (what they
did before), over the same open shared connection to the test sshd on 127.0.0.1.

    python benches/query_ssh.py [--repeat 20]

Only against what ``tests/infra/slurm.sh`` and ``tests/infra/sshd.sh`` started (their marks
are checked). Asks about the ten newest jobs sacct knows and slurmctld has forgotten, plus
ten that do not exist, so that both tools answer; submits nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import alternated, report

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SLURM_MARK = Path(os.environ.get("NEMORUN_SLURM_DIR", "/var/tmp/nemorun-slurm")) / "mark"
SSHD_DIR = Path(os.environ.get("NEMORUN_SSHD_DIR", "/tmp/nemorun-sshd"))


def mark(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines() if path.is_file() else []
    return dict(line.partition("=")[::2] for line in lines if "=" in line)


def forgotten() -> list[str]:
    """The ten newest jobs that ended over ten minutes ago (slurmctld forgot them)."""
    out = subprocess.run(
        ["sacct", "-a", "-n", "-X", "-P", "-S", "now-7days", "-E", "now-10minutes",
         "-o", "JobID"], capture_output=True, text=True, timeout=60,
    ).stdout.split()  # fmt: skip
    return [job for job in out if job.isdigit()][-10:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if not mark(SLURM_MARK).get("config") or not mark(SSHD_DIR / "mark").get("port"):
        sys.exit("start the test Slurm and sshd first: tests/infra/slurm.sh, tests/infra/sshd.sh")
    with tempfile.TemporaryDirectory(prefix="nrq-") as tmp:
        os.environ["NEMORUN_SSH_DIR"] = tmp
        from nemorun.launchers.slurm_commands import on_cluster, run_command
        from nemorun.launchers.slurm_query import query
        from nemorun.launchers.ssh import Transport
        from nemorun.schemas.clusters import Cluster

        cluster = Cluster.from_json(
            {"name": "loop", "host": "nemorun-test", "remote_dir": "/tmp/nemorun-bench",
             "ssh_config": str(SSHD_DIR / "ssh_config")}
        )  # fmt: skip
        transport = Transport(cluster)
        ids = [*forgotten(), *(str(99_999_990 + n) for n in range(10))]

        def one() -> None:  # inside on_cluster: one program for both tools
            with on_cluster(transport):
                query(lambda argv: run_command(argv, None, 60), ids)

        def two() -> None:  # each command its own ssh call
            query(lambda argv: transport.run(argv), ids)

        transport.login()
        try:
            with on_cluster(transport):
                new = query(lambda argv: run_command(argv, None, 60), ids)
            assert new == query(lambda argv: transport.run(argv), ids), "answers differ"
            times = alternated({"one ssh command": one, "two ssh commands": two}, args.repeat)
        finally:
            transport.control("exit")
    print(f"status refresh of {len(ids)} jobs on a remote cluster ({args.repeat} each):")
    for name, samples in times.items():
        report(f"  {name}", samples)


if __name__ == "__main__":
    main()
