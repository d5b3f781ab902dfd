"""Run records: where they live, what a record holds, finding runs, and safety under kills and
concurrent launches (real ``nemorun launch`` processes, SIGKILLed at random moments)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from conftest import NEMORUN, ROOT, run_dirs

from nemorun.api_runs import launch
from nemorun.errors import SpecError
from nemorun.launchers.base import JobState, JobStatus
from nemorun.launchers.records import (
    create_run_dir,
    find_run,
    list_records,
    load_record,
    runs_root,
    save_state,
)

UTC_ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


# --- where --------------------------------------------------------------------------------------


def test_records_live_in_our_own_subfolder_of_nemorun_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEMORUN_HOME", str(tmp_path / "nh"))
    assert runs_root() == tmp_path / "nh" / "nemorun-runs"
    monkeypatch.delenv("NEMORUN_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert runs_root() == tmp_path / "xdg" / "nemorun" / "runs"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert runs_root() == tmp_path / "user" / ".local" / "share" / "nemorun" / "runs"


# --- what a record holds ------------------------------------------------------------------------


def test_a_record_holds_everything_rerun_needs(home: Path, tmp_path: Path) -> None:
    base = write(
        tmp_path / "common" / "base.yaml",
        f"""
        nemorun: 1
        pythonpath: [{ROOT / "examples"}]
        task:
          _target_: trainlib:train
          model: {{hidden_size: 8}}
          optim: {{lr: 0.1}}
          log_every: 1
        """,
    )
    spec = write(
        tmp_path / "exp" / "run.yaml",
        """
        nemorun: 1
        name: recorded
        extends: [../common/base.yaml]
        task: {steps: 2}
        """,
    )
    run = launch(spec, ["seed=3"], wait=True)
    d = run.record.dir
    data = json.loads((d / "run.json").read_text())
    assert data["id"] == d.name and data["name"] == "recorded" and data["target"] == "local"
    assert data["overrides"] == ["seed=3"]
    assert data["cwd"] == str(tmp_path)
    for key in ("created", "submitted"):
        moment = datetime.strptime(data[key], UTC_ISO).replace(tzinfo=timezone.utc)
        assert abs((datetime.now(timezone.utc) - moment).total_seconds()) < 60
    assert d.name.startswith(data["created"][:10].replace("-", ""))
    # the spec as written, and the file it extends, in the same layout
    copies = {f["copy"]: f for f in data["files"]}
    assert set(copies) == {"spec/exp/run.yaml", "spec/common/base.yaml"}
    assert (d / "spec/exp/run.yaml").read_bytes() == spec.read_bytes()
    assert (d / "spec/common/base.yaml").read_bytes() == base.read_bytes()
    assert copies["spec/common/base.yaml"]["path"] == str(base)
    # the resolved spec
    resolved = yaml.safe_load((d / "resolved.yaml").read_text())
    assert resolved["task"]["steps"] == 2 and resolved["task"]["seed"] == 3
    # the artifacts and their hashes
    assert set(data["artifacts"]) == {"recorded.sh", "entry.py", "tasks.json"}
    for name, digest in data["artifacts"].items():
        assert hashlib.sha256((d / "artifacts" / name).read_bytes()).hexdigest() == digest
    # provenance
    prov = json.loads((d / "provenance.json").read_text())
    assert prov["git"] == "not a git repo"
    assert prov["packages"]["nemorun"] and prov["packages"]["fiddle"]
    assert prov["task_packages"] == {}  # trainlib is a directory on pythonpath, no distribution
    assert prov["python"]["version"].count(".") == 2
    assert prov["host"] and "user" in prov
    # jobs, states, log paths (relative to the run: the record can move)
    [job] = data["jobs"]
    assert job["log"] == "logs/recorded.0.log" and "step 2 loss" in (d / job["log"]).read_text()
    state = json.loads((d / "state.json").read_text())
    assert state["status"] == "completed" and state["jobs"][0]["state"] == "completed"
    assert state["ended"].endswith("Z")


def test_the_git_commit_and_a_patch_of_uncommitted_changes_are_recorded(
    home: Path, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    spec = write(repo / "exp.yaml", "nemorun: 1\ntask: {command: 'echo hi'}\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "exp.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    spec.write_text("nemorun: 1\ntask: {command: 'echo changed'}\n")
    (repo / "new.txt").write_text("untracked")
    run = launch(spec, wait=True)
    prov = json.loads((run.record.dir / "provenance.json").read_text())
    assert prov["git"]["commit"] == head.strip()
    assert prov["git"]["repository"] == str(repo)
    assert prov["git"]["dirty"] is True and prov["git"]["untracked"] == ["new.txt"]
    patch = (run.record.dir / prov["git"]["patch"]).read_text()
    assert "-task: {command: 'echo hi'}" in patch and "+task: {command: 'echo changed'}" in patch


def test_environment_references_never_appear_resolved_in_a_record(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "/very/secret/place-4711"
    monkeypatch.setenv("DATA_DIR", secret)
    monkeypatch.setenv("TOKEN", "tok-0815")
    spec = write(
        tmp_path / "env.yaml",
        f"""
        nemorun: 1
        pythonpath: [{ROOT / "examples"}]
        task:
          _target_: trainlib:train
          model: {{}}
          optim: {{}}
          data: {{path: "${{oc.env:DATA_DIR,/tmp/data}}"}}
          steps: 1
        executor:
          env: {{API_TOKEN: "${{oc.env:TOKEN}}"}}
        """,
    )
    run = launch(spec, ["tag=${oc.env:USER,nobody}"], wait=True)
    assert run.state() is JobState.COMPLETED
    d = run.record.dir
    assert secret in (d / "logs" / "env.0.log").read_text()  # the job did read it …
    for path in d.rglob("*"):
        if path.is_file() and path.parent.name != "logs":  # … but no record file holds it
            text = path.read_text(errors="replace")
            assert secret not in text and "tok-0815" not in text, path
    assert "${oc.env:DATA_DIR,/tmp/data}" in (d / "resolved.yaml").read_text()


# --- finding runs -------------------------------------------------------------------------------


def _fake(root: Path, run_id: str, name: str, created: str) -> None:
    d = root / run_id
    d.mkdir(parents=True)
    body = {"nemorun_run": 1, "id": run_id, "name": name, "target": "local", "created": created}
    (d / "run.json").write_text(json.dumps(body))


def test_runs_are_found_by_id_prefix_or_name(home: Path) -> None:
    root = runs_root()
    _fake(root, "20261121-101500-a-000001", "a", "2026-11-21T10:15:00.000001Z")
    _fake(root, "20261121-101500-a-000002", "a", "2026-11-21T10:15:00.000002Z")
    _fake(root, "20261121-111500-b-000003", "b", "2026-11-21T11:15:00.000000Z")
    (root / "20261121-120000-half-000004").mkdir()  # no run.json: not a run
    assert [r.id for r in list_records()] == [
        "20261121-111500-b-000003",
        "20261121-101500-a-000002",
        "20261121-101500-a-000001",
    ]
    assert find_run("20261121-101500-a-000001").id == "20261121-101500-a-000001"
    assert find_run("20261121-1115").id == "20261121-111500-b-000003"
    assert find_run("a").id == "20261121-101500-a-000002"  # the newest of that name
    with pytest.raises(SpecError) as ambiguous:
        find_run("20261121-1015")
    assert ambiguous.value.message == (
        "'20261121-1015' matches 2 runs: 20261121-101500-a-000002, 20261121-101500-a-000001"
    )
    with pytest.raises(SpecError, match="no run 'half'"):
        find_run("half")
    with pytest.raises(SpecError, match="no run"):
        find_run("20261121-120000-half-000004")


def test_run_ids_are_unique_and_sortable_under_concurrency(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 21, 10, 15, tzinfo=timezone.utc)
    ids: list[str] = []
    lock = threading.Lock()

    def claim() -> None:
        for _ in range(25):
            run_id, path = create_run_dir("same name!", moment, tmp_path)
            assert path.is_dir()
            with lock:
                ids.append(run_id)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 200
    assert all(i.startswith("20261121-101500-same_name-") for i in ids)


def test_state_updates_are_persisted_atomically(home: Path, tmp_path: Path) -> None:
    spec = write(tmp_path / "s.yaml", "nemorun: 1\ntask: {command: 'true'}\n")
    run = launch(spec, wait=True)
    record = load_record(run.record.dir)
    assert record is not None and record.status is JobState.COMPLETED
    save_state(record, [JobStatus("x", JobState.FAILED, "because")], {"k": 1})
    again = load_record(run.record.dir)
    assert again is not None and again.status is JobState.FAILED
    assert again.statuses == [JobStatus("x", JobState.FAILED, "because")]
    assert again.handle().state == {"k": 1}
    assert not [p for p in run.record.dir.iterdir() if p.name.endswith(".tmp")]


# --- crash safety and concurrency (real processes) ----------------------------------------------


def _launch_process(spec: Path, home: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*NEMORUN, "launch", str(spec)],
        env={**os.environ, "NEMORUN_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _listed(home: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [*NEMORUN, "ls", "--json"],
        env={**os.environ, "NEMORUN_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    runs: list[dict[str, object]] = json.loads(done.stdout)
    return runs


def _assert_whole(run_dir: Path) -> None:
    data = json.loads((run_dir / "run.json").read_text())
    for name in ("state.json", "resolved.yaml", "provenance.json", "artifacts/tasks.json"):
        assert (run_dir / name).is_file(), (run_dir, name)
    for copy in data["files"]:
        assert hashlib.sha256((run_dir / copy["copy"]).read_bytes()).hexdigest() == copy["sha256"]
    for name, digest in data["artifacts"].items():
        assert hashlib.sha256((run_dir / "artifacts" / name).read_bytes()).hexdigest() == digest
    assert data["jobs"], run_dir


@pytest.mark.slow
def test_a_launch_killed_at_any_moment_never_leaves_a_half_record_listed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ran = tmp_path / "ran"
    ran.mkdir()
    spec = write(
        tmp_path / "fast.yaml", f"nemorun: 1\ntask: {{command: 'touch {ran}/$NEMORUN_RUN_ID'}}\n"
    )
    durations = []
    for _ in range(2):
        start = time.monotonic()
        assert _launch_process(spec, home).wait(timeout=120) == 0
        durations.append(time.monotonic() - start)
    whole = min(durations)  # how long a launch takes here: kill within that
    rng = random.Random(1234)
    killed = 0
    for _ in range(30):
        process = _launch_process(spec, home)
        time.sleep(rng.uniform(0.3 * whole, 1.1 * whole))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait()
    assert killed >= 5, (killed, whole)  # many were killed before they finished
    time.sleep(0.5)  # let the supervisors of whole runs finish, and the others give up
    listed = _listed(home)
    root = home / "nemorun-runs"
    for run in listed:
        _assert_whole(root / str(run["id"]))
    on_disk = {p.name for p in root.iterdir()}
    unlisted = on_disk - {str(r["id"]) for r in listed}
    # no job ran for a run without a record
    assert not unlisted & {p.name for p in ran.iterdir()}
    assert {str(r["id"]) for r in listed} >= {p.name for p in ran.iterdir()}
    # and no supervisor is left waiting for a record that will never come
    deadline = time.monotonic() + 10
    while _processes_mentioning(str(home)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_mentioning(str(home)) == []


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if text in line:
            found.append(line)
    return found


@pytest.mark.slow
def test_fifty_concurrent_launches_make_fifty_whole_records(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = write(tmp_path / "same.yaml", "nemorun: 1\nname: same\ntask: {command: 'true'}\n")
    processes = [_launch_process(spec, home) for _ in range(50)]
    assert [p.wait(timeout=300) for p in processes] == [0] * 50
    listed = _listed(home)
    assert len(listed) == 50 and len({r["id"] for r in listed}) == 50
    for run in listed:
        assert run["name"] == "same" and run["target"] == "local"
        _assert_whole(home / "nemorun-runs" / str(run["id"]))


def test_task_packages_name_the_distribution_and_its_requirements() -> None:
    """The module ``yaml`` belongs to the distribution PyYAML, ``omegaconf.x`` to omegaconf."""
    from importlib import metadata

    from nemorun.launchers.provenance import task_packages

    found = task_packages(["omegaconf.omegaconf", "yaml", "no_such_module_here"])
    assert found["PyYAML"] == {"version": metadata.version("PyYAML"), "modules": ["yaml"],
                               "requires": {}}  # fmt: skip
    assert found["omegaconf"]["modules"] == ["omegaconf.omegaconf"]
    assert found["omegaconf"]["requires"]["PyYAML"] == metadata.version("PyYAML")
    assert set(found) == {"PyYAML", "omegaconf"}


def test_an_override_of_a_swept_key_leaves_the_recorded_sweep(
    home: Path, write_spec: Callable[[str, str], Path], workdir: Path
) -> None:
    """``optim.lr=0.3`` on a spec that sweeps ``optim.lr`` runs one job with 0.3. Its record must
    say the same: run again, ``resolved.yaml`` gives that one job, not the spec's sweep."""
    spec = write_spec(
        "sw.yaml",
        """
        nemorun: 1
        name: sw
        pythonpath: [{examples}]
        task:
          _target_: trainlib:train
          model: {hidden_size: 8}
          optim: {lr: 0.05}
          steps: 2
        sweep:
          optim.lr: [0.05, 0.1]
          steps: [2, 3]
        """,
    )
    first = subprocess.run(
        [*NEMORUN, "run", str(spec), "optim.lr=0.3"], capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 0, first.stderr
    resolved = next(run_dirs(home)[0].glob("resolved.yaml"))
    assert yaml.safe_load(resolved.read_text())["sweep"] == {"steps": [2, 3]}
    again = workdir / "again.yaml"
    again.write_text(resolved.read_text())
    second = subprocess.run(
        [*NEMORUN, "run", str(again)], capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr
    lines = [line for line in second.stdout.splitlines() if "lr=" in line]
    assert len(lines) == 2 and all("lr=0.3" in line for line in lines), second.stdout
