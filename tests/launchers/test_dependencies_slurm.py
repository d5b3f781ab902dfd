"""``after:`` conditions and ``singleton:`` on the test Slurm, for real, through ``nemorun
launch``: every scenario is submitted at once (one module fixture), so their waits overlap.
Which task ran is read from its own output, the order and overlap from the times it printed.

Needs the cluster of ``tests/infra/slurm.sh``; skips, saying so, without it. Only the jobs these
tests submitted are ever cancelled.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import nemorun

from tests.launchers.test_dependencies_local import STEPS  # the same task on both targets

HEAD = """\
nemorun: 1
name: {name}
pythonpath: ["."]
executor: {{target: slurm}}
"""

BRANCHES = """\
tasks:
  train: {{task: {{_target_: steps:step, name: train, fail_at: {fail_at}}}}}
  on_fail: {{task: {{_target_: steps:step, name: on_fail}}, after: {{train: notok}}}}
  always: {{task: {{_target_: steps:step, name: always}}, after: {{train: any}}}}
  report: {{task: {{_target_: steps:step, name: report}}, after: [on_fail]}}
"""

CORR = """\
tasks:
  train: {task: {_target_: steps:step, name: train, fail_at: 1}}
  eval: {task: {_target_: steps:step, name: eval}, after: {train: corr}}
sweep: {tasks.train.point: [0, 1, 2], tasks.eval.point: [0, 1, 2]}
"""

SINGLE = """\
tasks:
  work: {task: {_target_: steps:step, name: work, seconds: 4}, singleton: true}
"""


class Launched:
    """A launched run: its id, record directory and (once final) states by task."""

    def __init__(self, home: Path, run_id: str) -> None:
        self.id = run_id
        self.dir = home / "nemorun-runs" / run_id
        self.record: dict[str, Any] = json.loads((self.dir / "run.json").read_text())

    def jobs(self) -> list[dict[str, Any]]:
        return list(self.record["jobs"])

    def output(self, job: dict[str, Any], point: int = 0) -> str:
        log = self.dir / job["log"].replace("{point}", str(point))
        return log.read_text() if log.exists() else ""


@pytest.fixture(scope="module")
def launched(
    slurm_cluster: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Every scenario, submitted back to back; then polled until all of them are final."""
    directory = tmp_path_factory.mktemp("deps")
    home = directory / "home"
    (directory / "steps.py").write_text(STEPS)
    tag = uuid.uuid4().hex[:6]
    specs = {
        "failing": BRANCHES.format(fail_at=0),
        "passing": BRANCHES.format(fail_at=-1),
        "corr": CORR,
        "single_a": SINGLE,
        "single_b": SINGLE,
    }
    runs: dict[str, Any] = {}
    for key, body in specs.items():
        name = f"deps-{key.split('_')[0]}-{tag}"  # the singleton runs share one name
        (directory / f"{key}.yaml").write_text(HEAD.format(name=name) + body)
        done = nemorun(
            "launch", "--no-preflight", f"{key}.yaml", cwd=directory, NEMORUN_HOME=str(home)
        )
        assert done.returncode == 0, done.stderr
        runs[key] = Launched(home, done.stdout.strip())
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("NEMORUN_HOME", str(home))
            states = _wait(runs)
        yield {"runs": runs, "states": states, "home": home}
    finally:
        ids = [j["id"] for run in runs.values() for j in run.jobs()]
        subprocess.run(["scancel", *ids], capture_output=True, timeout=60)


def _wait(runs: dict[str, Launched], timeout: float = 150) -> dict[str, Any]:
    """Each run's ``status --json`` once all its jobs are final (asked in this process)."""
    from nemorun.api_runs import status

    deadline = time.monotonic() + timeout
    states: dict[str, Any] = {}
    while len(states) < len(runs):
        for key, run in runs.items():
            found = status(run.id) if key not in states else None
            if found is not None and all(j.state.is_final() for j in found.jobs):
                states[key] = found.to_json()
        assert time.monotonic() < deadline, states
        time.sleep(0.5)
    return states


def by_task(launched: dict[str, Any], key: str) -> dict[str, tuple[str, str | None, str]]:
    """Task → (state, reason, the first word the job printed)."""
    run, status = launched["runs"][key], launched["states"][key]
    out = {}
    for job, state in zip(run.jobs(), status["jobs"], strict=True):
        said = run.output(job).split()
        out[job["task"]] = (state["state"], state["reason"], said[0] if said else "")
    return out


@pytest.mark.slow
def test_notok_and_any_run_when_train_fails(launched: dict[str, Any]) -> None:
    assert by_task(launched, "failing") == {
        "train": ("failed", "exit code 3", "train"),
        "on_fail": ("completed", None, "on_fail"),
        "always": ("completed", None, "always"),
        "report": ("completed", None, "report"),
    }
    assert launched["states"]["failing"]["status"] == "failed"
    deps = [j["extra"].get("dependency") for j in launched["runs"]["failing"].jobs()]
    train = launched["runs"]["failing"].jobs()[0]["id"]
    on_fail = launched["runs"]["failing"].jobs()[1]["id"]
    assert deps == [None, f"afternotok:{train}", f"afterany:{train}", f"afterok:{on_fail}"]


@pytest.mark.slow
def test_notok_is_skipped_when_train_succeeds_and_the_run_reads_completed(
    launched: dict[str, Any],
) -> None:
    assert by_task(launched, "passing") == {
        "train": ("completed", None, "train"),
        "on_fail": ("skipped", "condition not met: train succeeded (after train: notok)", ""),
        "always": ("completed", None, "always"),
        "report": ("skipped", "condition not met: on_fail was skipped", ""),
    }
    assert launched["states"]["passing"]["status"] == "completed"
    listed = nemorun("ls", "--json", NEMORUN_HOME=str(launched["home"]))
    states = {r["id"]: r["status"] for r in json.loads(listed.stdout)}
    assert states[launched["runs"]["passing"].id] == "completed"
    # Slurm cancelled the never-satisfiable jobs (--kill-on-invalid-dep): none is left pending.
    ids = ",".join(j["id"] for j in launched["runs"]["passing"].jobs())
    queue = subprocess.run(
        ["squeue", "-h", "-j", ids, "-t", "pending"], capture_output=True, text=True, timeout=30
    )
    assert queue.stdout.strip() == ""


@pytest.mark.slow
def test_corr_runs_each_point_after_the_same_point(launched: dict[str, Any]) -> None:
    run, status = launched["runs"]["corr"], launched["states"]["corr"]
    states = [(j["state"], j["point"]) for j in status["jobs"]]
    assert states == [
        ("completed", 0),
        ("failed", 1),
        ("completed", 2),
        ("completed", 0),
        ("failed", 1),
        ("completed", 2),
    ]
    assert status["jobs"][4]["reason"].startswith("dependency never satisfied: train failed")
    train, evaluate = run.jobs()
    assert evaluate["extra"]["dependency"] == f"aftercorr:{train['id']}"
    assert [run.output(evaluate, p).split()[:1] for p in range(3)] == [["eval"], [], ["eval"]]
    assert run.output(evaluate, 2).split()[-1] == "2"  # the point it got


@pytest.mark.slow
def test_singleton_serialises_two_runs_of_the_same_name(launched: dict[str, Any]) -> None:
    spans = []
    for key in ("single_a", "single_b"):
        run = launched["runs"][key]
        (job,) = run.jobs()
        assert job["extra"]["dependency"] == "singleton"
        assert launched["states"][key]["status"] == "completed"
        words = run.output(job).split()
        spans.append((float(words[words.index("start") + 1]), float(words[words.index("end") + 1])))
    first, second = sorted(spans)
    assert first[1] <= second[0]  # the second started only once the first had ended
