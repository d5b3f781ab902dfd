"""``nemorun launch`` of the same 4-point sweep to the test Slurm: from this machine, and over
ssh through a ``clusters.yaml`` profile whose login node is the test sshd on 127.0.0.1.

    python benches/launch_ssh.py [--repeat 5]

Only against what ``tests/infra/slurm.sh`` and ``tests/infra/sshd.sh`` started (their marks are
checked). The remote launch reuses one shared ssh connection (opened first by ``nemorun cluster
login``, as a user would); it ships the artifacts and, with ``packager: git``, the code (sent
once, then found by its hash). Every job is cancelled at the end.
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
SLURM_MARK = Path(os.environ.get("NEMORUN_SLURM_DIR", "/var/tmp/nemorun-slurm")) / "mark"
SSHD_DIR = Path(os.environ.get("NEMORUN_SSHD_DIR", "/tmp/nemorun-sshd"))
SWEEP = ("optim.lr=0.01,0.02,0.03,0.04", "steps=1")


def mark(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines() if path.is_file() else []
    return dict(line.partition("=")[::2] for line in lines if "=" in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not mark(SLURM_MARK).get("config") or not mark(SSHD_DIR / "mark").get("port"):
        sys.exit("start the test Slurm and sshd first: tests/infra/slurm.sh, tests/infra/sshd.sh")
    user = mark(SSHD_DIR / "mark")["user"]
    with tempfile.TemporaryDirectory(prefix="nrb-") as tmp:
        (Path(tmp) / "config" / "nemorun").mkdir(parents=True)
        (Path(tmp) / "config" / "nemorun" / "clusters.yaml").write_text(
            f"clusters:\n  loop:\n    host: nemorun-test\n    ssh_config: {SSHD_DIR}/ssh_config\n"
            f"    remote_dir: /home/{user}/nemorun-bench\n"
        )
        (Path(tmp) / "ssh").mkdir(mode=0o700)
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": f"{tmp}/config",
            "NEMORUN_HOME": f"{tmp}/home",
            "NEMORUN_SSH_DIR": f"{tmp}/ssh",
        }
        ids: list[str] = []

        def launch(*extra: str) -> None:
            out = subprocess.run(
                [sys.executable, "-m", "nemorun.cli", "launch", "configs/quickstart.yaml",
                 *SWEEP, "--target", "slurm", *extra],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True,
            ).stdout  # fmt: skip
            ids.append(out.strip())

        def cli(*words: str) -> None:
            subprocess.run(
                [sys.executable, "-m", "nemorun.cli", *words],
                cwd=ROOT, env=env, capture_output=True, timeout=300,
            )  # fmt: skip

        cli("cluster", "login", "loop")
        try:
            times = alternated(
                {"local": launch, "over ssh": lambda: launch("--cluster", "loop")}, args.repeat
            )
        finally:
            for run in ids:
                cli("cancel", run)
            cli("cluster", "logout", "loop")
    print(f"launch of a 4-point sweep to the test Slurm ({args.repeat} each, alternated):")
    for name, samples in times.items():
        report(f"  launch, {name}", samples)


if __name__ == "__main__":
    main()
