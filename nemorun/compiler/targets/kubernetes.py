"""The ``kubernetes`` target: manifests for ``batch/v1`` Jobs, one multi-document YAML.

The documents are a ConfigMap holding the generated entry point and a small ``run.sh`` (the
pod's command, so no user text reaches a container's ``command`` or ``args``), a headless
Service when the job spans several nodes, and the Job(s). How each part of a spec becomes a
field of those objects is in `nemorun.compiler.targets.kubernetes_objects`; this module holds
the options (Kubernetes' own words, each value's format declared on its field), the rules
between them (`_Checks`) and `plan`.

Three shapes (`Shape`): one point on one node is a plain Job; a sweep on one node is one
Indexed Job (``completionMode: Indexed``) whose completion index is the point; a job on several
nodes is one Indexed Job per point whose index is the node's rank, with a headless Service that
gives the pod of index 0 a stable name for the torchrun rendezvous.

nemorun has no resilience policy yet, so ``backoff_limit`` is the one retry knob (0 by default,
like the other targets: a failed point fails). Every compiled manifest passes Kubernetes' own
OpenAPI schema (tests/compiler/test_kubernetes.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from nemorun.compiler.targets.checks import OptionChecks
from nemorun.registry import TargetDef
from nemorun.schemas.formats import Format, option
from nemorun.schemas.options import COUNT, ENV_NAME, ExecutorOptions

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.compiler.targets.kubernetes_objects import KubernetesPlan
    from nemorun.schemas.spec import Spec

_LABEL = "[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = f"{_LABEL}(?:\\.{_LABEL})*"
_QUALIFIED = "[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
MAX_NAME = 50
"""The longest base name: pods of a multi-node sweep are ``NAME-POINT-INDEX`` (63 at most)."""


def _longest(n: int) -> Callable[[str], str | None]:
    def rule(value: str) -> str | None:
        return f"longer than {n} characters" if len(value) > n else None

    return rule


DNS_LABEL = Format(
    "a DNS-1123 label",
    pattern=_LABEL,
    expected="lower-case letters, digits and '-', starting and ending with a letter or digit, "
    "at most 63 characters",
    example="team-a",
    rule=_longest(63),
)
OBJECT_NAME = Format(
    "a Kubernetes object name",
    pattern=_SUBDOMAIN,
    expected="lower-case letters, digits, '-' and '.', starting and ending with a letter or "
    "digit",
    example="my-secret",
    rule=_longest(253),
)
OBJECT_NAMES = Format(
    "a Kubernetes object name",
    pattern=_SUBDOMAIN,
    expected=OBJECT_NAME.expected,
    rule=_longest(253),
    applies_to="items",
)
JOB_NAME = Format(
    "a Job name",
    pattern="[a-z](?:[-a-z0-9]*[a-z0-9])?",
    expected=f"lower-case letters, digits and '-', starting with a letter, at most {MAX_NAME} "
    "characters (pods add -POINT-INDEX)",
    example="pretrain",
    rule=_longest(MAX_NAME),
)
QUANTITY = Format(
    "a Kubernetes quantity",
    pattern="(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][0-9]+)?",
    expected="a number with an optional unit: Ki, Mi, Gi, Ti (powers of 1024), k, M, G, T "
    "(powers of 1000), or m (thousandths, for cpu)",
    example="16Gi",
    exclusive_minimum=0,
    fractions=True,
)
_KEY = f"(?:{_SUBDOMAIN}/)?{_QUALIFIED}"
LABEL_KEYS = Format(
    "a label key",
    pattern=_KEY,
    expected="[prefix/]name: the name letters, digits, '-', '_' and '.', the prefix a DNS "
    "subdomain",
    example="nvidia.com/gpu.product",
    applies_to="keys",
)
LABEL_VALUES = Format(
    "a label value",
    pattern=f"(?:{_QUALIFIED})?",
    expected="letters, digits, '-', '_' and '.', starting and ending with a letter or digit, "
    "at most 63 characters",
    rule=_longest(63),
    applies_to="values",
)
TAINT_KEY = Format("a taint key", pattern=_KEY, expected="[prefix/]name, like nvidia.com/gpu")
SECRET_REF = Format(
    "a secret reference",
    pattern=f"{_SUBDOMAIN}/[-._A-Za-z0-9]+",
    expected="SECRET/KEY: a Secret of the job's namespace and one of its keys",
    example="wandb/api-key",
    applies_to="values",
)
CONTAINER_PATH = Format(
    "an absolute path",
    pattern="/[^\\n:]*",
    expected="a path in the container starting with '/', without ':'",
)
HOST_PATH = Format("an absolute path", pattern="/[^\\n]*", expected="a path on the node")
EXTENDED_RESOURCE = Format(
    "an extended resource name",
    pattern=f"{_SUBDOMAIN}/{_QUALIFIED}",
    expected="domain/name, like nvidia.com/gpu or amd.com/gpu",
    example="nvidia.com/gpu",
)
SECONDS = Format("a number of seconds", minimum=0)


@dataclass
class Toleration:
    """A taint the job's pods tolerate, in Kubernetes' own words.

    Args:
        key: The taint's key; none, with ``operator: Exists``, tolerates every taint.
        operator: ``Equal`` (the taint's value must be ``value``) or ``Exists``.
        value: The taint's value, with ``Equal``.
        effect: ``NoSchedule``, ``PreferNoSchedule`` or ``NoExecute``; none: every effect.
        toleration_seconds: With ``NoExecute``: how long a pod stays once the node is tainted.
    """

    key: str | None = option(TAINT_KEY)
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = option(SECONDS)


@dataclass
class Volume:
    """A volume mounted into the job's container: one of ``claim``, ``host_path``, ``empty_dir``.

    Args:
        name: The volume's name in the pod.
        mount_path: Where the container sees it.
        claim: A PersistentVolumeClaim of the job's namespace.
        host_path: A directory on the node.
        empty_dir: A fresh directory for the pod's life (``medium: Memory`` for ``/dev/shm``).
        medium: ``Memory`` keeps an ``empty_dir`` in RAM.
        size_limit: The most an ``empty_dir`` may hold.
        read_only: Mount it read-only.
    """

    name: str = option(DNS_LABEL)
    mount_path: str = option(CONTAINER_PATH)
    claim: str | None = option(OBJECT_NAME)
    host_path: str | None = option(HOST_PATH)
    empty_dir: bool = False
    medium: Literal["", "Memory"] = ""
    size_limit: str | None = option(QUANTITY)
    read_only: bool = False

    def sources(self) -> list[str]:
        """The source keys this volume sets (exactly one is right)."""
        return [k for k in ("claim", "host_path", "empty_dir") if getattr(self, k)]


@dataclass
class KubernetesOptions(ExecutorOptions):
    """A Kubernetes Job, in Kubernetes' own words.

    Args:
        namespace: The namespace of every object; none: the kubeconfig context's.
        context: The kubeconfig context to launch with; none: the current one.
        name: The Job's name; none: the run's name made a DNS label.
        cpus: CPU request and limit of each pod (``4``, ``500m``).
        memory: Memory request and limit of each pod (``16Gi``).
        gpus: GPUs of each pod, as a limit of ``gpu_resource``.
        gpu_resource: The extended resource that counts GPUs.
        node_selector: Node labels the pods must run on.
        tolerations: Taints the pods tolerate.
        volumes: Volumes mounted into the container.
        image_pull_secrets: Secrets to pull the image with.
        secret_env: Environment variables read from Secrets: ``NAME: SECRET/KEY``.
        service_account: The pods' service account.
        labels: Labels added to every object and pod.
        queue: A Kueue LocalQueue: the Job is created suspended, for Kueue to admit.
        priority_class: The pods' PriorityClass.
        backoff_limit: Retries of a failed pod (per point in a sweep) before it counts failed.
        parallelism: How many points of a sweep run at once; none: all of them.
        active_deadline_seconds: The longest a Job may run.
        ttl_seconds_after_finished: How long a finished Job (and its pods' logs) is kept.
    """

    namespace: str | None = option(DNS_LABEL)
    context: str | None = None
    name: str | None = option(JOB_NAME)
    cpus: str | int | None = option(QUANTITY)
    memory: str | int | None = option(QUANTITY)
    gpus: int | None = option(COUNT)
    gpu_resource: str = option(EXTENDED_RESOURCE, default="nvidia.com/gpu")
    node_selector: dict[str, str] = option(LABEL_KEYS, LABEL_VALUES, factory=dict)
    tolerations: list[Toleration] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    image_pull_secrets: list[str] = option(OBJECT_NAMES, factory=list)
    secret_env: dict[str, str] = option(ENV_NAME, SECRET_REF, factory=dict)
    service_account: str | None = option(OBJECT_NAME)
    labels: dict[str, str] = option(LABEL_KEYS, LABEL_VALUES, factory=dict)
    queue: str | None = option(OBJECT_NAME)
    priority_class: str | None = option(OBJECT_NAME)
    backoff_limit: int = option(SECONDS, default=0)
    parallelism: int | None = option(COUNT)
    active_deadline_seconds: int | None = option(COUNT)
    ttl_seconds_after_finished: int | None = option(SECONDS)


def plan(spec: Spec, job: Job) -> tuple[KubernetesPlan, list[str]]:
    """The checked options, as Kubernetes objects (`kubernetes_objects.build`).

    ``container.image`` is the container's image (required: a pod runs nothing else);
    ``workdir`` its ``workingDir``; ``env`` its ``env`` (a ``${oc.env:…}`` value is read in
    the pod, by ``run.sh``); ``setup`` lines run in the pod before the task; ``nodes`` is the
    number of pods of each point, which meet through the headless Service.
    """
    from nemorun.compiler.targets import kubernetes_objects

    options = spec.executor
    assert isinstance(options, KubernetesOptions)
    check = _Checks(spec)
    warnings: list[str] = []
    image = check.image(options, warnings)
    check.volumes(options)
    check.env(options)
    check.done()
    warnings += _warnings(job, options, spec.launcher.nproc_per_node)
    return kubernetes_objects.build(spec, job, options, image), warnings


def _warnings(job: Job, options: KubernetesOptions, nproc_per_node: int) -> list[str]:
    """What compiles but is likely not what the user meant."""
    warnings = []
    mounted = [v.mount_path.rstrip("/") for v in options.volumes]
    for directory in job.pythonpath:
        if not any(directory == m or directory.startswith(m + "/") for m in mounted):
            warnings.append(
                f"the code directory {directory} must be at that path in the pod: in the "
                "image, or on a volume mounted there (executor.volumes)"
            )
    if options.queue is not None and not (options.cpus or options.memory or options.gpus):
        warnings.append(
            "Kueue admits a job by its resource requests: set executor.cpus, memory or gpus"
        )
    if job.launcher.kind == "torchrun" and nproc_per_node > 1:
        if "/dev/shm" not in mounted:
            warnings.append(
                "torchrun workers share memory through /dev/shm, 64 MB in a pod by default: "
                "add a volume {name: shm, mount_path: /dev/shm, empty_dir: true, medium: Memory}"
            )
    return warnings


class _Checks(OptionChecks):
    """Kubernetes' rules for the fields every target shares, and between options."""

    def image(self, options: KubernetesOptions, warnings: list[str]) -> str:
        """``container.image`` (`DEFAULT_IMAGE`, with a warning, when none is named); a pod
        mounts no paths of this machine; the working directory is absolute."""
        if options.workdir is not None and not options.workdir.startswith("/"):
            self.error(
                "workdir",
                "a container's working directory is absolute",
                expected="a path in the container starting with '/'",
                found=repr(options.workdir),
            )
        if options.container is None:
            warnings.append(
                f"no executor.container.image: using {DEFAULT_IMAGE} "
                "(set 'container: {image: IMAGE}' under executor to choose)"
            )
            return DEFAULT_IMAGE
        if options.container.mounts:
            self.error(
                ("container", "mounts"),
                "a pod mounts no paths of this machine",
                suggestion="mount volumes with executor.volumes (claim, host_path, empty_dir)",
            )
        image = options.container.image
        if not image or any(ch.isspace() for ch in image):
            self.error(
                ("container", "image"),
                "not an image reference",
                expected="an image like nvcr.io/nvidia/pytorch:24.01-py3",
                found=repr(image),
            )
        return image

    def volumes(self, options: KubernetesOptions) -> None:
        """Each volume has one source; names and mount paths are not used twice."""
        names: dict[str, int] = {}
        paths: dict[str, int] = {}
        for i, volume in enumerate(options.volumes):
            key = ("volumes", i)
            sources = volume.sources()
            if len(sources) != 1:
                self.error(
                    key,
                    "a volume has exactly one of claim, host_path, empty_dir",
                    found=", ".join(sources) or "none of them",
                )
            if volume.name in names or volume.name == FILES_VOLUME:
                self.error((*key, "name"), f"the volume name {volume.name} is taken")
            if not volume.mount_path:
                self.error(key, "a volume needs a mount_path")
            elif volume.mount_path.rstrip("/") in paths or volume.mount_path == FILES_PATH:
                self.error((*key, "mount_path"), f"{volume.mount_path} is mounted twice")
            if (volume.medium or volume.size_limit) and not volume.empty_dir:
                self.error(key, "medium and size_limit are for an empty_dir volume")
            names[volume.name] = i
            paths[volume.mount_path.rstrip("/")] = i

    def env(self, options: KubernetesOptions) -> None:
        """A name is set once: by ``env`` or by ``secret_env``."""
        for name in options.secret_env:
            if name in options.env:
                self.error(
                    ("secret_env", name),
                    f"{name} is also set by executor.env",
                    suggestion="keep one of them",
                )


DEFAULT_IMAGE = "python:3.11-slim"
"""The image used when the spec names none (with a warning), as for the docker target."""
FILES_VOLUME = "nemorun-files"
FILES_PATH = "/nemorun"
"""Where the ConfigMap (``run.sh``, ``entry.py``) is mounted in the container."""

TARGET = TargetDef(
    name="kubernetes",
    options=KubernetesOptions,
    plan=plan,
    template="kubernetes.yaml.j2",
    suffix=".yaml",
    launch="nemorun.launchers.kubernetes:KubernetesTarget",
    launchers=("none", "torchrun"),
    parallel_option="parallelism",
    stop_command="kubectl delete job --cascade=foreground {ids}",
)
