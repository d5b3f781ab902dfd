"""The ``kubernetes`` target's options: Kubernetes' own words, each value's format on its field.

Formats follow Kubernetes' validation: names are DNS-1123 labels or subdomains (a Job's name
leaves room for the ``-POINT-INDEX`` of its pods), quantities are Kubernetes quantities
(``500m``, ``16Gi``; ``4GB`` is refused with a hint), label keys and values, ``SECRET/KEY``
references. Rules between options are `nemorun.compiler.targets.kubernetes`' ``_Checks``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from nemorun.schemas.formats import Format, option
from nemorun.schemas.options import COUNT, ENV_NAME, ExecutorOptions

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
    expected="lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
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
        name: The Job's name (a namespace holds one Job of a name at a time); none: the
            run's name made a DNS label, ending with the run's suffix when launched.
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


DEFAULT_IMAGE = "python:3.11-slim"
"""The image used when the spec names none (with a warning), as for the docker target."""
FILES_VOLUME = "nemorun-files"
FILES_PATH = "/nemorun"
"""Where the ConfigMap (``run.sh``, ``entry.py``) is mounted in the container."""
