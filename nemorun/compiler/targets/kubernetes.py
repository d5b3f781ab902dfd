"""The ``kubernetes`` target: manifests for ``batch/v1`` Jobs, one multi-document YAML.

The documents are a ConfigMap holding the generated entry point and a small ``run.sh`` (the
pod's command, so no user text reaches a container's ``command`` or ``args``), a headless
Service when the job spans several nodes, and the Job(s). How each part of a spec becomes a
field of those objects is in `nemorun.compiler.targets.kubernetes_objects`, the options (with
their formats) in `nemorun.compiler.targets.kubernetes_options`; this module holds the rules
between options (`_Checks`), `plan` and the `TargetDef`.

Three shapes (`kubernetes_objects.Shape`): one point on one node is a plain Job; a sweep on
one node is one Indexed Job (``completionMode: Indexed``) whose completion index is the point;
a job on several nodes is one Indexed Job per point whose index is the node's rank, with a
headless Service that gives the pod of index 0 a stable name for the torchrun rendezvous.

nemorun has no resilience policy yet, so ``backoff_limit`` is the one retry knob (0 by default,
like the other targets: a failed point fails). Every compiled manifest passes Kubernetes' own
OpenAPI schema (tests/compiler/test_kubernetes.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nemorun.compiler.targets import kubernetes_objects
from nemorun.compiler.targets.checks import OptionChecks
from nemorun.compiler.targets.kubernetes_objects import KubernetesPlan
from nemorun.compiler.targets.kubernetes_options import (
    DEFAULT_IMAGE,
    FILES_PATH,
    FILES_VOLUME,
    KubernetesOptions,
)
from nemorun.registry import TargetDef

if TYPE_CHECKING:
    from nemorun.compiler.job import Job
    from nemorun.schemas.spec import Spec


def plan(spec: Spec, job: Job) -> tuple[KubernetesPlan, list[str]]:
    """The checked options, as Kubernetes objects (`kubernetes_objects.build`).

    ``container.image`` is the container's image (`DEFAULT_IMAGE`, with a warning, if none);
    ``workdir`` its ``workingDir``; ``env`` its ``env`` (a ``${oc.env:…}`` value is read in
    the pod, by ``run.sh``); ``setup`` lines run in the pod before the task; ``nodes`` is the
    number of pods of each point, which meet through the headless Service.
    """
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
    if job.launcher.kind == "torchrun" and nproc_per_node > 1 and "/dev/shm" not in mounted:
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
