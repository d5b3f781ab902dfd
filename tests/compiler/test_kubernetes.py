"""``nemorun compile --target kubernetes``: manifests Kubernetes accepts, and what a pod runs.

- every example compiles, byte-identical twice (different hash seeds, no file written);
- every compiled document (examples, goldens, every option) passes Kubernetes' own OpenAPI
  schema, strict (no unknown field), for Kubernetes 1.30 and 1.37, with the
  ``kubernetes-validate`` package (its schemas ship in the wheel: no network);
- what a pod receives: the ConfigMap's files are written to a directory and ``run.sh`` is run
  by ``sh`` with the container's ``env`` as the kubelet makes it (`kubelet_env`: ``$(VAR)``
  references and ``$$`` expanded, the completion index for ``NEMORUN_POINT``), so each point of
  a sweep runs its own values, and hostile strings (hypothesis) reach the task byte-exact;
- the shapes: a sweep is one Indexed Job; 2-node torchrun is an Indexed Job with a headless
  Service whose name is the pods' subdomain, the rank the completion index; a Kueue queue is a
  label and ``suspend: true``;
- bad options are located errors.

No Kubernetes cluster can run here, so no pod really starts: the kubelet's part is emulated as
its documentation states it. Golden files ``tests/compiler/golden/*.k8s.yaml``; regenerate with
``NEMORUN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/compiler -k golden``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, CliResult, assert_golden, nemorun
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from nemorun.api import load_for_target
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.targets.kubernetes_objects import dns_name, label_value

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate",
    reason="kubernetes-validate is not installed: pip install -e '.[test]' (tests/run.sh does)",
)

CONFIGS = sorted(p for p in (ROOT / "configs").iterdir() if p.suffix in (".yaml", ".toml"))
VERSIONS = ("1.30.0", "1.37.0")
INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"

EVERY_OPTION = """\
  namespace: ml-team
  context: prod
  name: every-option
  container: {image: nvcr.io/nvidia/pytorch:24.01-py3}
  workdir: /workspace
  cpus: 7500m
  memory: 64Gi
  gpus: 8
  node_selector: {nvidia.com/gpu.product: H100-SXM}
  tolerations:
    - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
    - {key: spot, value: 'true', effect: NoExecute, toleration_seconds: 60}
  volumes:
    - {name: data, mount_path: /data, claim: datasets, read_only: true}
    - {name: scratch, mount_path: /scratch, host_path: /mnt/nvme}
    - {name: shm, mount_path: /dev/shm, empty_dir: true, medium: Memory, size_limit: 16Gi}
  image_pull_secrets: [ngc]
  secret_env: {WANDB_API_KEY: wandb/api-key}
  service_account: trainer
  labels: {team: ml}
  queue: team-a
  priority_class: high
  backoff_limit: 2
  active_deadline_seconds: 86400
  ttl_seconds_after_finished: 3600
  env: {QUOTED: 'it''s $(HOME) $$ "q"', FROM_HOST: '${oc.env:HOME}'}
"""


def spec_file(tmp_path: Path, executor: str, *, name: str = "job", task: str = "") -> Path:
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"nemorun: 1\nname: {name}\npythonpath: [{json.dumps(str(ROOT / 'examples'))}]\n"
        + (task or "task: {_target_: trainlib:train, model: {}, optim: {}, steps: 2}\n")
        + f"executor:\n  target: kubernetes\n{executor}",
        encoding="utf-8",
    )
    return spec


def compile_k8s(spec: Path, *overrides: str) -> str:
    """Compile in-process (faster than the CLI for many small specs)."""
    loaded, warnings = load_for_target(spec, overrides, "kubernetes")
    return compile_spec(loaded, warnings=warnings).main.text


def validate(text: str) -> list[dict[str, Any]]:
    """The documents of ``text``, each checked against Kubernetes' schema, strict, for every
    version of `VERSIONS`; raises kubernetes_validate's error for the first that fails."""
    docs = list(yaml.safe_load_all(text))
    assert docs and all(isinstance(doc, dict) for doc in docs)
    for doc in docs:
        for version in VERSIONS:
            kubernetes_validate.validate(doc, version, strict=True)
    return docs


def compiled(cli: Callable[..., CliResult], *args: str) -> str:
    """``nemorun compile ARGS --target kubernetes``, in-process; its output."""
    result = cli("compile", *args, "--target", "kubernetes")
    assert result.code == 0, result.err
    return result.out


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


# --- every example ------------------------------------------------------------------------------


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_example_compiles_deterministically_to_valid_manifests(
    config: Path, tmp_path: Path
) -> None:
    args = ("compile", str(config), "--target", "kubernetes")
    first = nemorun(*args, cwd=tmp_path, PYTHONHASHSEED="1")
    second = nemorun(*args, cwd=tmp_path, PYTHONHASHSEED="2")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert list(tmp_path.iterdir()) == []  # compiling wrote nothing
    docs = validate(first.stdout)
    (configmap,) = by_kind(docs, "ConfigMap")
    script = tmp_path / "run.sh"
    script.write_text(configmap["data"]["run.sh"], encoding="utf-8")
    parsed = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert parsed.returncode == 0, parsed.stderr


def test_validate_and_compile_never_import_the_kubernetes_client() -> None:
    code = (
        "import sys\n"
        "from nemorun.cli import main\n"
        "for command in ('validate', 'compile'):\n"
        "    main([command, 'configs/quickstart.yaml', '--target', 'kubernetes'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('kubernetes', 'kubernetes_validate', 'urllib3')), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines()[-1] == "[]"


def test_the_schema_check_is_strict() -> None:
    """The check the other tests rely on refuses what a cluster refuses."""
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}}
    bad = {**job, "spec": {"completions": 1, "backofLimit": 0, "template": {"spec": {}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, VERSIONS[0], strict=True)


# --- golden files: single job, sweep, 2-node torchrun, Kueue -----------------------------------

GOLDEN_CASES = {
    "quickstart.k8s.yaml": ["configs/quickstart.yaml"],
    "pretrain-sweep.k8s.yaml": [
        "configs/pretrain.yaml",
        "seed=1,2",
        "+executor.parallelism=2",
        "+executor.container.image=python:3.12-slim",
    ],
    "torchrun-2node.k8s.yaml": [
        "configs/ddp.yaml",
        "~executor.cpus_per_task",
        "~executor.time",
        "+executor.cpus=2",
        "+executor.container.image=pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        "+executor.volumes=[{name: shm, mount_path: /dev/shm, empty_dir: true, medium: Memory}]",
    ],
    "quickstart-kueue.k8s.yaml": [
        "configs/quickstart.yaml",
        "+executor.queue=team-a",
        "+executor.namespace=ml",
        "+executor.cpus=2",
        "+executor.memory=4Gi",
        "+executor.gpus=1",
    ],
}


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden_kubernetes_manifests(name: str) -> None:
    proc = nemorun("compile", *GOLDEN_CASES[name], "--target", "kubernetes")
    assert proc.returncode == 0, proc.stderr
    validate(proc.stdout)
    assert_golden(name, proc.stdout)


# --- shapes -------------------------------------------------------------------------------------


def test_a_sweep_is_one_indexed_job_whose_index_is_the_point(cli: Callable[..., CliResult]) -> None:
    text = compiled(cli, *GOLDEN_CASES["pretrain-sweep.k8s.yaml"])
    docs = validate(text)
    (job,) = by_kind(docs, "Job")
    assert not by_kind(docs, "Service")
    assert job["spec"]["completionMode"] == "Indexed"
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (6, 2)
    assert job["spec"]["backoffLimitPerIndex"] == 0  # one failing point stops no other
    (container,) = job["spec"]["template"]["spec"]["containers"]
    point = next(e for e in container["env"] if e["name"] == "NEMORUN_POINT")
    assert point["valueFrom"] == {"fieldRef": {"fieldPath": INDEX}}
    assert "# Point 5: optim.lr=0.001 seed=2\n" in text


def test_two_node_torchrun_meets_on_index_0_through_the_headless_service(
    cli: Callable[..., CliResult],
) -> None:
    docs = validate(compiled(cli, *GOLDEN_CASES["torchrun-2node.k8s.yaml"]))
    (service,) = by_kind(docs, "Service")
    (job,) = by_kind(docs, "Job")
    pod = job["spec"]["template"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["subdomain"] == service["metadata"]["name"] == "ddp"
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["NEMORUN_HEAD_NODE"] == "ddp-0.ddp"  # pod hostname JOB-INDEX, subdomain SERVICE
    script = by_kind(docs, "ConfigMap")[0]["data"]["run.sh"]
    assert (
        'exec torchrun --nnodes=2 --nproc-per-node=2 --node-rank="$JOB_COMPLETION_INDEX" '
        '--rdzv-backend=c10d --rdzv-endpoint="$NEMORUN_HEAD_NODE":29500 '
        '--rdzv-id="$NEMORUN_HEAD_NODE" --no-python python3 -u "$here"/entry.py\n'
    ) in script


def test_a_multi_node_sweep_is_one_job_per_point_sharing_one_service(
    cli: Callable[..., CliResult],
) -> None:
    docs = validate(compiled(cli, *GOLDEN_CASES["torchrun-2node.k8s.yaml"], "steps=1,2"))
    jobs = by_kind(docs, "Job")
    assert [j["metadata"]["name"] for j in jobs] == ["ddp-0", "ddp-1"]
    for point, job in enumerate(jobs):
        env = {
            e["name"]: e.get("value")
            for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
        }
        assert env["NEMORUN_POINT"] == str(point)
        assert env["NEMORUN_HEAD_NODE"] == f"ddp-{point}-0.ddp"


def test_a_kueue_queue_is_a_label_and_a_suspended_job(cli: Callable[..., CliResult]) -> None:
    (job,) = by_kind(validate(compiled(cli, *GOLDEN_CASES["quickstart-kueue.k8s.yaml"])), "Job")
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert job["metadata"]["namespace"] == "ml"
    assert job["spec"]["suspend"] is True
    resources = job["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "2", "memory": "4Gi"},
        "limits": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"},
    }


def test_every_option_lands_where_kubernetes_reads_it(tmp_path: Path) -> None:
    docs = validate(compile_k8s(spec_file(tmp_path, EVERY_OPTION)))
    (configmap,) = by_kind(docs, "ConfigMap")
    (job,) = by_kind(docs, "Job")
    assert {doc["metadata"]["namespace"] for doc in docs} == {"ml-team"}
    assert job["metadata"]["name"] == "every-option"
    assert job["metadata"]["annotations"] == {
        "nemorun.dev/points": "0",
        "nemorun.dev/kube-context": "prod",
    }
    assert job["metadata"]["labels"]["team"] == "ml"
    assert (job["spec"]["backoffLimit"], job["spec"]["suspend"]) == (2, True)
    assert job["spec"]["activeDeadlineSeconds"] == 86400
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "H100-SXM"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {
            "key": "spot",
            "operator": "Equal",
            "value": "true",
            "effect": "NoExecute",
            "tolerationSeconds": 60,
        },
    ]
    assert pod["imagePullSecrets"] == [{"name": "ngc"}]
    assert pod["serviceAccountName"] == "trainer"
    assert pod["priorityClassName"] == "high"
    assert pod["volumes"][1:] == [
        {"name": "data", "persistentVolumeClaim": {"claimName": "datasets", "readOnly": True}},
        {"name": "scratch", "hostPath": {"path": "/mnt/nvme"}},
        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
    ]
    (container,) = pod["containers"]
    assert container["image"] == "nvcr.io/nvidia/pytorch:24.01-py3"
    assert container["workingDir"] == "/workspace"
    assert container["resources"]["limits"] == {
        "cpu": "7500m",
        "memory": "64Gi",
        "nvidia.com/gpu": "8",
    }
    assert [m["mountPath"] for m in container["volumeMounts"]] == [
        "/nemorun",
        "/data",
        "/scratch",
        "/dev/shm",
    ]
    env = {e["name"]: e for e in container["env"]}
    assert env["QUOTED"]["value"] == 'it\'s $$(HOME) $$$$ "q"'  # the kubelet halves each $$
    assert env["WANDB_API_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "wandb", "key": "api-key"}
    }
    assert "FROM_HOST" not in env  # read in the pod, by run.sh
    assert 'export FROM_HOST="${HOME}"\n' in configmap["data"]["run.sh"]


# --- what a pod receives ------------------------------------------------------------------------


def kubelet_env(container: dict[str, Any], index: int) -> dict[str, str]:
    """The environment the kubelet gives the container, as Kubernetes documents it: ``value``s
    in order, ``$(NAME)`` replaced by an earlier variable's value (kept when there is none),
    ``$$`` one ``$``; a ``fieldRef`` to the completion-index annotation is ``index``; the Job
    controller adds ``JOB_COMPLETION_INDEX``. (Secret references are left out.)"""
    env: dict[str, str] = {"JOB_COMPLETION_INDEX": str(index)}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = re.sub(
                r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
                entry["value"],
            )
        elif entry["valueFrom"].get("fieldRef", {}).get("fieldPath") == INDEX:
            env[entry["name"]] = str(index)
    return env


def run_pod(
    text: str, tmp_path: Path, index: int, job: int = 0
) -> subprocess.CompletedProcess[str]:
    """Run Job number ``job``'s pod of completion index ``index`` here: the ConfigMap's files in
    a directory standing for /nemorun, ``run.sh`` by ``sh``, the kubelet's environment."""
    docs = list(yaml.safe_load_all(text))
    (configmap,) = by_kind(docs, "ConfigMap")
    container = by_kind(docs, "Job")[job]["spec"]["template"]["spec"]["containers"][0]
    files = tmp_path / f"nemorun-{job}-{index}"
    files.mkdir()
    for name, body in configmap["data"].items():
        (files / name).write_text(body, encoding="utf-8")
    base = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
    return subprocess.run(
        ["/bin/sh", str(files / "run.sh")],
        env={**base, **kubelet_env(container, index)},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


HERE_PYTHON = f"++executor.python={sys.executable}"


def test_each_point_of_a_sweep_runs_its_own_values(tmp_path: Path) -> None:
    task = "task: {_target_: trainlib:train, model: {}, optim: {}, steps: 2}\n"
    spec = spec_file(tmp_path, "", task=task)
    text = compile_k8s(spec, "optim.lr=0.5,0.25", HERE_PYTHON)
    for point, lr in enumerate(("0.5", "0.25")):
        proc = run_pod(text, tmp_path, point)
        assert proc.returncode == 0, proc.stderr
        assert f"lr={lr}" in proc.stdout + proc.stderr


FIXTURES = Path(__file__).resolve().parent
HOSTILE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=30
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=HOSTILE, value=HOSTILE)
@example(text="", value="\x85")  # NEL: a line break to YAML, folded to a space unless escaped
@example(text="\u2028", value="_\u2029")
def test_hostile_strings_reach_the_task_byte_exact(tmp_path: Path, text: str, value: str) -> None:
    # ``${`` starts an interpolation in the spec language itself: not a Kubernetes matter.
    assume("${" not in text and "${" not in value)
    work = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    work.mkdir()
    spec = work / "hostile.yaml"
    tree = {
        "nemorun": 1,
        "name": run_name(value),
        "pythonpath": [str(FIXTURES)],
        "task": {"_target_": "fixtures_entry:echo", "out": str(work / "o.json"), "text": text},
        "executor": {"target": "kubernetes", "env": {"HOSTILE": value}},
    }
    spec.write_text(yaml.safe_dump(tree), encoding="utf-8")
    text_out = compile_k8s(spec, HERE_PYTHON)
    validate(text_out)
    proc = run_pod(text_out, work, 0)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((work / "o.json").read_text(encoding="utf-8"))
    assert (report["text"], report["env"]) == (text, value)
    assert (report["run_name"], report["point"]) == (run_name(value), "0")


def run_name(text: str) -> str:
    """A run name may not hold control characters (validation refuses them): they become "_"."""
    return "".join(c if ord(c) >= 32 and ord(c) != 127 else "_" for c in text) or "x"


# --- mistakes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("executor", "message"),
    [
        ("  memory: 4XB\n", "job.yaml:7:11: executor.memory: not a Kubernetes quantity"),
        ("  cpus: -1\n", "executor.cpus: must be more than 0"),
        ("  namespace: Team_A\n", "executor.namespace: not a DNS-1123 label"),
        ("  name: My_Job\n", "executor.name: not a Job name"),
        ("  name: " + "a" * 51 + "\n", "executor.name: longer than 50 characters"),
        ("  gpus: 0\n", "executor.gpus: must be at least 1"),
        ("  node_selector: {'bad key!': x}\n", "not a label key"),
        ("  labels: {team: 'a b'}\n", "executor.labels.team: not a label value"),
        ("  secret_env: {TOKEN: token}\n", "executor.secret_env.TOKEN: not a secret reference"),
        ("  secret_env: {NEMORUN_POINT: a/b}\n", "nemorun sets NEMORUN_POINT"),
        (
            "  image_pull_secrets: [Bad]\n",
            "executor.image_pull_secrets[0]: not a Kubernetes object",
        ),
        ("  tolerations: [{operator: Maybe}]\n", "executor.tolerations[0].operator"),
        (
            "  volumes: [{name: d, mount_path: /d, claim: c, host_path: /x}]\n",
            "executor.volumes[0]: a volume has exactly one of claim, host_path, empty_dir: "
            "found claim, host_path",
        ),
        ("  volumes: [{name: d, mount_path: rel, empty_dir: true}]\n", "not an absolute path"),
        ("  container: {image: x, mounts: ['/a:/b']}\n", "a pod mounts no paths of this machine"),
        ("  workdir: rel\n", "executor.workdir: a container's working directory is absolute"),
        ("  backoff_limit: -1\n", "executor.backoff_limit: must be at least 0"),
    ],
    ids=lambda v: v.strip().split(":")[0] if v.startswith("  ") else "",
)
def test_bad_options_are_refused_at_their_line(
    cli: Callable[..., CliResult], tmp_path: Path, executor: str, message: str
) -> None:
    result = cli("compile", str(spec_file(tmp_path, executor)))
    assert result.code == 2, result.out
    assert message in result.err
    assert "Traceback" not in result.err
    assert result.out == ""


@given(st.text(max_size=80))
def test_made_up_names_are_always_valid(name: str) -> None:
    made = dns_name(name or "x", 50)
    assert re.fullmatch(r"[a-z](?:[-a-z0-9]*[a-z0-9])?", made) and len(made) <= 50
    value = label_value(name)
    assert re.fullmatch(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?", value)
    assert len(value) <= 63
