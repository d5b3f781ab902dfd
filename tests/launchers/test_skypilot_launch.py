"""The ``skypilot`` launch target (`nemorun.launchers.skypilot.SkyPilotTarget`).

No cloud is configured on these machines, so what runs for real is the availability check:

- SkyPilot not installed: a real interpreter that cannot import ``sky`` (``python -S``);
- no cloud enabled: the real ``sky check -o json`` in an empty home (slow: ~15 s, it starts
  SkyPilot's API server, which the check stops again), and ``submit`` refusing with the same
  message.

One test uses a **mock**, and says so: the parse of ``sky check``'s output, with and without an
enabled cloud, on canned output (an enabled cloud cannot be had here). The rest is offline:
cutting a sweep's stream into one document per point (unchanged text, each accepted by
SkyPilot's own parser) and cluster names. ``sky launch``/``queue``/``logs``/``cancel``/``down``
against a real cloud are untested.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nemorun.api import load_for_target
from nemorun.compiler.manifest import MANIFEST, Manifest, TaskEntry
from nemorun.compiler.tasks import compile_tasks
from nemorun.files import write_atomic
from nemorun.launchers import skypilot
from nemorun.launchers.base import LaunchError, RunHandle
from nemorun.launchers.skypilot import (
    DEFAULT_ENDPOINT,
    NO_CLOUD,
    NOT_INSTALLED,
    SkyPilotTarget,
    cluster_name,
    enabled_infra,
)

ROOT = Path(__file__).resolve().parents[2]
needs_sky = pytest.mark.skipif(
    importlib.util.find_spec("sky") is None,
    reason="SkyPilot is not installed: pip install -e '.[skypilot]' (tests/run.sh does)",
)


def make_run(tmp_path: Path, *overrides: str, spec: Path = ROOT / "configs/pretrain.yaml"):
    """Compile ``spec`` for skypilot into a fresh run directory, as the launch layer would."""
    loaded, warnings = load_for_target(spec, overrides, "skypilot")
    compile_tasks(loaded, warnings=warnings).write(tmp_path / "run" / "artifacts")
    return RunHandle(id="20250101-abc", name="x", dir=tmp_path / "run", target="skypilot")


def test_without_skypilot_the_error_says_how_to_install_it() -> None:
    # A real interpreter without site-packages: ``sky`` cannot be imported there.
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from nemorun.launchers.skypilot import SkyPilotTarget; "
        "print(SkyPilotTarget().available())"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == NOT_INSTALLED
    assert NOT_INSTALLED == "SkyPilot is not installed: pip install 'nemorun[skypilot]'"


@needs_sky
@pytest.mark.slow
def test_with_no_cloud_enabled_the_real_check_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_before = skypilot._listening(DEFAULT_ENDPOINT)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no credentials, no SkyPilot state
    (tmp_path / "home").mkdir()
    for name in ("SKYPILOT_CONFIG", "SKYPILOT_API_SERVER_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(skypilot, "_CHECKED", {})
    target = SkyPilotTarget()
    run = make_run(tmp_path)

    problem = target.available()
    with pytest.raises(LaunchError) as error:
        target.submit(run)  # the answer is kept: no second check

    assert problem == NO_CLOUD == "no cloud is enabled: run 'sky check'"
    assert str(error.value) == NO_CLOUD
    assert not (run.dir / "skypilot").exists()
    if not server_before:  # the API server the check started is stopped again
        assert not skypilot._listening(DEFAULT_ENDPOINT)


def test_the_check_reads_enabled_clouds_from_sky_checks_json_MOCK(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A MOCK of ``sky check -o json`` (canned output, as SkyPilot 0.14.1 prints it after
    starting its API server): an enabled cloud cannot be had on these machines."""
    progress = (
        "Failed to connect to SkyPilot API server at http://127.0.0.1:46580. Starting a local "
        "server.\n✓ SkyPilot API server started.\n"
    )
    outputs = {
        "none": progress + '{\n  "default": {}\n}\n',
        "aws": progress + '{\n  "default": {\n    "aws": ["compute", "storage"]\n  }\n}\n',
    }
    for case, expected in (("none", NO_CLOUD), ("aws", None)):
        result = subprocess.CompletedProcess(["sky", "check"], 0, outputs[case], "")
        monkeypatch.setattr(skypilot, "_sky", lambda args, timeout, r=result: r)
        monkeypatch.setattr(skypilot, "_listening", lambda endpoint: True)  # stop nothing
        assert skypilot.check_clouds() == expected, case
    assert enabled_infra({"default": {}, "team": {"gcp": ["compute"], "aws": []}}) == ["gcp"]


def test_a_sweep_is_cut_into_one_unchanged_document_per_point(tmp_path: Path) -> None:
    run = make_run(tmp_path, "seed=1,2", spec=ROOT / "configs/quickstart.yaml")
    [artifact] = run.artifacts_dir.glob("*.yaml")

    docs = skypilot._documents(run, artifact.name)

    assert [(point, path.name, name) for point, path, name in docs] == [
        (0, "quickstart.0.yaml", "quickstart-0"),
        (1, "quickstart.1.yaml", "quickstart-1"),
    ]
    texts = [path.read_text() for _, path, _ in docs]
    assert "\n---\n".join(t.removesuffix("\n") for t in texts) + "\n" == artifact.read_text()
    assert [yaml.safe_load(t) for t in texts] == list(yaml.safe_load_all(artifact.read_text()))
    if importlib.util.find_spec("sky") is not None:
        code = "import sys, sky\nfor p in sys.argv[1:]: sky.Task.from_yaml(p)\n"
        env = {**os.environ, "HOME": str(tmp_path)}
        proc = subprocess.run(
            [sys.executable, "-c", code, *(str(path) for _, path, _ in docs)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr


def test_a_single_document_is_launched_from_the_artifact_itself(tmp_path: Path) -> None:
    run = make_run(tmp_path, spec=ROOT / "configs/quickstart.yaml")
    [artifact] = run.artifacts_dir.glob("*.yaml")

    assert skypilot._documents(run, artifact.name) == [(0, artifact, "quickstart")]
    assert not (run.dir / "skypilot").exists()


def test_tasks_with_after_are_refused(tmp_path: Path) -> None:
    run = make_run(tmp_path, spec=ROOT / "configs/quickstart.yaml")
    entries = (
        TaskEntry("a", (), "skypilot", ("quickstart.yaml",)),
        TaskEntry("b", ("a",), "skypilot", ("quickstart.yaml",)),
    )
    write_atomic(run.artifacts_dir / MANIFEST, Manifest(entries).text())
    with pytest.raises(LaunchError, match="does not order tasks yet"):
        skypilot._scripts(run)


@pytest.mark.parametrize(
    ("run_id", "index", "expected"),
    [
        ("20250101-abc", 0, "nr-20250101-abc-0"),
        ("Run_ID.With CAPS", 12, "nr-run-id-with-caps-12"),
        ("x" * 60, 3, "nr-" + "x" * 30 + "-3"),
    ],
)
def test_cluster_names_are_valid_for_skypilot(run_id: str, index: int, expected: str) -> None:
    name = cluster_name(run_id, index)
    assert name == expected and len(name) <= 35
