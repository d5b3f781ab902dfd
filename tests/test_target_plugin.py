"""A target added by a plugin package, with no change to nemorun: the registry's proof.

The test builds a throwaway distribution in a temporary directory: a package ``nemorun_pbs``
with its `TargetDef` (its own options dataclass, one field with a declared format), its own
template, and a launch half that runs the compiled script on this machine; plus a
``*.dist-info`` whose ``entry_points.txt`` registers it in the ``nemorun.targets`` group. Put on
``PYTHONPATH``, it is found by every command a user runs: ``validate``, ``schema``, ``compile``,
``launch``, ``ls``, ``status``, ``logs`` and ``cancel``, each in its own process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest
from conftest import ROOT
from conftest import nemorun as run_cli

TARGET_MODULE = '''
"""A PBS-like target for the test: options, plan and declaration in one module."""

from dataclasses import dataclass
from pathlib import Path

from nemorun.registry import TargetDef
from nemorun.schemas.formats import Format, option
from nemorun.schemas.options import ExecutorOptions

WALLTIME = Format(
    "a PBS walltime", pattern="[0-9]+:[0-5][0-9]:[0-5][0-9]", expected="HH:MM:SS",
    example="01:00:00",
)


@dataclass
class PbsOptions(ExecutorOptions):
    """PBS options.

    Args:
        queue: The queue the job goes to.
        walltime: The job's time limit.
    """

    queue: str = "workq"
    walltime: str | None = option(WALLTIME)


@dataclass(frozen=True)
class PbsPlan:
    queue: str
    walltime: str | None


def plan(spec, job):
    return PbsPlan(spec.executor.queue, spec.executor.walltime), []


TARGET = TargetDef(
    name="pbs",
    options=PbsOptions,
    plan=plan,
    template="pbs.sh.j2",
    template_dir=Path(__file__).parent / "templates",
    suffix=".pbs",
    launch="nemorun_pbs.launch:PbsLauncher",
    host_filesystem=True,
)
'''

TEMPLATE = """\
#!/usr/bin/env bash
{% from "_run.j2" import run %}
#PBS -q {{ target.queue | q }}
{% if target.walltime is not none %}
#PBS -l walltime={{ target.walltime }}
{% endif %}
set -euo pipefail
{% include "_job.sh.j2" %}

for ((point = 0; point < {{ job.num_points }}; point++)); do
    export NEMORUN_POINT="$point"
    {{ run(job) }}
done
"""

LAUNCH_MODULE = '''
"""The launch half: runs the compiled script here, detached; its pid is the job id."""

import os
import shutil
import signal
import subprocess

from nemorun.launchers.base import JobRef, JobState, JobStatus, Target


class PbsLauncher(Target):
    def submit(self, run):
        (script,) = sorted(run.artifacts_dir.glob("*.pbs"))
        log, done = run.logs_dir / "pbs.log", run.dir / "pbs.exit"
        run.logs_dir.mkdir(exist_ok=True)
        shell = f'bash "$0" >"$1" 2>&1; echo $? >"$2"'
        process = subprocess.Popen(
            ["bash", "-c", shell, str(script), str(log), str(done)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return [JobRef(str(process.pid), log=str(log))]

    def status(self, run):
        out = []
        for job in run.jobs:
            done = run.dir / "pbs.exit"
            if (run.dir / "pbs.cancelled").exists():
                state = JobState.CANCELLED
            elif done.exists() and done.read_text().strip():
                code = int(done.read_text())
                state = JobState.COMPLETED if code == 0 else JobState.FAILED
            else:
                state = JobState.RUNNING
            out.append(JobStatus(job.id, state))
        return out

    def logs(self, run, job, follow=False):
        yield from (run.logs_dir / "pbs.log").read_text().splitlines()

    def cancel(self, run):
        (run.dir / "pbs.cancelled").write_text("")
        for job in run.jobs:
            try:
                os.killpg(int(job.id), signal.SIGTERM)
            except ProcessLookupError:
                pass
'''

TASK_CODE = """
import time


def main(word: str, seconds: float = 0.0) -> None:
    print(f"pbs says {word}", flush=True)
    time.sleep(seconds)
"""

SPEC = """\
nemorun: 1
name: hello
pythonpath: [code]
task:
  _target_: hello:main
  word: hi
executor:
  target: pbs
  walltime: {walltime}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin distribution, as an installer would lay it out in site-packages."""
    site = tmp_path_factory.mktemp("site")
    package = site / "nemorun_pbs"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "target.py").write_text(TARGET_MODULE, encoding="utf-8")
    (package / "launch.py").write_text(LAUNCH_MODULE, encoding="utf-8")
    (package / "templates" / "pbs.sh.j2").write_text(TEMPLATE, encoding="utf-8")
    info = site / "nemorun_pbs-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: nemorun-pbs\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        '[nemorun.targets]\npbs = "nemorun_pbs.target:TARGET"\n'.replace('"', ""),
        encoding="utf-8",
    )
    return site


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "hello.py").write_text(TASK_CODE, encoding="utf-8")
    (tmp_path / "exp.yaml").write_text(SPEC.format(walltime="'01:00:00'"), encoding="utf-8")
    return tmp_path


def nemorun(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with the plugin's distribution on its path, runs recorded under ``cwd/home``."""
    pythonpath = os.pathsep.join([str(site), str(ROOT)])
    return run_cli(*args, cwd=cwd, PYTHONPATH=pythonpath, NEMORUN_HOME=str(cwd / "home"))


def test_validate_and_a_bad_option_value_located(site: Path, project: Path) -> None:
    ok = nemorun(site, project, "validate", "exp.yaml")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "exp.yaml: ok (hello:main; target pbs)\n"
    (project / "bad.yaml").write_text(SPEC.format(walltime="forever"), encoding="utf-8")
    bad = nemorun(site, project, "validate", "bad.yaml")
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[0] == (
        "error: bad.yaml:9:13: executor.walltime: not a PBS walltime: expected HH:MM:SS, "
        "found 'forever'; e.g. '01:00:00'"
    )
    typo = nemorun(site, project, "validate", "exp.yaml", "executor.queu=x")
    assert typo.returncode == 2 and "did you mean 'queue'" in typo.stderr


def test_an_unknown_target_lists_the_plugin(site: Path, project: Path) -> None:
    proc = nemorun(site, project, "compile", "exp.yaml", "--target", "pbz")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == (
        "error: --target: unknown target: expected one of local, slurm, docker, skypilot, ray, "
        "kubernetes, pbs, found 'pbz'; did you mean 'pbs'?"
    )


def test_schema_carries_the_plugin_options_and_formats(site: Path, project: Path) -> None:
    proc = nemorun(site, project, "schema", "exp.yaml")
    assert proc.returncode == 0, proc.stderr
    validator = jsonschema.Draft202012Validator(json.loads(proc.stdout))
    spec: dict[str, object] = {
        "nemorun": 1,
        "pythonpath": ["code"],
        "task": {"_target_": "hello:main", "word": "hi"},
        "executor": {"target": "pbs", "queue": "long", "walltime": "02:00:00"},
    }
    assert list(validator.iter_errors(spec)) == []
    bad = {**spec, "executor": {"target": "pbs", "walltime": "forever"}}
    assert list(validator.iter_errors(bad)) != []


def test_compile_renders_the_plugin_template_and_the_script_runs(site: Path, project: Path) -> None:
    (project / "exp.yaml").write_text(
        SPEC.format(walltime="'01:00:00'").replace("executor:\n  target: pbs\n", "executor:\n")
        + "  queue: long\n",
        encoding="utf-8",
    )
    proc = nemorun(site, project, "compile", "exp.yaml", "--target", "pbs", "-o", "out")
    assert proc.returncode == 0, proc.stderr
    script = project / "out" / "hello.pbs"
    assert "#PBS -q long\n#PBS -l walltime=01:00:00\n" in script.read_text(encoding="utf-8")
    ran = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and ran.stdout == "pbs says hi\n", ran.stderr


def wait_for(site: Path, project: Path, run: str, state: str) -> str:
    for _ in range(100):
        proc = nemorun(site, project, "status", run)
        if f"pbs  {state}" in proc.stdout:
            return proc.stdout
        time.sleep(0.2)
    raise AssertionError(f"run {run} never became {state}: {proc.stdout}{proc.stderr}")


def test_launch_ls_status_logs_and_cancel(site: Path, project: Path) -> None:
    (project / "exp.yaml").write_text(
        SPEC.format(walltime="'01:00:00'").replace("executor:\n  target: pbs\n", "executor:\n"),
        encoding="utf-8",
    )
    launched = nemorun(site, project, "launch", "exp.yaml", "--target", "pbs")
    assert launched.returncode == 0, launched.stderr
    first = launched.stdout.split()[0]
    wait_for(site, project, first, "completed")
    logs = nemorun(site, project, "logs", first)
    assert logs.returncode == 0 and "pbs says hi" in logs.stdout, logs.stderr

    slow = nemorun(site, project, "launch", "exp.yaml", "--target", "pbs", "seconds=60")
    second = slow.stdout.split()[0]
    wait_for(site, project, second, "running")
    cancelled = nemorun(site, project, "cancel", second)
    assert cancelled.returncode == 0, cancelled.stderr
    wait_for(site, project, second, "cancelled")

    listed = nemorun(site, project, "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    runs = {r["id"]: (r["target"], r["status"]) for r in json.loads(listed.stdout)}
    assert runs == {first: ("pbs", "completed"), second: ("pbs", "cancelled")}


def test_max_parallel_is_refused_for_a_target_without_a_parallel_option(
    site: Path, project: Path
) -> None:
    proc = nemorun(site, project, "launch", "exp.yaml", "--max-parallel", "2")
    assert proc.returncode == 2
    assert (
        "--max-parallel applies to the local, slurm and kubernetes targets, not pbs" in proc.stderr
    )


def test_the_plugin_is_not_looked_up_when_a_built_in_target_is_asked_for(
    site: Path, project: Path
) -> None:
    """A built-in name reads no package metadata: a broken plugin cannot slow or break it."""
    broken = site.parent / "broken"
    shutil.copytree(site, broken)
    (broken / "nemorun_pbs" / "target.py").write_text("raise ImportError('boom')\n")
    local = project / "local.yaml"
    local.write_text(SPEC.format(walltime="x").split("executor:")[0], encoding="utf-8")
    assert nemorun(broken, project, "validate", "local.yaml").returncode == 0
    proc = nemorun(broken, project, "validate", "exp.yaml")
    assert proc.returncode == 1
    assert proc.stderr == (
        "error: target 'pbs' is registered (nemorun_pbs.target:TARGET) but cannot be loaded: "
        "ImportError: boom\n"
    )
