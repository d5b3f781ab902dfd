"""The Kubernetes objects of a compiled job, built as data and written as YAML (`build`).

Two things are less plain than they look:
- the kubelet expands ``$(NAME)`` in a container's ``env`` values, ``command`` and ``args``
  (``$$`` is a literal ``$``), so every ``$`` of an env value is doubled (`literal_env`), and no
  user text goes into ``command``/``args``: the pod runs ``/bin/sh /nemorun/run.sh``, a script
  of the ConfigMap written here (`run_script`), whose text the kubelet never touches;
- names: Kubernetes names are DNS labels, so the run's name is made one (`dns_name`), with a
  hash of the real name whenever that changed it, and the run's own suffix when launched, so
  two runs of one spec never collide in a namespace.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nemorun.compiler import torchrun
from nemorun.compiler.targets.kubernetes_options import (
    FILES_PATH,
    FILES_VOLUME,
    MAX_NAME,
    KubernetesOptions,
    Toleration,
    Volume,
)
from nemorun.compiler.torchrun import Macros, Var, Word
from nemorun.schemas.convert import EnvRef

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.schemas.spec import Spec

MANAGED_BY = "app.kubernetes.io/managed-by"
RUN_NAME_LABEL = "nemorun.dev/run-name"
RUN_ID_LABEL = "nemorun.dev/run-id"
GROUP_LABEL = "nemorun.dev/name"
"""On every pod of the job: what the headless Service selects."""
CONTEXT_ANNOTATION = "nemorun.dev/kube-context"
"""On each Job: the kubeconfig context ``launch`` uses (the ``context`` option)."""
POINTS_ANNOTATION = "nemorun.dev/points"
"""On each Job: the sweep points it runs, ``3`` or ``0-5`` (its completion indexes, for a sweep)."""
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
CONTAINER = "task"
MAX_LISTED = 50
"""Points listed in the comment above an Indexed sweep; the rest are counted."""


class Shape(enum.Enum):
    """How points and nodes map onto Jobs (see `nemorun.compiler.targets.kubernetes`)."""

    SINGLE = "single"
    """One point on one node: one plain Job."""
    SWEEP = "sweep"
    """Several points, one node each: one Indexed Job, index = point."""
    NODES = "nodes"
    """Several nodes: one Indexed Job per point, index = node rank, and a headless Service."""


@dataclass(frozen=True)
class Document:
    """One YAML document of the manifest: comment lines above it, then its text."""

    comment: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class KubernetesPlan:
    """What ``kubernetes.yaml.j2`` needs beyond the `Job`."""

    shape: Shape
    documents: tuple[Document, ...]
    jobs: tuple[str, ...]
    """The Jobs' names, in order (one per point for `Shape.NODES`)."""


@dataclass(frozen=True)
class _Meta:
    """What every object of the job shares."""

    base: str
    namespace: str | None
    labels: dict[str, str]

    def of(self, name: str, **extra: Any) -> dict[str, Any]:
        """An object's ``metadata``."""
        meta: dict[str, Any] = {"name": name}
        if self.namespace is not None:
            meta["namespace"] = self.namespace
        meta["labels"] = dict(self.labels)
        meta.update({k: v for k, v in extra.items() if v})
        return meta


def build(spec: Spec, job: Job, options: KubernetesOptions, image: str) -> KubernetesPlan:
    """The manifest's objects: the ConfigMap, the Service (several nodes), the Job(s)."""
    shape = Shape.NODES if options.nodes > 1 else Shape.SWEEP if job.is_sweep() else Shape.SINGLE
    base = options.name or base_name(job)
    meta = _Meta(base, options.namespace, labels(job, options))
    files = {"run.sh": run_script(spec, job, shape)}
    if job.entry is not None:
        files["entry.py"] = job.entry
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta.of(f"{base}-files"),
        "data": files,
    }
    docs = [
        Document((f"The task's files, mounted at {FILES_PATH} in every pod.",), dump(configmap))
    ]
    if shape is Shape.NODES:
        why = f"Names each pod JOB-INDEX.{base}: the rendezvous is on index 0."
        docs.append(Document((why,), dump(_service(meta, spec))))
    names: list[str] = []
    for point in job.points if shape is Shape.NODES else job.points[:1]:
        name = f"{base}-{point.index}" if shape is Shape.NODES and job.is_sweep() else base
        names.append(name)
        body = _job(meta, name, job, options, image, shape, point.index)
        docs.append(Document(_job_comment(job, shape, point.index), dump(body)))
    return KubernetesPlan(shape, tuple(docs), tuple(names))


def _job_comment(job: Job, shape: Shape, point: int) -> tuple[str, ...]:
    if shape is Shape.SWEEP:
        lines = [f"A sweep of {job.num_points} points: completion index = NEMORUN_POINT."]
        lines += [f"Point {p.index}: {p.describe()}" for p in job.points[:MAX_LISTED]]
        if job.num_points > MAX_LISTED:
            lines.append(f"… and {job.num_points - MAX_LISTED} more")
        return tuple(lines)
    if shape is Shape.NODES and job.is_sweep():
        return (f"Point {point}: {job.points[point].describe()}",)
    return ()


def _service(meta: _Meta, spec: Spec) -> dict[str, Any]:
    """The headless Service whose name is the pods' ``subdomain``."""
    service: dict[str, Any] = {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,  # the rendezvous starts before any pod is ready
        "selector": {GROUP_LABEL: meta.base},
    }
    if spec.launcher.kind == "torchrun":
        service["ports"] = [{"name": "rdzv", "port": spec.launcher.rdzv_port}]
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta.of(meta.base), "spec": service}


def _job(
    meta: _Meta,
    name: str,
    job: Job,
    options: KubernetesOptions,
    image: str,
    shape: Shape,
    point: int,
) -> dict[str, Any]:
    """A ``batch/v1`` Job: its shape's counts, the retry limit, Kueue's label and suspend."""
    spec: dict[str, Any] = {}
    if shape is Shape.SINGLE:
        spec.update(completions=1, parallelism=1, backoffLimit=options.backoff_limit)
    elif shape is Shape.SWEEP:
        spec.update(
            completionMode="Indexed",
            completions=job.num_points,
            parallelism=min(options.parallelism or job.num_points, job.num_points),
            backoffLimitPerIndex=options.backoff_limit,  # one failing point stops no other
        )
    else:
        spec.update(
            completionMode="Indexed",
            completions=options.nodes,
            parallelism=options.nodes,
            backoffLimit=options.backoff_limit,
        )
    if options.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = options.active_deadline_seconds
    if options.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = options.ttl_seconds_after_finished
    if options.queue is not None:
        spec["suspend"] = True  # Kueue unsuspends it once admitted
    pod_labels = {**meta.labels, GROUP_LABEL: meta.base}
    spec["template"] = {
        "metadata": {"labels": pod_labels},
        "spec": _pod(meta, name, job, options, image, shape, point),
    }
    extra_labels = {QUEUE_LABEL: options.queue} if options.queue else {}
    metadata = meta.of(name)
    metadata["labels"].update(extra_labels)
    points = f"0-{job.num_points - 1}" if shape is Shape.SWEEP else str(point)
    metadata["annotations"] = {POINTS_ANNOTATION: points}
    if options.context is not None:
        metadata["annotations"][CONTEXT_ANNOTATION] = options.context
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": spec}


def _pod(
    meta: _Meta,
    name: str,
    job: Job,
    options: KubernetesOptions,
    image: str,
    shape: Shape,
    point: int,
) -> dict[str, Any]:
    """The pod template's spec."""
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "command": ["/bin/sh", f"{FILES_PATH}/run.sh"],
        "env": _env(job, options, shape, point, f"{name}-0.{meta.base}"),
    }
    if job.workdir is not None:
        container["workingDir"] = job.workdir
    resources = _resources(options)
    if resources:
        container["resources"] = resources
    mounts = [{"name": FILES_VOLUME, "mountPath": FILES_PATH, "readOnly": True}]
    mounts += [_mount(volume) for volume in options.volumes]
    container["volumeMounts"] = mounts
    pod: dict[str, Any] = {"restartPolicy": "Never"}
    if shape is Shape.NODES:
        pod["subdomain"] = meta.base
    pod["containers"] = [container]
    files = {"name": f"{meta.base}-files", "defaultMode": 0o555}
    pod["volumes"] = [{"name": FILES_VOLUME, "configMap": files}]
    pod["volumes"] += [_volume(volume) for volume in options.volumes]
    optional = {
        "nodeSelector": dict(options.node_selector),
        "tolerations": [_toleration(t) for t in options.tolerations],
        "imagePullSecrets": [{"name": secret} for secret in options.image_pull_secrets],
        "serviceAccountName": options.service_account,
        "priorityClassName": options.priority_class,
    }
    pod.update({key: value for key, value in optional.items() if value})
    return pod


def _env(
    job: Job, options: KubernetesOptions, shape: Shape, point: int, head: str
) -> list[dict[str, Any]]:
    """nemorun's variables, then the spec's literal values, then those read from Secrets
    (``${oc.env:…}`` values are exported by ``run.sh``, in the pod)."""
    env: list[dict[str, Any]] = [literal_env("NEMORUN_RUN_NAME", job.name)]
    if job.run is not None:
        env.append(literal_env("NEMORUN_RUN_ID", job.run.id))
    if shape is Shape.SWEEP:
        where = {"fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}
        env.append({"name": "NEMORUN_POINT", "valueFrom": {"fieldRef": where}})
    else:
        env.append(literal_env("NEMORUN_POINT", str(point)))
    if shape is Shape.NODES:
        env.append(literal_env("NEMORUN_HEAD_NODE", head))
    env += [literal_env(k, v) for k, v in job.env if not isinstance(v, EnvRef)]
    for key, ref in options.secret_env.items():
        secret, _, secret_key = ref.partition("/")
        env.append(
            {"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": secret_key}}}
        )
    return env


def literal_env(name: str, value: str) -> dict[str, str]:
    """An env entry whose value reaches the process unchanged (``$`` doubled: the kubelet
    reads ``$(NAME)`` as a reference and ``$$`` as one ``$``)."""
    return {"name": name, "value": value.replace("$", "$$")}


def _resources(options: KubernetesOptions) -> dict[str, dict[str, str]]:
    """Requests equal to limits for cpu and memory (a predictable pod); GPUs as a limit."""
    amounts = {"cpu": options.cpus, "memory": options.memory}
    requests = {key: str(value) for key, value in amounts.items() if value is not None}
    limits = dict(requests)
    if options.gpus is not None:
        limits[options.gpu_resource] = str(options.gpus)
    out = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _mount(volume: Volume) -> dict[str, Any]:
    mount: dict[str, Any] = {"name": volume.name, "mountPath": volume.mount_path}
    if volume.read_only:
        mount["readOnly"] = True
    return mount


def _volume(volume: Volume) -> dict[str, Any]:
    if volume.claim is not None:
        claim: dict[str, Any] = {"claimName": volume.claim}
        if volume.read_only:
            claim["readOnly"] = True
        return {"name": volume.name, "persistentVolumeClaim": claim}
    if volume.host_path is not None:
        return {"name": volume.name, "hostPath": {"path": volume.host_path}}
    empty: dict[str, Any] = {}
    if volume.medium:
        empty["medium"] = volume.medium
    if volume.size_limit is not None:
        empty["sizeLimit"] = str(volume.size_limit)
    return {"name": volume.name, "emptyDir": empty}


def _toleration(toleration: Toleration) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if toleration.key is not None:
        out["key"] = toleration.key
    out["operator"] = toleration.operator
    if toleration.value is not None:
        out["value"] = toleration.value
    if toleration.effect is not None:
        out["effect"] = toleration.effect
    if toleration.toleration_seconds is not None:
        out["tolerationSeconds"] = toleration.toleration_seconds
    return out


def labels(job: Job, options: KubernetesOptions) -> dict[str, str]:
    """Every object's labels: nemorun's (the run's name and id), then the spec's own."""
    out = {MANAGED_BY: "nemorun", RUN_NAME_LABEL: label_value(job.name)}
    if job.run is not None:
        out[RUN_ID_LABEL] = label_value(job.run.id)
    out.update(options.labels)
    return out


def run_script(spec: Spec, job: Job, shape: Shape) -> str:
    """``run.sh``, the pod's command (``/bin/sh``, so any image with a shell runs it): the
    ``${oc.env:…}`` env values, the code directories, ``setup``, then the task, ``exec``ed."""
    from nemorun.compiler.render import pythonpath_export, shell_quote

    lines = [
        "#!/bin/sh",
        f"# Run in each pod of {job.job_name!r} (nemorun). The entry point is entry.py, beside.",
        "set -eu",
        'here=$(dirname -- "$0")',
    ]
    lines += [f"export {k}={shell_quote(v)}" for k, v in job.env if isinstance(v, EnvRef)]
    if job.pythonpath:
        lines.append(pythonpath_export(job.pythonpath))
    lines += job.setup
    lines.append("exec " + " ".join(shell_quote(word) for word in _command(spec, job, shape)))
    return "\n".join(lines) + "\n"


def _command(spec: Spec, job: Job, shape: Shape) -> tuple[Word, ...]:
    """The task's words: the entry or the argv, under torchrun when the spec says so. On
    several nodes the rank is the completion index and the rendezvous is on index 0."""
    program: tuple[Word, ...]
    if job.entry is not None:
        program = (Word.of(job.python), Word.of("-u"), Word.of(Var("here"), "/entry.py"))
    else:
        program = tuple(Word.of(word) for word in job.argv)
    if job.launcher.kind != "torchrun":
        return program
    if shape is Shape.NODES:
        head = Word.of(Var("NEMORUN_HEAD_NODE"))
        macros = Macros(Word.of(Var("JOB_COMPLETION_INDEX")), head, head)
    else:
        macros = Macros(Word.of(0), Word.of("localhost"), Word.of(Var("HOSTNAME")))
    return torchrun.command(spec.launcher, spec.executor.nodes, macros, program)


def base_name(job: Job) -> str:
    """The name of the job's objects: its run name as a DNS label (`dns_name`), ending with
    the run's own suffix when launched."""
    if job.run is None:
        return dns_name(job.job_name, MAX_NAME)
    suffix = job.run.id.rsplit("-", 1)[-1].lower()
    return f"{dns_name(job.job_name, MAX_NAME - len(suffix) - 1)}-{suffix}"


def dns_name(name: str, limit: int) -> str:
    """``name`` as a DNS-1035 label of at most ``limit`` characters: lower case, runs of other
    characters become ``-``, ``job-`` in front of a name not starting with a letter; when that
    changed anything, 8 characters of a hash of ``name`` end it, so names stay apart."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not cleaned[:1].isalpha():
        cleaned = f"job-{cleaned}".rstrip("-")
    if cleaned == name and len(cleaned) <= limit:
        return cleaned
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[: limit - 9].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """``text`` as a label value: other characters become ``_``; a hash ends it when that, or
    cutting it to 63 characters, changed anything."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", text).strip("_.-")
    if cleaned == text and len(text) <= 63:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{cleaned[:54].strip('_.-')}-{digest}".lstrip("-")


def dump(document: dict[str, Any]) -> str:
    """A document as YAML in the order built; a multi-line string as a literal block when
    YAML can hold it so (the ConfigMap's files stay readable), else double-quoted."""
    import yaml

    return yaml.dump(document, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=2**31)


def _dumper() -> Any:
    import yaml

    def scalar(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        literal = "\n" in data and all(ch == "\n" or ch.isprintable() for ch in data)
        # NEL and the Unicode line/paragraph separators are line breaks to a YAML reader:
        # plain or single-quoted they fold to a space; double-quoted they are escaped.
        breaks = not literal and any(ch in data for ch in "\x85\u2028\u2029")
        style = "|" if literal else '"' if breaks else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, scalar)
    return Dumper
