"""Slurm container runtimes, run on the test Slurm (``tests/infra/slurm.sh``).

- ``runtime: none``: the job runs in the node's environment, under nemorun's interpreter.
- ``runtime: apptainer``: Apptainer cannot be installed here, so a stand-in ``apptainer`` is
  first on the job's ``PATH``. It says it is one, checks that every ``--bind`` source exists,
  logs its argv, plays an image that sets ``OVER`` itself, applies ``APPTAINERENV_*`` and
  ``--pwd`` as Apptainer does, then execs the words after the image on the host. So the tests
  prove the argv, quoting and binds the job would get and the values the job receives; not
  that a real image runs.

The three scripts are submitted at once (module-scoped) so their waits overlap; they only ever
cancel their own jobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec

HOSTILE = 'it\'s "$(x)" `y` \\ #z % ; ,a:b\nsecond line'
IMAGE = "nvcr.io#nvidia/pytorch:24.01-py3"
FINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")
PROBE = '''"""What the job got: its argument, environment, directory and interpreter."""
import json, os, sys


def report(tag: str, out: str) -> None:
    rank, node = os.environ.get("RANK", "0"), os.environ.get("SLURMD_NODENAME", "?")
    got = {"tag": tag, "cwd": os.getcwd(), "python": sys.executable, "node": node,
           "env": {k: os.environ.get(k) for k in ("PLAIN", "OVER")}}
    with open(os.path.join(out, f"{rank}-{node}.json"), "w", encoding="utf-8") as f:
        json.dump(got, f)
'''
STAND_IN = '''#!PYTHON
"""A stand-in for apptainer, which is not installed here: not Apptainer."""
import json, os, sys

sys.stderr.write("apptainer stand-in, not Apptainer: runs the words after the image here\\n")
args, binds, pwd = sys.argv[1:], [], None
assert args[0] == "exec", args
i = 1
while args[i].startswith("-"):
    if args[i] == "--bind":
        binds.append(args[i + 1])
    elif args[i] == "--pwd":
        pwd = args[i + 1]
    i += 1 if args[i] == "--nv" else 2
for bind in binds:
    if not os.path.exists(bind.split(":")[0]):
        sys.exit(f"apptainer stand-in: bind source does not exist: {bind}")
node = os.environ.get("SLURMD_NODENAME", "?")
with open(os.environ["STAND_IN_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps({"argv": sys.argv[1:], "node": node}) + "\\n")
os.environ["OVER"] = "the image's own value"
for name in [n for n in os.environ if n.startswith("APPTAINERENV_")]:
    os.environ[name.removeprefix("APPTAINERENV_")] = os.environ.pop(name)
if pwd is not None:
    os.chdir(pwd)
os.execvp(args[i + 1], args[i + 1 :])
'''


@pytest.fixture(scope="module")
def jobs(slurm_cluster: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compile and submit the three jobs, wait for all: their directory (``SCENARIO/``)."""
    top = tmp_path_factory.mktemp("containers")
    (top / "probe.py").write_text(PROBE, encoding="utf-8")
    bin_dir = top / "bin"
    bin_dir.mkdir()
    (bin_dir / "apptainer").write_text(STAND_IN.replace("PYTHON", sys.executable), "utf-8")
    (bin_dir / "apptainer").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    path = f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env |= {"PATH": path, "STAND_IN_LOG": str(top / "stand-in.log")}
    submitted = {name: _submit(top, name, executor, env) for name, executor in _scenarios(top)}
    _wait(submitted)
    return top


def _scenarios(top: Path) -> list[tuple[str, dict[str, Any]]]:
    apptainer = {"image": IMAGE, "runtime": "apptainer", "env": {"OVER": HOSTILE}}
    (top / "work dir").mkdir()
    return [
        ("none", {"container": {"runtime": "none"}}),
        ("apptainer", {"container": apptainer, "workdir": str(top / "work dir")}),
        ("torchrun", {"container": apptainer, "nodes": 2}),
    ]


def _submit(top: Path, name: str, executor: dict[str, Any], env: dict[str, str]) -> str:
    out = top / name
    out.mkdir()
    tree: dict[str, Any] = {
        "nemorun": 1,
        "name": f"box-{name}",
        "pythonpath": [str(top)],
        "task": {"_target_": "probe:report", "tag": HOSTILE, "out": str(out)},
        "executor": {"target": "slurm", "time": 5, "env": {"PLAIN": HOSTILE}, **executor},
    }
    if name == "torchrun":
        tree["launcher"] = {"kind": "torchrun", "nproc_per_node": 1, "rdzv_port": 29731}
    container = tree["executor"]["container"]
    if container.get("runtime") == "apptainer":
        container["mounts"] = [f"{out}:{out}"]
    spec = out / "job.yaml"
    spec.write_text(yaml.safe_dump(tree), encoding="utf-8")
    loaded, warnings = load_for_target(spec, (), "slurm")
    artifacts = compile_spec(loaded, warnings=warnings, host_python=sys.executable)
    script = out / "job.sbatch"
    script.write_text(artifacts.main.text, encoding="utf-8")
    proc = subprocess.run(
        ["sbatch", "--parsable", str(script)],
        cwd=out, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().split(";")[0]


def _wait(submitted: dict[str, str], timeout: float = 300) -> None:
    """Until every job has ended (``scontrol show job``), each COMPLETED; else cancel ours."""
    deadline = time.monotonic() + timeout
    left = dict(submitted)
    while left and time.monotonic() < deadline:
        for name, job in list(left.items()):
            shown = subprocess.run(
                ["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=30
            ).stdout
            fields = dict(w.split("=", 1) for w in shown.split() if "=" in w)
            if fields.get("JobState") in FINAL:
                assert (fields["JobState"], fields.get("ExitCode")) == ("COMPLETED", "0:0"), name
                del left[name]
        time.sleep(0.5)
    for job in left.values():
        subprocess.run(["scancel", job], capture_output=True, timeout=30)
    assert not left, f"jobs did not end in {timeout} s: {left}"


def got(top: Path, name: str) -> list[dict[str, Any]]:
    """What each process of job ``name`` reported, by rank."""
    files = sorted((top / name).glob("*-*.json"))
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def stand_in_calls(top: Path) -> list[dict[str, Any]]:
    lines = (top / "stand-in.log").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_runtime_none_runs_in_the_nodes_environment(jobs: Path) -> None:
    [report] = got(jobs, "none")
    assert report["tag"] == HOSTILE
    assert report["env"] == {"PLAIN": HOSTILE, "OVER": None}
    assert report["python"] == sys.executable  # the node's own files: nemorun's interpreter
    assert not any(str(jobs / "none") in " ".join(c["argv"]) for c in stand_in_calls(jobs))


def test_apptainer_gives_the_job_its_values_through_the_step(jobs: Path) -> None:
    [report] = got(jobs, "apptainer")
    assert report["tag"] == HOSTILE  # through the entry's file, bound read-only
    # container.env wins over the image's own value; executor.env passes through
    assert report["env"] == {"PLAIN": HOSTILE, "OVER": HOSTILE}
    assert report["cwd"] == str(jobs / "work dir")
    assert Path(report["python"]).parent == Path(sys.executable).parent  # python3 on PATH
    [call] = [c for c in stand_in_calls(jobs) if "--pwd" in c["argv"]]
    argv = call["argv"]
    image = argv.index("docker://nvcr.io/nvidia/pytorch:24.01-py3")
    binds = [argv[i + 1] for i in range(image) if argv[i] == "--bind"]
    out = jobs / "apptainer"
    assert binds[0].endswith(":ro") and Path(binds[0].split(":")[0]).name.startswith("nemorun-")
    assert binds[1:] == [f"{jobs}:{jobs}:ro", f"{out}:{out}"]
    assert argv[:4] == ["exec", "--pwd", str(jobs / "work dir"), "--bind"]
    assert "--nv" not in argv  # no GPUs asked for
    [err] = (jobs / "apptainer").glob("*.err")
    assert "apptainer stand-in, not Apptainer" in err.read_text(encoding="utf-8")


def test_apptainer_under_torchrun_on_two_nodes(jobs: Path) -> None:
    reports = got(jobs, "torchrun")
    assert sorted(r["node"] for r in reports) == ["node1", "node2"]
    assert all(r["tag"] == HOSTILE and r["env"]["OVER"] == HOSTILE for r in reports)
    calls = [c for c in stand_in_calls(jobs) if "torchrun" in " ".join(c["argv"])]
    assert sorted(c["node"] for c in calls) == ["node1", "node2"]  # one step task per node
    for call in calls:
        image = call["argv"].index("docker://nvcr.io/nvidia/pytorch:24.01-py3")
        assert call["argv"][image + 1 : image + 3] == ["bash", "-c"]
