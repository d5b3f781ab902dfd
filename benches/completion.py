"""Time one TAB of each kind: the whole ``nemorun __complete`` process the completion scripts
start (``python -m nemorun.cli``, this tree on ``PYTHONPATH``), and the bash function around it.

    python benches/completion.py [--runs 9] [--check]

Kinds: a command, a flag, a target, a spec file, a run id among 1,000 recorded runs (directories
only: completion reads no record), and override keys of ``configs/quickstart.yaml``: cold (no
cache: the spec's written keys, the schema built in the background) and warm (the schema's keys
from the cache). Each cold sample starts from an empty cache and waits for the background
process afterwards, outside the timing. Goal: every kind < 0.2 s (the median). ``--check``
exits 1 when one is over. A shared 2-core machine is noisy: compare medians, and the interpreter
floor (``python -c pass``) printed first.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from timing import alternated, report, timed

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 0.2
COMPLETE = [sys.executable, "-m", "nemorun.cli", "__complete", "bash"]
KINDS = {
    "command": ["va"],
    "flag": ["launch", "configs/quickstart.yaml", "--"],
    "target": ["compile", "configs/quickstart.yaml", "--target", ""],
    "spec file": ["validate", "configs/"],
    "run id (1,000 runs)": ["status", "20261121-1"],
    "override keys, warm": ["run", "configs/quickstart.yaml", "optim."],
}
FLOOR = "python -c pass (interpreter floor)"
BASH = "bash function (override keys, warm)"
COLD = ["run", "configs/quickstart.yaml", "optim."]


def main() -> int:
    options = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.add_argument("--runs", type=int, default=9)
    options.add_argument("--check", action="store_true", help="exit 1 when a kind is over")
    ns = options.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="nemorun-bench-completion-"))
    try:
        env = _environment(scratch)
        ok = _report("override keys, cold", _cold(env, ns.runs))
        _wait_warm(env)
        actions = {FLOOR: _process([sys.executable, "-c", "pass"], env, FLOOR)}
        for kind, words in KINDS.items():
            actions[kind] = _process([*COMPLETE, *words], env, kind)
        actions[BASH] = _bash(scratch, env)
        for name, samples in alternated(actions, ns.runs).items():
            ok &= _report(name, samples, None if name == FLOOR else BUDGET)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if ns.check and not ok else 0


def _environment(scratch: Path) -> dict[str, str]:
    runs = scratch / "home" / "nemorun-runs"
    for i in range(1000):
        (runs / f"20261121-{100000 + i}-exp{i % 50}-{i:06x}").mkdir(parents=True)
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NEMORUN_HOME": str(scratch / "home"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
    }


def _process(argv: list[str], env: dict[str, str], name: str) -> Callable[[], None]:
    def action() -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=True, timeout=60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        CPU.setdefault(name, []).append(
            after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        )

    return action


CPU: dict[str, list[float]] = {}
"""The processor time of each process just timed (user + system): what a quiet machine's wall
time would be, near enough, when a loaded one's is not."""


def _report(name: str, samples: list[float], budget: float | None = BUDGET) -> bool:
    """The wall times' line, with the processor time of the process: not for the bash
    function, whose process substitution bash need not wait for (its time may not count)."""
    cpu = [] if name == BASH else CPU.get(name, [])[-len(samples) :]
    note = f"  cpu {statistics.median(cpu):.3f} s" if cpu else ""
    return report(name, samples, budget, note=note)


def _cold(env: dict[str, str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        shutil.rmtree(env["XDG_CACHE_HOME"], ignore_errors=True)
        samples += timed(_process([*COMPLETE, *COLD], env, "override keys, cold"), 1)
        _wait_warm(env)  # the background process, outside the timing
    return samples


def _wait_warm(env: dict[str, str]) -> None:
    """Until the background process has written the cache (it removes its lock when done)."""
    cache = Path(env["XDG_CACHE_HOME"]) / "nemorun" / "completion"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if list(cache.glob("*.json")) and not list(cache.glob("*.lock")):
            return
        subprocess.run([*COMPLETE, *COLD], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, timeout=60)
        time.sleep(0.5)
    raise SystemExit("the completion cache was never written")


def _bash(scratch: Path, env: dict[str, str]) -> Callable[[], None]:
    script = scratch / "completion.bash"
    done = subprocess.run(
        [*COMPLETE[:3], "completion", "bash"], env=env, capture_output=True, text=True, check=True
    )
    script.write_text(done.stdout, encoding="utf-8")
    call = (
        f"source {script}; COMP_WORDS=(nemorun run configs/quickstart.yaml optim.); "
        "COMP_CWORD=3; _nemorun; [[ ${#COMPREPLY[@]} -gt 1 ]]"
    )
    return _process(["bash", "--norc", "-c", call], env, BASH)


if __name__ == "__main__":
    sys.exit(main())
