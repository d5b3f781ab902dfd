"""A seeded fuzzer for nemorun's input side: mutated example specs and override strings,
driven through load, compile for every target and every export.

Oracles, per input:
- every stage ends in a valid result or a located `SpecError`/`SpecErrors`; anything else is a
  traceback (what the CLI would print as ``internal error``);
- every shell artifact passes ``bash -n``;
- every export (yaml, toml, json) loads back to the same tasks (same calls, same values);
- no stage runs over 10 s (a hang), and the process's peak RSS stays bounded.

Run a long campaign with ``python tests/fuzz/fuzzer.py --inputs 10000 --seed 1`` (about 10
minutes here); CI runs a short budget (tests/fuzz/test_fuzz.py). Findings are printed as the
input (spec text and overrides) and the traceback, so each can become a regression test.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nemorun.errors import SpecError, SpecErrors  # noqa: E402
from nemorun.registry import BUILTIN  # noqa: E402

TARGETS = tuple(BUILTIN)
EXPORTS = ("yaml", "toml", "json")
STAGE_SECONDS = 10
SEEDS = sorted((ROOT / "configs").glob("*.*"))
HOSTILE = [
    "",
    " ",
    "\n",
    "a\nb",
    "a\rb",
    "a\x00b",
    "\t",
    "${",
    "}",
    "${task.steps}",
    "${oc.env:HOME}",
    "${ oc.env:HOME}",
    "${oc.env:NEMORUN_FUZZ,a:b}",
    "${oc.decode:'[1,2]'}",
    "\\${x}",
    "007",
    "-1",
    "0",
    "1e999",
    "-0.0",
    "nan",
    "true",
    "no",
    "null",
    "~",
    "'",
    '"',
    "[",
    "{",
    "[1, [2, [3]]]",
    "{a: {b: {c: 1}}}",
    "&a x",
    "*a",
    "!!python/object:os.system",
    "!foo {}",
    "#SBATCH --wrap=id",
    "$(id)",
    "`id`",
    "; rm -rf /",
    "é\u2028\u0085",
    "\ud800",
    "x" * 5000,
    "9" * 5000,
    "trainlib:train",
    "os:system",
    "../../etc/passwd",
    "2024-01-01",
]
OVERRIDE_KEYS = [
    "steps",
    "optim.lr",
    "optim.name",
    "model.hidden_size",
    "model",
    "data.tags",
    "data.tags.0",
    "tag",
    "name",
    "executor.target",
    "executor.env.X",
    "executor.time",
    "executor.partition",
    "executor.container.image",
    "launcher.kind",
    "sweep",
    "nope.deep",
    "task",
    "pythonpath",
]
OVERRIDE_VALUES = [
    "1",
    "0.1,0.2",
    "range(3)",
    "range(0)",
    "range(0,100000000)",
    "choice(1,'a b')",
    "shuffle(1,2)",
    "sort(range(0,5,2),reverse=true)",
    "'a b',c",
    "{a:1}",
    "[1,2]",
    "null",
    "${task.steps}",
    "x_${task.optim.lr}",
    "'${oc.env:HOME}'",
    "adam",
    "slurm",
    "slurn",
    "forever",
    "interval(0,1)",
    "\\,",
]


@dataclass
class Tally:
    inputs: int = 0
    accepted: int = 0
    clean_errors: int = 0
    unlocated: int = 0
    """Clean errors with no file, override or key path to point at."""
    tracebacks: int = 0
    hangs: int = 0
    failures: list[str] = field(default_factory=list)
    slowest: float = 0.0
    slowest_input: str = ""

    def report(self) -> dict[str, Any]:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        return {
            "inputs": self.inputs,
            "accepted": self.accepted,
            "clean_errors": self.clean_errors,
            "unlocated_errors": self.unlocated,
            "tracebacks": self.tracebacks,
            "hangs": self.hangs,
            "slowest_stage_s": round(self.slowest, 2),
            "peak_rss_mb": rss,
        }


class Hang(Exception):
    pass


@contextmanager
def watchdog(seconds: int) -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise Hang(f"a stage ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- inputs ---------------------------------------------------------------------------------


def mutate_text(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        if not lines:
            break
        i = rng.randrange(len(lines))
        kind = rng.randrange(6)
        if kind == 0:
            del lines[i]
        elif kind == 1:
            lines.insert(i, lines[i])
        elif kind == 2 and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = (
                f"{key}: {rng.choice(HOSTILE)!r}"
                if rng.random() < 0.5
                else f"{key}: {rng.choice(HOSTILE)}"
            )
        elif kind == 3 and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {json.dumps(rng.choice(HOSTILE))}"
        elif kind == 4:
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rng.choice(HOSTILE) + lines[i][pos:]
        else:
            lines[i] = " " * rng.randrange(5) + lines[i].lstrip()
    return "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")


def overrides(rng: random.Random) -> list[str]:
    out = []
    for _ in range(rng.choice((0, 0, 0, 0, 1, 1, 2, 3))):
        prefix = rng.choice(("", "", "+", "++", "~"))
        key = rng.choice(OVERRIDE_KEYS)
        value = rng.choice(OVERRIDE_VALUES + HOSTILE)
        out.append(
            f"{prefix}{key}" if prefix == "~" and rng.random() < 0.5 else f"{prefix}{key}={value}"
        )
    return out


def inputs(seed: int) -> Iterator[tuple[str, str, list[str]]]:
    rng = random.Random(seed)
    while True:
        source = rng.choice(SEEDS)
        text = source.read_text(encoding="utf-8")
        if rng.random() < 0.6:
            text = mutate_text(text, rng)
        yield source.suffix, text.replace("../examples", str(ROOT / "examples")), overrides(rng)


# --- stages and oracles -----------------------------------------------------------------------


def shape(value: Any) -> Any:
    from nemorun.schemas.convert import Call

    if isinstance(value, Call):
        return ("call", value.target, shape(value.args))
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shape(v) for v in value]
    return (type(value).__name__, repr(value))


def tasks_shape(spec: Any) -> Any:
    return {
        name: shape(task.call) if task.call else repr(task) for name, task in spec.tasks.items()
    }


def check_one(path: Path, overrides: list[str], work: Path) -> bool:
    """True when the input was accepted; raises `SpecError(s)` for a clean refusal and
    AssertionError for a broken oracle."""
    from nemorun.api import load
    from nemorun.compiler.artifacts import load_for_target
    from nemorun.compiler.export import export
    from nemorun.compiler.tasks import compile_tasks

    spec = load(path, overrides)
    compiled = 0
    for target in TARGETS:
        try:
            own, warnings = load_for_target(path, overrides, target)
            build = compile_tasks(own, target, own.templates, warnings, host_python=sys.executable)
        except (SpecError, SpecErrors):
            continue
        compiled += 1
        for name, artifact in build.files():
            if name.endswith((".sh", ".sbatch")):
                done = subprocess.run(
                    ["bash", "-n"], input=artifact.text, capture_output=True, text=True, timeout=30
                )
                assert done.returncode == 0, f"bash -n refused {name}: {done.stderr}"
    if spec.is_sweep() and spec.num_points() > 2000:
        return compiled > 0
    before = tasks_shape(spec)
    for fmt in EXPORTS:
        try:
            text = export(spec, fmt, work)
        except (SpecError, SpecErrors):
            continue
        again = work / f"again.{fmt}"
        again.write_text(text, encoding="utf-8")
        try:
            loaded = load(again)
        except (SpecError, SpecErrors) as exc:
            raise AssertionError(f"the {fmt} export does not load back: {exc}\n{text}") from None
        assert tasks_shape(loaded) == before, f"the {fmt} export loads back differently:\n{text}"
    return True


def run(count: int, seed: int, verbose: bool = False) -> Tally:
    tally = Tally()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        for n, (suffix, text, overs) in enumerate(inputs(seed)):
            if n >= count:
                break
            tally.inputs += 1
            path = work / f"spec{suffix}"
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            started = time.monotonic()
            try:
                with watchdog(STAGE_SECONDS):
                    check_one(path, overs, work)
                tally.accepted += 1
            except (SpecError, SpecErrors) as exc:
                tally.clean_errors += 1
                errors = exc.errors if isinstance(exc, SpecErrors) else [exc]
                if any(not (e.path or e.origin or getattr(e, "file", None)) for e in errors):
                    tally.unlocated += 1
                    if verbose:
                        print("unlocated:", errors[0].format(), flush=True)
            except Hang:
                tally.hangs += 1
                tally.failures.append(f"HANG {overs!r}\n{text}")
            except Exception:
                tally.tracebacks += 1
                tally.failures.append(f"{overs!r}\n{text}\n{traceback.format_exc()}")
            took = time.monotonic() - started
            if took > tally.slowest:
                tally.slowest, tally.slowest_input = took, f"{overs!r}\n{text}"
            if verbose and n % 500 == 0:
                print(json.dumps(tally.report()), flush=True)
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    ns = parser.parse_args()
    tally = run(ns.inputs, ns.seed, verbose=True)
    for failure in tally.failures[:20]:
        print("----\n" + failure.encode("utf-8", "backslashreplace").decode())
    slowest = tally.slowest_input.encode("utf-8", "backslashreplace").decode()
    print(f"---- the slowest input ({tally.slowest:.2f} s):\n{slowest}")
    print(json.dumps(tally.report(), indent=2))
    return 1 if tally.tracebacks or tally.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
