"""Tracking hand-off against the real trackers: a local ``mlflow server`` (sqlite, 127.0.0.1, a
free port) started and stopped by the test set-up (`tests/mlflow_server.py`), W&B in offline
mode (its files read back), and TensorBoard event files read with TensorBoard's own reader.

Each job logs into the tracker's run with the tracker's own library, from the variables nemorun
gave it, so a test passes only if the run nemorun created is the one the job found.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import CliResult, run_dirs
from mlflow_server import free_port

Cli = Callable[..., CliResult]

MLFLOW_JOB = """
import os


def train(lr: float = 0.1, seconds: float = 0) -> None:
    import time

    import mlflow

    given = os.environ["MLFLOW_RUN_ID"]
    with mlflow.start_run() as run:
        assert run.info.run_id == given, (run.info.run_id, given)
        mlflow.log_metric("loss", lr * 3, step=1)
    time.sleep(seconds)
"""


def _spec(workdir: Path, tracking: str, module: str, body: str, extra: str = "") -> Path:
    (workdir / f"{module}.py").write_text(body)
    spec = workdir / f"{module}.yaml"
    spec.write_text(
        f"nemorun: 1\nname: {module}\npythonpath: [.]\n"
        f"task: {{_target_: '{module}:train', lr: 0.5{extra}}}\ntracking: {tracking}\n"
    )
    return spec


def _tracking(run_dir: Path) -> dict[str, dict[str, str]]:
    data = json.loads((run_dir / "run.json").read_text())
    return {ref["tracker"]: ref for ref in data["tracking"]}


WANDB_JOB = """
import os


def train(lr: float = 0.1) -> None:
    import wandb

    run = wandb.init()  # everything from the environment nemorun gave
    assert run.id == os.environ["WANDB_RUN_ID"]
    run.log({"loss": lr / 2})
    run.finish()
"""


def test_wandb_offline_run_gets_the_config_and_the_jobs_history(
    cli: Cli, home: Path, workdir: Path
) -> None:
    pytest.importorskip("wandb")
    tracking = "{wandb: {project: handoff, mode: offline, dir: wb}}"
    spec = _spec(workdir, tracking, "wbjob", WANDB_JOB)
    done = cli("launch", str(spec), "--wait")
    assert done.code == 0, done.err
    ref = _tracking(run_dirs(home)[0])["wandb"]
    files = sorted((workdir / "wb" / "wandb").glob(f"offline-run-*-{ref['run_id']}/*.wandb"))
    assert len(files) == 3  # nemorun's start, the job's resume, nemorun's end
    records = [r for f in files for r in _wandb_records(f)]
    updates = [u for r in records if r.HasField("run") for u in r.run.config.update]
    updates += [u for r in records if r.HasField("config") for u in r.config.update]
    config = {u.key: u.value_json for u in updates}
    assert json.loads(config["task.lr"]) == "0.5" and json.loads(config["name"]) == "wbjob"
    history = [
        {i.key or "/".join(i.nested_key): i.value_json for i in r.history.item}
        for r in records
        if r.HasField("history")
    ]
    assert any(json.loads(h.get("loss", "null")) == 0.25 for h in history), history
    summary = {
        u.key: json.loads(u.value_json)
        for r in records
        if r.HasField("summary")
        for u in r.summary.update
    }
    assert summary["nemorun.status"] == "completed"
    assert summary["nemorun.run_id"] == run_dirs(home)[0].name
    assert {r.run.project for r in records if r.HasField("run")} == {"handoff"}


def _wandb_records(path: Path) -> list[object]:
    """The records of a ``.wandb`` file: W&B's datastore is a LevelDB-style log (a 7-byte
    header, then 32 KiB blocks of chunks: crc32, length, type; full/first/middle/last)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, at = [], b"", 7
    while at + 7 <= len(data):
        room = 32768 - at % 32768
        if room < 7:
            at += room
            continue
        _, length, kind = struct.unpack("<IHB", data[at : at + 7])
        chunk = data[at + 7 : at + 7 + length]
        at += 7 + length
        pending += chunk
        if kind in (1, 4):  # full, last
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
        elif kind == 0:
            break
    return records


TENSORBOARD_JOB = """
import os
import time


def train(lr: float = 0.1) -> None:
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(os.environ["TENSORBOARD_LOGDIR"])
    value = Summary.Value(tag="loss", simple_value=lr / 4)
    writer.add_event(Event(wall_time=time.time(), step=3, summary=Summary(value=[value])))
    writer.close()
"""


def test_tensorboard_logdir_has_nemoruns_texts_and_the_jobs_scalars(
    cli: Cli, home: Path, workdir: Path
) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    spec = _spec(workdir, "{tensorboard: {dir: tb}}", "tbjob", TENSORBOARD_JOB)
    done = cli("launch", str(spec), "--wait")
    assert done.code == 0, done.err
    run_dir = run_dirs(home)[0]
    logdir = Path(_tracking(run_dir)["tensorboard"]["logdir"])
    assert logdir == workdir / "tb" / run_dir.name
    events = EventAccumulator(str(logdir), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    assert [(s.step, s.value) for s in events.Scalars("loss")] == [(3, 0.125)]

    def texts(tag: str) -> list[str]:
        return [t.tensor_proto.string_val[0].decode() for t in events.Tensors(tag)]

    assert "| task.lr | 0.5 |" in texts("nemorun/spec")[0]
    assert f"| nemorun.run_id | {run_dir.name} |" in texts("nemorun/run")[0]
    assert texts("nemorun/status") == ["pending", "running", "completed"]
    script = (run_dir / "artifacts" / "tbjob.sh").read_text()
    assert texts("nemorun/artifact/tbjob.sh") == ["```\n" + script + "\n```"]


def test_compile_creates_no_tracker_run(cli: Cli, workdir: Path) -> None:
    spec = _spec(workdir, "{tensorboard: {dir: tb}}", "pure", "def train(lr=0): pass\n")
    compiled = cli("compile", str(spec))
    assert compiled.code == 0, compiled.err
    assert "TENSORBOARD_LOGDIR" not in compiled.out
    assert not (workdir / "tb").exists()


# --- MLflow (its server booted meanwhile) ---------------------------------------------------


def test_mlflow_run_has_the_spec_the_artifacts_and_the_jobs_metric(
    cli: Cli, home: Path, workdir: Path, mlflow_uri: str
) -> None:
    from mlflow.tracking import MlflowClient

    tracking = f"{{mlflow: {{uri: '{mlflow_uri}', experiment: handoff}}}}"
    spec = _spec(workdir, tracking, "mljob", MLFLOW_JOB)
    done = cli("launch", str(spec), "--wait")
    assert done.code == 0, done.err
    (run_dir,) = run_dirs(home)
    ref = _tracking(run_dir)["mlflow"]
    client = MlflowClient(mlflow_uri)
    run = client.get_run(ref["run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "handoff"
    assert run.data.params["task.lr"] == "0.5" and run.data.params["name"] == "mljob"
    assert run.data.tags["nemorun.run_id"] == run_dir.name
    assert run.data.tags["nemorun.target"] == "local"
    assert "nemorun.git_commit" in run.data.tags
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [
        (1, 1.5)
    ]
    names = {a.path for a in client.list_artifacts(run.info.run_id, "nemorun")}
    assert {"nemorun/mljob.sh", "nemorun/entry.py", "nemorun/tasks.json"} <= names
    local = client.download_artifacts(run.info.run_id, "nemorun/mljob.sh", str(workdir))
    assert Path(local).read_text() == (run_dir / "artifacts" / "mljob.sh").read_text()
    assert f"MLFLOW_RUN_ID={ref['run_id']}" in Path(local).read_text()


def test_a_cancelled_run_is_mirrored_as_killed(
    cli: Cli, home: Path, workdir: Path, mlflow_uri: str
) -> None:
    from mlflow.tracking import MlflowClient

    sleeper = "import time\n\n\ndef train(lr=0.0):\n    time.sleep(300)\n"
    spec = _spec(workdir, f"{{mlflow: {{uri: '{mlflow_uri}'}}}}", "mlslow", sleeper)
    run_id = cli("launch", str(spec)).out.strip()
    client = MlflowClient(mlflow_uri)
    tracked = _tracking(run_dirs(home)[0])["mlflow"]["run_id"]
    assert client.get_run(tracked).info.status in ("SCHEDULED", "RUNNING")
    deadline = time.monotonic() + 60
    while cli("status", run_id).out.count("running") == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get_run(tracked).info.status == "RUNNING"
    assert cli("cancel", run_id).code == 0
    run = client.get_run(tracked)
    assert run.info.status == "KILLED" and run.info.end_time is not None
    assert client.get_experiment(run.info.experiment_id).name == "mlslow"  # the run's name


def test_a_tracker_that_is_down_stops_the_launch_before_submitting(
    cli: Cli, home: Path, workdir: Path
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    spec = _spec(workdir, f"{{mlflow: {{uri: '{down}'}}}}", "down", "def train(lr=0): pass\n")
    refused = cli("launch", str(spec))
    assert refused.code == 1
    assert refused.err.startswith(
        f"error: tracking.mlflow: the MLflow server at {down} cannot be reached ("
    )
    assert refused.err.rstrip().endswith(
        "nothing was submitted (set tracking.mlflow.required: false to launch without it)"
    )
    assert not (home / "nemorun-runs").exists() or run_dirs(home) == []
    optional = f"{{mlflow: {{uri: '{down}', required: false}}}}"
    spec.write_text(spec.read_text().replace(f"{{mlflow: {{uri: '{down}'}}}}", optional))
    went = cli("launch", str(spec), "--wait")
    assert went.code == 0, went.err
    assert "warning: tracking.mlflow: the MLflow server at" in went.err
    assert "the run is not tracked there" in went.err
    assert _tracking(run_dirs(home)[0]) == {}
