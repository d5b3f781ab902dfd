"""Time ``nemorun compile --target slurm``: a 1,000-point sweep, and one cold small compile.

    python benches/compile.py [--runs 7] [--check]

(a) A 1,000-point sweep compiled for Slurm (one sbatch script, ``--array=0-999``), two shapes:
    a 10x10x10 product of three override axes, and a single 1,000-value axis. Timed in-process
    (``load_for_target`` + ``compile_spec``; the first run pays the imports, then the median of
    warm runs) and as a whole ``nemorun compile`` process. Budget: under 1 s (NeMo-Run needs
    49 s for 1,000 dry-run tasks on this machine kind).
(b) One cold ``nemorun compile configs/quickstart.yaml --target slurm`` process. Budget: 0.35 s
    (importing fiddle, libcst, jinja2 and yaml alone takes 0.27 s; NeMo-Run's dry run 1.87 s).

(c) ``--scale``: whole ``nemorun compile --target slurm`` processes of 10 / 1,000 / 10,000 /
    100,000 points (one axis, and a 1,000 x 100 grid), as ``range()`` overrides and as the
    spec's own ``sweep:``; wall time, CPU time and peak RSS of the best of ``--repeat`` runs
    each, and the size of a 1,000- and a 2,000-point SkyPilot output. ``--base DIR`` runs the
    same cases with another checkout's nemorun (``git archive BASE | tar -x -C DIR``) side by
    side; a case over ``--limit`` seconds is stopped and reported as such. Goals: 1,000 points
    <= 0.35 s and <= 2x 10 points, 10,000 <= 1 s, 100,000 <= 5 s, peak RSS <= 150 MiB, SkyPilot
    <= 1 MB.

(d) ``--launch 10000``: ``nemorun launch --target slurm`` of a 10,000-point sweep, timed to
    the printed run id, then ``nemorun cancel``; refused unless ``sbatch`` reaches the test
    cluster ``tests/infra/slurm.sh`` started and marked. The arrays fit the cluster's
    ``MaxArraySize``; shims on PATH count and time each Slurm command. Budget: 3 s.

The issue's whole table, side by side in one run: ``benches/sweeps.py``.

Prints median, min and max wall time in seconds per case, and whether it is within budget;
``--check`` exits 1 when a median is over its budget. Timings on a shared 2-core machine are
noisy: compare medians, and rerun when another job was busy.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from timing import report, timed

ROOT = Path(__file__).resolve().parent.parent
NEMORUN = [sys.executable, "-m", "nemorun.cli"]
QUICKSTART = "configs/quickstart.yaml"
SWEEPS = {
    "10x10x10 sweep": [
        "optim.lr=range(1,11)",
        "steps=range(1,11)",
        "model.hidden_size=range(1,11)",
    ],
    "1x1000 sweep": ["optim.lr=range(1,1001)"],
}
SWEEP_BUDGET = 1.0
COLD_BUDGET = 0.35


def process(args: Sequence[str]) -> Callable[[], object]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "0"}

    def run() -> object:
        proc = subprocess.run([*NEMORUN, *args], cwd=ROOT, env=env, capture_output=True)
        if proc.returncode != 0:
            raise SystemExit(f"nemorun {' '.join(args)} failed:\n{proc.stderr.decode()}")
        return proc

    return run


def in_process(overrides: Sequence[str]) -> Callable[[], object]:
    def run() -> object:
        from nemorun.api import load_for_target
        from nemorun.compiler.driver import compile_spec

        spec, warnings = load_for_target(ROOT / QUICKSTART, overrides, "slurm")
        artifacts = compile_spec(spec, warnings=warnings)
        assert "#SBATCH --array=0-999\n" in artifacts.main.text
        return artifacts

    return run


SCALE = {
    "10 points": ["optim.lr=range(1,11)"],
    "1,000 points": ["optim.lr=range(1,1001)"],
    "10,000 points": ["optim.lr=range(1,10001)"],
    "100,000 points": ["optim.lr=range(1,100001)"],
    "1,000 x 100 grid": ["optim.lr=range(1,1001)", "steps=range(1,101)"],
}
SPEC_SCALE = {
    "10 in sweep:": {"optim.lr": range(1, 11)},
    "1,000 in sweep:": {"optim.lr": range(1, 1001)},
    "10,000 in sweep:": {"optim.lr": range(1, 10001)},
    "1,000x100 sweep:": {"optim.lr": range(1, 1001), "steps": range(1, 101)},
}
"""The same sizes written in the spec's own ``sweep:``: a ``range()`` override loads hydra-core
(about 0.3 s of imports), a spec's list does not."""


def spec_with_sweep(checkout: Path, axes: dict[str, range], where: Path) -> Path:
    """The quickstart spec of ``checkout`` with ``axes`` as its ``sweep:``, written in ``where``."""
    import json

    text = (checkout / QUICKSTART).read_text(encoding="utf-8")
    text = text.replace("pythonpath: [../examples]", f"pythonpath: [{checkout / 'examples'}]")
    lines = [f"  {key}: {json.dumps(list(values))}" for key, values in axes.items()]
    path = where / f"sweep-{abs(hash((str(checkout), tuple(axes))))}.yaml"
    path.write_text(text + "sweep:\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Measured:
    """One whole ``nemorun`` process: wall and CPU seconds, peak RSS (MiB), bytes printed;
    ``failed`` says why it ended without an answer (wall is then infinite)."""

    wall: float
    cpu: float = 0.0
    rss: float = 0.0
    size: int = 0
    failed: str | None = None

    def line(self) -> str:
        if self.failed is not None:
            return self.failed
        return f"{self.wall:6.2f} s  cpu {self.cpu:6.2f} s  peak RSS {self.rss:5.0f} MiB"


def measure(checkout: Path, args: Sequence[str], limit: float, repeat: int = 1) -> tuple[str, int]:
    """The best of ``repeat`` runs of `measure_once` (the least disturbed by other work)."""
    best = best_of(checkout, args, limit, repeat)
    return best.line(), best.size


def best_of(checkout: Path, args: Sequence[str], limit: float, repeat: int = 1) -> Measured:
    return min((measure_once(checkout, args, limit) for _ in range(repeat)), key=lambda m: m.wall)


def measure_once(checkout: Path, args: Sequence[str], limit: float) -> Measured:
    """One whole ``nemorun`` process run from ``checkout``. CPU time (user + system) suffers
    less than wall time from other work on a shared machine."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "PYTHONDONTWRITEBYTECODE": "0"}
    start = time.perf_counter()
    timer = ["/usr/bin/time", "-f", "peak-rss-kib %M cpu %U %S"]  # this process's own figures
    proc = subprocess.Popen(
        [*timer, *NEMORUN, *args],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return Measured(math.inf, failed=f"stopped after {limit:g} s")
    wall = time.perf_counter() - start
    lines = [
        line
        for line in err.decode(errors="replace").strip().splitlines()
        if not line.startswith("Command exited")  # /usr/bin/time's own note
    ]
    rss = cpu = 0.0
    if lines and lines[-1].startswith("peak-rss"):
        _, kib, _, user, system = lines.pop().split()
        rss, cpu = int(kib) / 1024, float(user) + float(system)
    if proc.returncode != 0:
        last = lines[-1:] or ["?"]
        why = f"exit {proc.returncode} after {wall:.2f} s: {last[0][:70]}"
        return Measured(math.inf, failed=why)
    return Measured(wall, cpu, rss, len(out))


def scale(checkouts: dict[str, Path], limit: float, repeat: int) -> None:
    """Each case of `SCALE` and `SPEC_SCALE` for each checkout in turn, then the SkyPilot
    output size. Slurm sweeps over 1,001 points are split into several scripts: they are
    written to a directory."""
    out = tempfile.mkdtemp(prefix="nemorun-bench-")
    for name, overrides in SCALE.items():
        for label, checkout in checkouts.items():
            args = ["compile", QUICKSTART, "--target", "slurm", "-o", out, *overrides]
            line, _ = measure(checkout, args, limit, repeat)
            print(f"{name:<18} {label:<6} {line}", flush=True)
    for name, axes in SPEC_SCALE.items():
        for label, checkout in checkouts.items():
            spec = str(spec_with_sweep(checkout, axes, Path(out)))
            line, _ = measure(
                checkout, ["compile", spec, "--target", "slurm", "-o", out], limit, repeat
            )
            print(f"{name:<18} {label:<6} {line}", flush=True)
    for points in (1_000, 2_000):
        for label, checkout in checkouts.items():
            sweep = f"optim.lr=range(1,{points + 1})"
            args = ["compile", QUICKSTART, "--target", "skypilot", sweep]
            line, size = measure(checkout, args, limit, repeat)
            print(f"skypilot {points:,}     {label:<6} {line}  output {size / 1e6:.2f} MB")


SLURM_MARK = Path(os.environ.get("NEMORUN_SLURM_DIR", "/var/tmp/nemorun-slurm")) / "mark"
LAUNCH_BUDGET = 3.0


def test_cluster_problem() -> str | None:
    """Why the Slurm that ``sbatch`` reaches is not the test cluster ``tests/infra/slurm.sh``
    started (its mark names the config it installed, with its digest, and the slurmctld it
    started), or None when it is: the bench submits jobs to no other Slurm."""
    import hashlib

    try:
        text = SLURM_MARK.read_text(encoding="utf-8")
    except OSError:
        return f"no mark {SLURM_MARK}: start the test cluster with tests/infra/slurm.sh start"
    pairs = (line.partition("=") for line in text.splitlines() if not line.startswith("#"))
    mark = {key: value for key, sep, value in pairs if sep}
    config = os.environ.get("SLURM_CONF", mark.get("config", ""))
    if not config or config != mark.get("config"):
        return f"SLURM_CONF={config!r} is not the test cluster's config {mark.get('config')!r}"
    try:
        digest = hashlib.sha256(Path(config).read_bytes()).hexdigest()
    except OSError:
        digest = ""
    if digest != mark.get("config_sha256"):
        return f"{config} is not the config tests/infra/slurm.sh installed"
    pid = mark.get("slurmctld_pid", "")
    try:
        running = Path(f"/proc/{pid}/comm").read_text().strip() == "slurmctld"
    except OSError:
        running = False
    return None if pid.isdigit() and running else "the test cluster's slurmctld is not running"


SCHEDULER_COMMANDS = ("sbatch", "scontrol", "sinfo", "sacctmgr", "squeue", "sacct", "scancel")


def max_array_size() -> int:
    """The test cluster's ``MaxArraySize`` (a sweep's arrays are split to fit it), at most
    Slurm's default 1,001."""
    proc = subprocess.run(
        ["scontrol", "show", "config"], capture_output=True, text=True, timeout=15, check=True
    )
    for line in proc.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "MaxArraySize":
            return min(1001, int(value))
    return 1001


def counting_path(scratch: Path, log: Path) -> str:
    """A PATH whose Slurm commands are shims that log each call's name, start and end to
    ``log`` before handing over to the real command: where a launch's time goes."""
    import shutil

    shims = scratch / "shims"
    shims.mkdir()
    for name in SCHEDULER_COMMANDS:
        real = shutil.which(name)
        if real is None:
            continue
        shim = shims / name
        shim.write_text(
            "#!/bin/bash\nstart=$(date +%s.%N)\n"
            f'{real} "$@"\nrc=$?\necho "{name} $start $(date +%s.%N) $1" >>{log}\nexit $rc\n'
        )
        shim.chmod(0o755)
    return f"{shims}{os.pathsep}{os.environ['PATH']}"


def children_cpu() -> float:
    """CPU seconds (user + system) of the processes this one waited for, so far."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scheduler_calls(log: Path) -> str:
    """``sbatch 10 calls 1.20 s, ...`` from the shims' log."""
    calls: dict[str, list[float]] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        name, start, end = line.split()[:3]
        calls.setdefault(name, []).append(float(end) - float(start))
    return ", ".join(f"{n} {len(t)}x {sum(t):.2f} s" for n, t in sorted(calls.items()))


def launch(points: int, runs: int) -> tuple[bool, list[float], str]:
    """``nemorun launch --target slurm`` of a ``points``-point sweep, timed to the printed run
    id, each run then cancelled; refused unless ``sbatch`` reaches the marked test cluster.
    The arrays are sized to the cluster's ``MaxArraySize``; the scheduler calls of the last
    launch are counted and timed. Returns (within budget, samples, calls)."""
    problem = test_cluster_problem()
    if problem is not None:
        raise SystemExit(f"--launch: not run: {problem}")
    scratch = Path(tempfile.mkdtemp(prefix="nemorun-bench-"))
    size = max_array_size()
    samples, calls = [], ""
    for n in range(runs):
        log = scratch / f"calls{n}.log"
        (scratch / str(n)).mkdir()
        env = {
            **os.environ,
            "NEMORUN_HOME": str(scratch / "home"),
            "PYTHONDONTWRITEBYTECODE": "0",
            "PATH": counting_path(scratch / str(n), log),
        }
        args = ["launch", QUICKSTART, "--target", "slurm", f"optim.lr=range(1,{points + 1})"]
        args.append(f"++executor.max_array_size={size}")
        start, used = time.perf_counter(), children_cpu()
        proc = subprocess.run(
            [*NEMORUN, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        samples.append(time.perf_counter() - start)
        calls = f"cpu {children_cpu() - used:.2f} s; " + scheduler_calls(log)
        if proc.returncode != 0:
            raise SystemExit(f"nemorun launch failed:\n{proc.stderr}")
        run_id = proc.stdout.strip().splitlines()[-1]
        cancel = [*NEMORUN, "cancel", run_id]
        subprocess.run(cancel, cwd=ROOT, env=env, capture_output=True, timeout=120, check=True)
    name = f"launch --target slurm, {points:,} points"
    arrays = -(-points // size)
    note = f"; {arrays} arrays of <= {size} (MaxArraySize); last launch: {calls}"
    return report(name, samples, LAUNCH_BUDGET, note), samples, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--check", action="store_true", help="exit 1 when over a budget")
    parser.add_argument("--scale", action="store_true", help="the sweep sizes (c) only")
    parser.add_argument("--base", type=Path, help="a checkout of the base commit, for (c)")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds per case in (c)")
    parser.add_argument("--repeat", type=int, default=1, help="(c): the best of N runs a case")
    parser.add_argument("--launch", type=int, metavar="POINTS", help="(d) only, POINTS points")
    args = parser.parse_args()
    if args.launch:
        if not launch(args.launch, max(1, args.runs // 2))[0] and args.check:
            raise SystemExit(1)
        return
    if args.scale:
        checkouts = {"this": ROOT, **({"base": args.base.resolve()} if args.base else {})}
        scale(checkouts, args.limit, args.repeat)
        return
    ok = True
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)  # the spec's pythonpath and the overrides' paths are read from here

    for n, (name, overrides) in enumerate(SWEEPS.items()):
        first = timed(in_process(overrides), 1)[0]
        samples = timed(in_process(overrides), args.runs)
        note = f"; first call {first:.3f} s" + (" (imports included)" if n == 0 else "")
        ok &= report(f"{name}, in-process (warm)", samples, SWEEP_BUDGET, note)
    for name, overrides in SWEEPS.items():
        run = process(["compile", QUICKSTART, "--target", "slurm", *overrides])
        run()  # warm the disk cache
        ok &= report(f"{name}, whole process", timed(run, args.runs), SWEEP_BUDGET)
    cold = process(["compile", QUICKSTART, "--target", "slurm"])
    cold()
    ok &= report("compile quickstart --target slurm (cold)", timed(cold, args.runs), COLD_BUDGET)
    floor = process(["--version"])
    report("nemorun --version (interpreter + nemorun floor)", timed(floor, args.runs), None)
    if args.check and not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
