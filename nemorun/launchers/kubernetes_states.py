"""Kubernetes Job and Pod objects (JSON, as the API server returns them) → nemorun's states.

Pure data in, data out: `point_states` reads one Job and its pods. A Job's conditions say
how it ended (``Complete``, ``Failed``, ``Suspended`` while Kueue has not admitted it); for an
Indexed sweep, ``status.completedIndexes`` and ``status.failedIndexes`` (``"1,3-5"``) say which
points ended how, and the pods (label ``batch.kubernetes.io/job-completion-index``) which
ones run now.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nemorun.launchers.base import JobState, JobStatus

INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
PHASES = {
    "Pending": JobState.PENDING,
    "Running": JobState.RUNNING,
    "Succeeded": JobState.COMPLETED,
    "Failed": JobState.FAILED,
}


def parse_indexes(text: str | None) -> set[int]:
    """``"1,3-5"`` → {1, 3, 4, 5}; None or empty → none."""
    out: set[int] = set()
    for part in (text or "").split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit():
            out.update(range(int(low), int(high if high.isdigit() else low) + 1))
    return out


def parse_points(text: str) -> tuple[int, ...]:
    """The ``nemorun.dev/points`` annotation, ``3`` or ``0-5``, as points."""
    return tuple(sorted(parse_indexes(text)))


def condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The Job's condition ``kind`` when it is true, else None."""
    for found in (job.get("status") or {}).get("conditions") or []:
        if found.get("type") == kind and found.get("status") == "True":
            return dict(found)
    return None


def point_states(
    name: str, job: dict[str, Any], pods: Sequence[dict[str, Any]], points: Sequence[int]
) -> list[JobStatus]:
    """The state of each of ``points`` run by Job ``name`` (``job``, as the API returns it).

    A Job of one point (on one node or several) has the Job's state. A sweep's point ``p`` is
    its completion index ``p``: completed or failed as the Job's status lists it, else as its
    newest pod (running, pending), else pending.
    """
    status = job.get("status") or {}
    sweep = len(points) > 1
    facts = _Facts(
        complete=condition(job, "Complete"),
        failed=condition(job, "Failed"),
        suspended=bool(condition(job, "Suspended") or (job.get("spec") or {}).get("suspend")),
        done=parse_indexes(status.get("completedIndexes")) if sweep else set(),
        lost=parse_indexes(status.get("failedIndexes")) if sweep else set(),
    )
    newest = _newest_pods(pods)
    out = []
    for point in points:
        pod = newest.get(point if sweep else 0)
        state, reason = _state(facts, point, sweep, pod)
        code = exit_code(pod) if pod is not None and state is JobState.FAILED else None
        out.append(JobStatus(name, state, reason, code, point))
    return out


@dataclass(frozen=True)
class _Facts:
    """What a Job's status says, once for all its points."""

    complete: dict[str, Any] | None
    failed: dict[str, Any] | None
    suspended: bool
    done: set[int]
    lost: set[int]


def _state(
    facts: _Facts, point: int, sweep: bool, pod: dict[str, Any] | None
) -> tuple[JobState, str | None]:
    if facts.complete is not None or point in facts.done:
        return JobState.COMPLETED, None
    if facts.failed is not None or point in facts.lost:
        # A failed sweep fails its unfinished points too: the Job stopped them.
        return JobState.FAILED, _said(facts.failed) if facts.failed else "failed"
    if facts.suspended:
        return JobState.PENDING, "suspended: waiting for Kueue to admit it"
    if pod is None:
        return JobState.PENDING, "no pod yet"
    phase = pod_phase(pod)
    state = PHASES.get(phase, JobState.UNKNOWN)
    if state is JobState.FAILED:  # the Job has not given up on it: it is being retried
        return JobState.RUNNING, "retrying"
    return state, None if state is JobState.RUNNING else phase.lower()


def _said(found: dict[str, Any]) -> str:
    """A condition's reason and message: ``BackoffLimitExceeded: Job has reached…``."""
    reason, message = found.get("reason") or "failed", found.get("message")
    return f"{reason}: {message}" if message else str(reason)


def _newest_pods(pods: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each completion index's newest pod (a retried index has several); a Job that is not
    Indexed has index 0."""
    out: dict[int, dict[str, Any]] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        index_text = (meta.get("labels") or {}).get(INDEX_LABEL) or (
            meta.get("annotations") or {}
        ).get(INDEX_LABEL, "0")
        index = int(index_text) if str(index_text).isdigit() else 0
        stamp = str(meta.get("creationTimestamp") or "")
        if index not in out or stamp >= str(out[index]["metadata"].get("creationTimestamp") or ""):
            out[index] = pod
    return out


def pod_for(pods: Sequence[dict[str, Any]], index: int) -> dict[str, Any] | None:
    """The newest pod of completion ``index`` (`_newest_pods`), or None."""
    return _newest_pods(pods).get(index)


def exit_code(pod: dict[str, Any]) -> int | None:
    """The exit code of the pod's ``task`` container, once it has ended."""
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated is not None and isinstance(terminated.get("exitCode"), int):
            return int(terminated["exitCode"])
    return None


def pod_phase(pod: dict[str, Any] | None) -> str:
    return str(((pod or {}).get("status") or {}).get("phase") or "")
