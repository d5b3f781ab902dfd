"""``nemorun compile --target skypilot``: task YAML that SkyPilot itself accepts and runs right.

- every example config compiles for skypilot, byte-identical twice (different hash seeds, no
  file written), and each document's ``setup`` and ``run`` parse with ``bash -n``;
- SkyPilot's own ``sky.Task.from_yaml`` accepts every document, and its pipeline loader (what
  ``sky jobs launch`` reads) the whole stream, with the values we meant; SkyPilot runs in a
  subprocess with a scratch ``HOME`` (importing it configures logging and writes ``~/.sky``).
  Without SkyPilot these tests skip: install the ``skypilot`` extra (tests/run.sh does);
- the script SkyPilot builds from a task (``log_lib.make_task_bash_script``: its preamble, the
  ``envs`` exports, then ``run``) runs each point of a sweep with its own values, hostile
  strings byte-exact; a property test (hypothesis) sends any Unicode through ``envs`` and the
  task's arguments, parsed by both PyYAML loaders SkyPilot may use;
- bad options are refused by nemorun at their line, before SkyPilot could see them;
- golden file ``tests/compiler/golden/pretrain-sweep.skypilot.yaml``, regenerated with
  ``NEMORUN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler -k golden``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, assert_golden, nemorun
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec

CONFIGS = sorted(p for p in (ROOT / "configs").iterdir() if p.suffix in (".yaml", ".toml"))
FIXTURES = Path(__file__).resolve().parent
LOADERS = [yaml.SafeLoader, *([yaml.CSafeLoader] if hasattr(yaml, "CSafeLoader") else [])]

needs_sky = pytest.mark.skipif(
    importlib.util.find_spec("sky") is None,
    reason="SkyPilot is not installed: pip install -e '.[skypilot]' (tests/run.sh does)",
)


def documents(text: str) -> list[str]:
    """The documents of a compiled stream, as text: split at the ``---`` lines between them
    (block scalars are indented and quoted strings escape line breaks, so only those are)."""
    parts = text.split("\n---\n")
    assert len(parts) == len(list(yaml.safe_load_all(text)))
    return [part if part.endswith("\n") else part + "\n" for part in parts]


# SkyPilot, in a subprocess: reads each file and reports what it understood, as JSON.
SKY_READ = r"""
import json, sys
import sky
from sky.skylet import log_lib
from sky.utils import dag_utils

report = {}
for path in sys.argv[2:]:
    try:
        if path.endswith(".stream.yaml"):
            dag = dag_utils.load_chain_dag_from_yaml(path)
            report[path] = {"tasks": [task.name for task in dag.tasks]}
            continue
        task = sky.Task.from_yaml(path)
        task.validate_name()
        task.validate_run()
        (resources,) = task.resources
        report[path] = {
            "name": task.name,
            "num_nodes": task.num_nodes,
            "envs": task.envs,
            "file_mounts": task.file_mounts,
            "workdir": task.workdir,
            "setup": task.setup,
            "run": task.run,
            "resources": resources.to_yaml_config(),
            "run_script": log_lib.make_task_bash_script(task.run, task.envs),
            "setup_script": (
                log_lib.make_task_bash_script(task.setup, task.envs) if task.setup else None
            ),
        }
    except Exception as error:
        report[path] = {"error": f"{type(error).__name__}: {error}"}
with open(sys.argv[1], "w", encoding="utf-8") as out:
    json.dump(report, out)
"""


def sky_read(paths: list[Path], home: Path) -> dict[str, dict[str, Any]]:
    """What SkyPilot reads from each task file (``*.stream.yaml``: the whole stream)."""
    home.mkdir(exist_ok=True)
    report = home / "report.json"
    proc = subprocess.run(
        [sys.executable, "-c", SKY_READ, str(report), *map(str, paths)],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, dict[str, Any]] = json.loads(report.read_text(encoding="utf-8"))
    return result


def write_documents(text: str, directory: Path, stem: str) -> list[Path]:
    """Each document of ``text`` as its own file, and the whole stream as STEM.stream.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, doc in enumerate(documents(text)):
        path = directory / f"{stem}.{i}.yaml"
        path.write_text(doc, encoding="utf-8")
        paths.append(path)
    stream = directory / f"{stem}.stream.yaml"
    stream.write_text(text, encoding="utf-8")
    return [*paths, stream]


def spec_file(tmp_path: Path, executor: str, *, name: str = "job", task: str = "") -> Path:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"nemorun: 1\nname: {name}\npythonpath: [{json.dumps(str(ROOT / 'examples'))}]\n"
        + (task or "task: {_target_: trainlib:train, model: {}, optim: {}, steps: 2}\n")
        + f"executor:\n  target: skypilot\n{executor}",
        encoding="utf-8",
    )
    return spec


EVERY_OPTION = """\
  infra: aws/us-east-1
  accelerators: H100:8
  cpus: 8+
  memory: 64GB+
  instance_type: p5.48xlarge
  use_spot: true
  disk_size: 256
  ports: [8080, "9000-9010"]
  job_recovery: FAILOVER
  nodes: 2
  container: {image: "nvcr.io/nvidia/pytorch:24.01-py3"}
  env: {QUOTED: "it's \\"q\\" $(x) `y` \\\\ *", LINES: "a\\nb", FROM_HOST: "${oc.env:HOME}"}
  file_mounts: {/data: /tmp, "~/ckpt": "s3://bucket/ckpt"}
  workdir: /tmp
  setup: ["echo 'setting up'", "true"]
"""


# --- every example ------------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_example_compiles_for_skypilot_deterministically(
    config: Path, tmp_path: Path
) -> None:
    args = ("compile", str(config), "--target", "skypilot")
    first = nemorun(*args, cwd=tmp_path, PYTHONHASHSEED="1")
    second = nemorun(*args, cwd=tmp_path, PYTHONHASHSEED="2")

    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert list(tmp_path.iterdir()) == []  # compiling wrote nothing
    docs = list(yaml.safe_load_all(first.stdout))
    for point, doc in enumerate(docs):
        assert doc["envs"]["NEMORUN_POINT"] == str(point)
        for key in ("setup", "run"):
            if key in doc:
                script = tmp_path / f"{key}.{point}.sh"
                script.write_text(doc[key], encoding="utf-8")
                parsed = subprocess.run(["bash", "-n", str(script)], capture_output=True)
                assert parsed.returncode == 0, parsed.stderr


def test_a_sweep_is_one_document_per_point() -> None:
    proc = nemorun("compile", "configs/pretrain.yaml", "seed=1,2", "--target", "skypilot")
    assert proc.returncode == 0, proc.stderr
    docs = list(yaml.safe_load_all(proc.stdout))
    assert [doc["name"] for doc in docs] == [f"pretrain-{i}" for i in range(6)]
    for i, doc in enumerate(docs):
        assert doc["envs"] == {
            "NEMORUN_RUN_NAME": "pretrain",
            "NEMORUN_POINT": str(i),
            "OMP_NUM_THREADS": "1",
        }
        assert doc["run"] == docs[0]["run"]  # the point comes from `envs`
    assert "# Point 5: optim.lr=0.001 seed=2\n" in proc.stdout


def test_every_option_lands_where_skypilot_reads_it(tmp_path: Path) -> None:
    proc = nemorun("compile", str(spec_file(tmp_path, EVERY_OPTION)))
    assert proc.returncode == 0, proc.stderr
    (doc,) = yaml.safe_load_all(proc.stdout)
    assert doc["resources"] == {
        "infra": "aws/us-east-1",
        "accelerators": "H100:8",
        "cpus": "8+",
        "memory": "64GB+",
        "instance_type": "p5.48xlarge",
        "use_spot": True,
        "disk_size": 256,
        "image_id": "docker:nvcr.io/nvidia/pytorch:24.01-py3",
        "ports": [8080, "9000-9010"],
        "job_recovery": "FAILOVER",
    }
    assert doc["num_nodes"] == 2
    assert doc["envs"] == {
        "NEMORUN_RUN_NAME": "job",
        "NEMORUN_POINT": "0",
        "QUOTED": 'it\'s "q" $(x) `y` \\ *',
        "LINES": "a\nb",
    }
    assert doc["file_mounts"] == {
        "/data": "/tmp",
        "~/ckpt": "s3://bucket/ckpt",
        "~/.nemorun/pythonpath/0": str(ROOT / "examples"),
    }
    assert doc["workdir"] == "/tmp"
    # An environment reference is read where the job runs: by setup and run, not `envs`.
    for key in ("setup", "run"):
        assert 'export FROM_HOST="${HOME}"\n' in doc[key]
        assert 'export PYTHONPATH="$HOME"/.nemorun/pythonpath/0"${PYTHONPATH:+' in doc[key]
    assert doc["setup"].endswith("echo 'setting up'\ntrue\n")


GOLDEN_CASE = [
    "configs/pretrain.yaml",
    "seed=1,2",
    "--target",
    "skypilot",
    "+executor.infra=gcp/us-central1",
    "+executor.accelerators=A100:8",
    "+executor.use_spot=true",
    "+executor.disk_size=200",
    "+executor.nodes=2",
    "+executor.setup=[pip install -e .]",
]


def test_golden_skypilot_task() -> None:
    proc = nemorun("compile", *GOLDEN_CASE)
    assert proc.returncode == 0, proc.stderr
    assert_golden("pretrain-sweep.skypilot.yaml", proc.stdout)


# --- SkyPilot reads them ------------------------------------------------------------------------


@needs_sky
def test_skypilot_accepts_every_compiled_task(tmp_path: Path) -> None:
    cases: dict[str, list[str]] = {
        config.stem: [str(config), "--target", "skypilot"] for config in CONFIGS
    }
    cases["golden"] = GOLDEN_CASE
    cases["torchrun"] = [
        "configs/quickstart.yaml",
        "--target",
        "skypilot",
        "+launcher.kind=torchrun",
        "+executor.nodes=2",
    ]
    cases["every_option"] = [str(spec_file(tmp_path, EVERY_OPTION))]
    files: dict[str, list[Path]] = {}
    texts: dict[str, str] = {}
    for stem, args in cases.items():
        proc = nemorun("compile", *args)
        assert proc.returncode == 0, proc.stderr
        texts[stem] = proc.stdout
        files[stem] = write_documents(proc.stdout, tmp_path / "tasks", stem)

    read = sky_read([path for paths in files.values() for path in paths], tmp_path / "home")

    for stem, paths in files.items():
        *docs, stream = paths
        wanted = list(yaml.safe_load_all(texts[stem]))
        for path, doc in zip(docs, wanted):
            task = read[str(path)]
            assert "error" not in task, f"{path.name}: {task.get('error')}"
            assert task["name"] == doc["name"]
            assert task["num_nodes"] == doc["num_nodes"]
            assert task["envs"] == doc.get("envs", {})
            assert task["run"] == doc["run"] and task["setup"] == doc.get("setup")
        assert read[str(stream)] == {"tasks": [doc["name"] for doc in wanted]}
    every = read[str(files["every_option"][0])]
    assert every["resources"]["accelerators"] == {"H100": 8}
    assert every["resources"]["infra"] == "aws/us-east-1"
    assert every["resources"]["use_spot"] is True
    # SkyPilot files the image under the region of `infra`.
    assert every["resources"]["image_id"] == {
        "us-east-1": "docker:nvcr.io/nvidia/pytorch:24.01-py3"
    }
    assert every["resources"]["ports"] == ["8080", "9000-9010"]
    assert every["file_mounts"]["~/ckpt"] == "s3://bucket/ckpt"


HOSTILE_VALUES = ["", "-n", "*", "$(touch pwned)", "`touch pwned`", "a'b\"c", "x\ny", "\\", "!!"]


@needs_sky
def test_each_point_runs_as_skypilot_runs_it(tmp_path: Path) -> None:
    # The script SkyPilot runs on each node: its preamble (`cd ~/sky_workdir` …), the task's
    # `envs` exported, then `run`. HOME stands in for the node's home, mounts as symlinks.
    out = tmp_path / "out.jsonl"
    texts = [*HOSTILE_VALUES, "end \u2028 \x85 \U0001f600 \t\r x"]
    env = HOSTILE_VALUES[5] + " " + HOSTILE_VALUES[6]
    tree = {
        "nemorun": 1,
        "name": "hostile",
        "pythonpath": [str(FIXTURES)],
        "task": {"_target_": "fixtures_entry:echo", "out": str(out), "text": "a"},
        "sweep": {"text": texts},
        "executor": {
            "target": "skypilot",
            "python": sys.executable,
            "env": {"HOSTILE": env},
            "setup": [f"echo set up >> {shlex.quote(str(tmp_path / 'setup.log'))}"],
        },
    }
    spec = tmp_path / "hostile.yaml"
    spec.write_text(yaml.safe_dump(tree, allow_unicode=False), encoding="utf-8")
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 0, proc.stderr
    home = tmp_path / "home"
    paths = write_documents(proc.stdout, tmp_path / "tasks", "hostile")
    read = sky_read(paths, home)
    (home / "sky_workdir").mkdir()
    (home / ".nemorun" / "pythonpath").mkdir(parents=True)
    (home / ".nemorun" / "pythonpath" / "0").symlink_to(FIXTURES)

    for point, path in enumerate(paths[:-1]):
        task_read = read[str(path)]
        assert "error" not in task_read, task_read.get("error")
        for key in ("setup_script", "run_script"):
            script = tmp_path / f"{key}.{point}.sh"
            script.write_text(task_read[key], encoding="utf-8")
            ran = subprocess.run(
                ["bash", str(script)],
                cwd=tmp_path,
                env={"HOME": str(home), "PATH": os.environ["PATH"]},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert ran.returncode == 0, ran.stderr

    reports = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in reports] == texts
    assert [r["point"] for r in reports] == [str(i) for i in range(len(texts))]
    assert {r["env"] for r in reports} == {env}
    assert {r["run_name"] for r in reports} == {"hostile"}
    assert (tmp_path / "setup.log").read_text() == "set up\n" * len(texts)
    assert not (tmp_path / "pwned").exists()


# --- hostile strings, through PyYAML (SkyPilot's parser) and bash --------------------------------


def fake_node(home: Path) -> Path:
    """A stand-in for a node's home: ``~/sky_workdir``, the pythonpath mount (the fixtures)."""
    (home / "sky_workdir").mkdir(parents=True)
    (home / ".nemorun" / "pythonpath").mkdir(parents=True)
    (home / ".nemorun" / "pythonpath" / "0").symlink_to(FIXTURES)
    return home


def run_like_skypilot(
    doc: dict[str, Any], home: Path, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``doc``'s ``run`` as SkyPilot does on a node: from ``~/sky_workdir``, with ``envs``
    exported (shlex.quote, as sky.skylet.log_lib does) and SkyPilot's own variables in ``env``."""
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in doc["envs"].items())
    script = cwd / "run.sh"
    script.write_text(f"cd ~/sky_workdir\n{exports}{doc['run']}", encoding="utf-8")
    return subprocess.run(
        ["bash", str(script)],
        cwd=cwd,
        env={"HOME": str(home), "PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=30,
    ),
    st.text(alphabet=" \t\n\r'\"$`\\*?[]{}();&|<>~#!-=%\x85\u2028\u2029\ufeff", max_size=30),
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=HOSTILE, value=HOSTILE)
def test_hostile_strings_reach_the_task_byte_exact(tmp_path: Path, text: str, value: str) -> None:
    assume("${" not in text and "${" not in value)  # the spec language's own interpolation
    work = tmp_path / f"run{time.monotonic_ns()}"
    work.mkdir()
    out = work / "out.jsonl"
    tree = {
        "nemorun": 1,
        "name": "hostile",
        "pythonpath": [str(FIXTURES)],
        "task": {"_target_": "fixtures_entry:echo", "out": str(out), "text": text, "where": text},
        "executor": {"target": "skypilot", "python": sys.executable, "env": {"HOSTILE": value}},
    }
    spec = work / "spec.yaml"
    spec.write_text(yaml.safe_dump(tree, allow_unicode=False), encoding="utf-8")
    loaded, warnings = load_for_target(spec, (), "skypilot")
    compiled = compile_spec(loaded, warnings=warnings).main.text
    node = fake_node(work / "home")

    for loader in LOADERS:
        (doc,) = yaml.load_all(compiled, Loader=loader)
        assert doc["envs"] == {
            "NEMORUN_RUN_NAME": "hostile",
            "NEMORUN_POINT": "0",
            "HOSTILE": value,
        }
        ran = run_like_skypilot(doc, node, cwd=work)
        assert ran.returncode == 0, ran.stderr
    reports = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(reports) == len(LOADERS)
    for report in reports:
        assert report["text"] == text and report["where"] == str(Path(text))
        assert report["env"] == value and report["point"] == "0"
    assert not (work / "pwned").exists() and not (work / "home" / "sky_workdir" / "pwned").exists()


def test_torchrun_runs_once_per_node_from_skypilot_variables(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    tree = {
        "nemorun": 1,
        "name": "ddp",
        "pythonpath": [str(FIXTURES)],
        "task": {"_target_": "fixtures_entry:echo", "out": str(out), "text": "hi"},
        "launcher": {"kind": "torchrun", "nproc_per_node": 4, "rdzv_port": 29400},
        "executor": {"target": "skypilot", "nodes": 2, "python": sys.executable},
    }
    spec = tmp_path / "ddp.yaml"
    spec.write_text(yaml.safe_dump(tree), encoding="utf-8")
    proc = nemorun("compile", str(spec))
    assert proc.returncode == 0, proc.stderr
    (doc,) = yaml.safe_load_all(proc.stdout)
    # A stand-in torchrun: records its arguments, then runs the program after --no-python.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "torchrun"
    fake.write_text(
        "#!/bin/bash\n"
        f"printf '%s\\n' \"$@\" > {shlex.quote(str(tmp_path))}/argv.$SKYPILOT_NODE_RANK\n"
        'while [ "$1" != --no-python ]; do shift; done; shift; exec "$@"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    node = fake_node(tmp_path / "home")

    for rank in (0, 1):
        ran = run_like_skypilot(
            doc,
            node,
            cwd=tmp_path,
            PATH=f"{bin_dir}:{os.environ['PATH']}",
            SKYPILOT_NODE_RANK=str(rank),
            SKYPILOT_NODE_IPS="10.0.0.7\n10.0.0.8\n",
            SKYPILOT_TASK_ID="sky-2024-01-01-00-00-00-000000_mycluster_1",
        )
        assert ran.returncode == 0, ran.stderr
        argv = (tmp_path / f"argv.{rank}").read_text().splitlines()
        assert argv[:7] == [
            "--nnodes=2",
            "--nproc-per-node=4",
            f"--node-rank={rank}",
            "--rdzv-backend=c10d",
            "--rdzv-endpoint=10.0.0.7:29400",
            "--rdzv-id=sky-2024-01-01-00-00-00-000000_mycluster_1",
            "--no-python",
        ]
        assert argv[7:10] == [sys.executable, "-u", "-c"]
    reports = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["text"], r["point"], r["run_name"]) for r in reports] == [("hi", "0", "ddp")] * 2


# --- our validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        (
            "  accelerators: H100:x\n",
            "job.yaml:7:17: executor.accelerators: not an accelerator request: "
            "expected <name>[:<count>] with a positive count, like H100:8, found 'H100:x'",
        ),
        (
            "  accelerators: H100:0\n",
            "job.yaml:7:17: executor.accelerators: not an accelerator request: "
            "expected <name>[:<count>] with a positive count, like H100:8, found 'H100:0'",
        ),
        (
            "  infra: aws\n  cloud: gcp\n",
            "job.yaml:8:10: executor.cloud: infra and cloud exclude each other; "
            "write the place as one infra: cloud[/region[/zone]] (here infra: gcp)",
        ),
        (
            "  infra: awz/us-east-1\n",
            "job.yaml:7:10: executor.infra: not an infra: expected cloud[/region[/zone]], "
            "'*' for any cloud, or k8s[/<context>], found 'awz/us-east-1'; did you mean 'aws'?",
        ),
        ("  infra: aws/a/b/c\n", "job.yaml:7:10: executor.infra: not an infra"),
        (
            "  cloud: azrue\n",
            "executor.cloud: not a cloud SkyPilot knows: expected one of aws,",
        ),
        ("  cpus: many\n", "job.yaml:7:9: executor.cpus: not a cpus amount"),
        ("  cpus: 0\n", "executor.cpus: must be more than 0: found 0"),
        ("  memory: 16G\n", "job.yaml:7:11: executor.memory: not a memory amount"),
        ("  disk_size: 0\n", "executor.disk_size: must be at least 1: found 0"),
        ("  nodes: 0\n", "executor.nodes: must be at least 1"),
        (
            "  ports: [8080, 0, '10-5', http]\n",
            "executor.ports[1]: must be at least 1: found 0\n"
            "error: job.yaml:7:20: executor.ports[2]: not a port or port range: expected a port "
            "1 to 65535, or a range 'from-to' with from <= to, found '10-5'\n"
            "error: job.yaml:7:28: executor.ports[3]: not a port or port range",
        ),
        ("  job_recovery: failovr\n", "did you mean 'FAILOVER'?"),
        (
            "  container: {image: img, mounts: ['/a:/b']}\n",
            "executor.container.mounts: SkyPilot mounts no host paths into its container",
        ),
        (
            "  container: {image: 'docker:img'}\n",
            "executor.container.image: the image is written without SkyPilot's 'docker:' "
            "prefix: found 'docker:img'; image: img",
        ),
        (
            "  file_mounts: {data: /tmp}\n",
            "executor.file_mounts.data: not a mount destination: expected an absolute path on "
            "the cluster",
        ),
        ("  file_mounts: {/data/: /tmp}\n", "not a mount destination: expected an absolute"),
        ("  file_mounts: {/data: /tmp/}\n", "not a mount source: expected a local path or"),
        (
            "  file_mounts: {~/.nemorun/pythonpath/0: /tmp}\n",
            "nemorun mounts the spec's pythonpath under ~/.nemorun/pythonpath",
        ),
        (
            "  file_mounts: {~/.nemorun/entries/a.py: /tmp}\n",
            "nemorun mounts a large sweep's entry under ~/.nemorun/entries",
        ),
        (
            "  env: {1BAD: x}\n",
            "job.yaml:7:9: executor.env.1BAD: not a valid environment variable name",
        ),
        ("  env: {NEMORUN_POINT: '3'}\n", "executor.env.NEMORUN_POINT: nemorun sets NEMORUN_POINT"),
        (
            "  accelerators: ${oc.env:GPUS,H100:8}\n",
            "executor.accelerators: an environment reference cannot be read here",
        ),
    ],
    ids=lambda v: v.strip().split(":")[0] if v.startswith("  ") else "",
)
def test_bad_options_are_refused_at_their_line(tmp_path: Path, executor: str, message: str) -> None:
    proc = nemorun("compile", str(spec_file(tmp_path, executor)), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr
    assert proc.stdout == ""


def test_several_mistakes_are_reported_together(tmp_path: Path) -> None:
    spec = spec_file(
        tmp_path,
        "  accelerators: H100:x\n  infra: aws\n  zone: us-east-1a\n  cpus: x\n",
    )
    proc = nemorun("compile", str(spec), cwd=tmp_path)
    assert proc.returncode == 2
    # The formats of single values first (all of them), then the rules between values.
    assert "executor.accelerators: not an accelerator request" in proc.stderr
    assert "executor.cpus: not a cpus amount" in proc.stderr
    spec.write_text(spec.read_text().replace("H100:x", "H100:8").replace("cpus: x", "cpus: 8"))
    proc = nemorun("compile", str(spec), cwd=tmp_path)
    assert "executor.zone: infra and zone exclude each other" in proc.stderr


def test_a_task_name_skypilot_refuses_is_refused_with_a_fix(tmp_path: Path) -> None:
    proc = nemorun("compile", str(spec_file(tmp_path, "", name="'my job!'")), cwd=tmp_path)
    assert proc.returncode == 2
    assert "job.yaml:2:7: name: not a valid SkyPilot task name" in proc.stderr
    assert "found 'my job!'; name: my-job" in proc.stderr
    unnamed = tmp_path / "my spec.yaml"
    unnamed.write_text(
        spec_file(tmp_path, "").read_text().replace("name: job\n", ""), encoding="utf-8"
    )
    proc = nemorun("compile", str(unnamed), cwd=tmp_path)
    assert proc.returncode == 2
    assert "my spec.yaml: name: the spec's file name is not a valid SkyPilot task name" in (
        proc.stderr
    )


def test_each_point_of_a_run_gets_its_own_directory_and_code_on_the_node(tmp_path: Path) -> None:
    # No cloud here: each document's `run` script runs as SkyPilot runs it (its envs
    # exported), with HOME standing in for the node's home and the code "mounted" by a link.
    from nemorun.compiler.job import RunContext

    out = tmp_path / "out.jsonl"
    tree = {
        "nemorun": 1,
        "name": "pd",
        "pythonpath": [str(FIXTURES)],
        "task": {"_target_": "fixtures_entry:echo", "out": str(out), "text": "a"},
        "sweep": {"text": ["a", "b"]},
        "executor": {
            "target": "skypilot",
            "python": sys.executable,
            "env": {"PYTHONPATH": "/extra"},  # added after the code, as on every target
        },
    }
    spec = tmp_path / "pd.yaml"
    spec.write_text(yaml.safe_dump(tree), encoding="utf-8")
    loaded, warnings = load_for_target(spec, (), "skypilot")
    run = RunContext("r-42", tmp_path / "run")
    text = compile_spec(loaded, warnings=warnings, run=run).main.text
    home = tmp_path / "home"
    (home / ".nemorun" / "pythonpath").mkdir(parents=True)
    (home / ".nemorun" / "pythonpath" / "0").symlink_to(FIXTURES)
    probe = 'ls -d "$NEMORUN_POINT_DIR" >> "$HOME"/dirs.txt; echo "$PYTHONPATH" >> "$HOME"/pp.txt'

    for doc in yaml.safe_load_all(text):
        env = {"PATH": os.environ["PATH"], "HOME": str(home), **doc["envs"]}
        script = doc["run"] + probe + "\n"
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    points = home / ".nemorun" / "runs" / "r-42" / "points"
    assert (home / "dirs.txt").read_text().splitlines() == [str(points / "0"), str(points / "1")]
    assert [json.loads(line)["point"] for line in out.read_text().splitlines()] == ["0", "1"]
    code = home / ".nemorun" / "pythonpath" / "0"
    assert (home / "pp.txt").read_text().splitlines() == [f"{code}:/extra"] * 2
