"""The driver of a ``packing: one_job`` Ray job: every sweep point as one Ray task.

Standalone on purpose: the launch half copies this file into the job's working directory
(``nemorun_ray_points.py``) and the cluster runs it with its own Python, which has ray but not
nemorun. Usage::

    python3 nemorun_ray_points.py --num-points N [--max-concurrency K] [--num-cpus C]
        [--num-gpus G] [--memory BYTES] -- 'SHELL LINES THAT RUN ONE POINT'

Each task runs the shell lines with ``NEMORUN_POINT`` set, in the working directory, its output
captured; at most K tasks are in flight. The driver prints each point's output as it ends,
every line prefixed ``[point I] ``, then ``[nemorun] point I exit CODE`` (`RESULT`, which the
launch half reads back for per-point states), and exits 1 when any point failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

PREFIX = "[point {}] "
RESULT = "[nemorun] point {} exit {}"


def run_point(command: str, point: int) -> tuple[int, int, str]:
    """Run one point: (point, exit code, its output)."""
    env = {**os.environ, "NEMORUN_POINT": str(point)}
    proc = subprocess.run(
        ["sh", "-c", command],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    return point, proc.returncode, proc.stdout.decode("utf-8", "replace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nemorun_ray_points.py")
    parser.add_argument("--num-points", type=int, required=True)
    parser.add_argument("--max-concurrency", type=int, default=None)
    parser.add_argument("--num-cpus", type=float, default=None)
    parser.add_argument("--num-gpus", type=float, default=None)
    parser.add_argument("--memory", type=int, default=None)
    parser.add_argument("command")
    args = parser.parse_args(argv)

    import logging

    import ray

    ray.init(logging_level=logging.WARNING, log_to_driver=False)
    resources: dict[str, Any] = {
        key: value
        for key, value in (
            ("num_cpus", args.num_cpus),
            ("num_gpus", args.num_gpus),
            ("memory", args.memory),
        )
        if value is not None
    }
    task = ray.remote(run_point).options(**resources)
    limit = args.max_concurrency or args.num_points
    waiting = list(range(args.num_points))
    running: list[Any] = []
    failed = 0
    while waiting or running:
        while waiting and len(running) < limit:
            running.append(task.remote(args.command, waiting.pop(0)))
        done, running = ray.wait(running, num_returns=1)
        point, code, output = ray.get(done[0])
        for line in output.splitlines():
            print(PREFIX.format(point) + line)
        print(RESULT.format(point, code), flush=True)
        failed += code != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
