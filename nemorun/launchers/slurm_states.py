"""What the Slurm target reads of Slurm's tools, without running anything: array ranges, the
output of ``sacct``, ``squeue`` and ``scontrol``, Slurm's state names (the scripts and log-file
patterns: `slurm_script`).

Everything here is a pure function of text, so it is tested without a cluster; `slurm` runs
the commands and decides what to believe.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nemorun.launchers.base import JobRef, JobState, JobStatus, RunHandle

# --- Slurm's job states -----------------------------------------------------------------------

PENDING_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESV_DEL_HOLD",
        "SPECIAL_EXIT",  # requeued in a held state
    }
)
RUNNING_STATES = frozenset(
    {
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "STOPPED",
        "SIGNALING",
        "STAGE_OUT",
        "RESIZING",
        "POWER_UP_NODE",
        "UPDATE_DB",
    }
)
FAILED_STATES = frozenset(
    {
        "FAILED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "LAUNCH_FAILED",
    }
)
CANCELLED_STATES = frozenset({"CANCELLED", "REVOKED"})
# Slurm's words for why a failed job failed, when its state alone says it.
FAILURE_REASONS = {
    "TIMEOUT": "time limit reached",
    "OUT_OF_MEMORY": "out of memory",
    "NODE_FAIL": "node failure",
    "BOOT_FAIL": "node boot failure",
    "DEADLINE": "deadline reached",
    "PREEMPTED": "preempted",
    "LAUNCH_FAILED": "launch failed",
}
NEVER_SATISFIED = "DependencyNeverSatisfied"


def slurm_state(text: str) -> str:
    """``CANCELLED by 0`` → ``CANCELLED``; ``RUNNING+`` → ``RUNNING``; upper case."""
    word = text.strip().split(" ", 1)[0] if text.strip() else ""
    return word.rstrip("+").upper()


def job_state(state: str) -> JobState:
    """nemorun's state for one of Slurm's (as `slurm_state` normalises it)."""
    if state in PENDING_STATES:
        return JobState.PENDING
    if state in RUNNING_STATES:
        return JobState.RUNNING
    if state == "COMPLETED":
        return JobState.COMPLETED
    if state in FAILED_STATES:
        return JobState.FAILED
    if state in CANCELLED_STATES:
        return JobState.CANCELLED
    return JobState.UNKNOWN


# --- Array ranges ---------------------------------------------------------------------------

ARRAY_ITEM = re.compile(r"(\d+)(?:-(\d+)(?::(\d+))?)?")


def array_indices(spec: str) -> list[int]:
    """The indices of an ``--array`` value (``0-9%2``, ``1,3,5-7``, ``0-15:4``), in order.

    Raises ValueError on anything else."""
    body = spec.strip().split("%", 1)[0]
    if not body:
        raise ValueError(f"not an array range: {spec!r}")
    out: list[int] = []
    for item in body.split(","):
        m = ARRAY_ITEM.fullmatch(item.strip())
        if m is None:
            raise ValueError(f"not an array range: {spec!r}")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        step = int(m.group(3)) if m.group(3) is not None else 1
        if last < first or step < 1:
            raise ValueError(f"not an array range: {spec!r}")
        out.extend(range(first, last + 1, step))
    return list(dict.fromkeys(out))


def compact_indices(indices: list[int]) -> str:
    """Array indices as an ``--array`` value: ``[1, 3, 4, 5]`` → ``1,3-5``."""
    runs: list[str] = []
    ordered = sorted(set(indices))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        runs.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(runs)


def array_throttle(spec: str) -> str:
    """The ``%N`` suffix of an ``--array`` value, or ``""``."""
    _, sep, limit = spec.partition("%")
    return f"%{limit}" if sep else ""


ELEMENT = re.compile(r"(\d+)_(\d+|\[[^\]]*\])")


def expand_job_id(text: str) -> list[tuple[str, int | None]]:
    """A JobID as sacct/squeue print it → (job id, array index or None) for each element.

    ``386`` → [(386, None)]; ``385_4`` → [(385, 4)]; ``385_[2-5%2]`` → four elements.
    Anything else (a step ``386.batch``, a het job ``12+1``) → []."""
    text = text.strip()
    if text.isdigit():
        return [(text, None)]
    m = ELEMENT.fullmatch(text)
    if m is None:
        return []
    job, index = m.groups()
    if index.startswith("["):
        try:
            return [(job, i) for i in array_indices(index[1:-1])]
        except ValueError:
            return []
    return [(job, int(index))]


def element_id(job: str, index: int | None) -> str:
    return job if index is None else f"{job}_{index}"


# --- What the tools say about one element ----------------------------------------------------


@dataclass
class Seen:
    """One job or array element as one tool reported it."""

    job: str
    """The submitted job id (an array's job id for its elements)."""
    index: int | None
    state: str
    """Slurm's state, normalised (`slurm_state`)."""
    reason: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    raw_id: str | None = None
    """The element's own job id (``%j`` in log names); known once it started."""
    node: str | None = None
    source: str = ""

    @property
    def id(self) -> str:
        return element_id(self.job, self.index)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "source": self.source}
        for name in ("reason", "exit_code", "signal", "raw_id", "node"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, element: str, data: dict[str, Any]) -> Seen:
        job, _, index = element.partition("_")
        return cls(
            job,
            int(index) if index else None,
            str(data.get("state", "")),
            data.get("reason"),
            data.get("exit_code"),
            data.get("signal"),
            data.get("raw_id"),
            data.get("node"),
            str(data.get("source", "")),
        )


def _reason(text: str) -> str | None:
    text = text.strip()
    return None if text in ("", "None", "(null)", "n/a") else text


def _exit_pair(text: str) -> tuple[int | None, int | None]:
    """``3:0`` (code:signal) → (3, None); ``0:15`` → (0, 15)."""
    code, _, sig = text.strip().partition(":")
    if not code.isdigit():
        return None, None
    return int(code), (int(sig) if sig.isdigit() and int(sig) else None)


def _first_node(text: str) -> str | None:
    """The first host of a node list (``node[1-2]`` → ``node1``); None when there is none."""
    text = text.strip()
    if text in ("", "None assigned", "(null)", "None") or text.startswith("("):
        return None
    m = re.match(r"([^,\[]+)(?:\[(\d+))?", text)
    if m is None:
        return None
    return m.group(1) + (m.group(2) or "")


SACCT_FIELDS = "JobID,JobIDRaw,State,ExitCode,Reason,NodeList"


def parse_sacct(text: str) -> list[Seen]:
    """``sacct --parsable2 -n -X -o`` `SACCT_FIELDS` output → one `Seen` per element."""
    out: list[Seen] = []
    for line in text.split("\n"):
        parts = line.split("|")
        if len(parts) < 6:
            continue
        job_id, raw, state, exit_text, reason, nodes = parts[:6]
        elements = expand_job_id(job_id)
        code, sig = _exit_pair(exit_text)
        for job, index in elements:
            # A range (a pending part of an array) has no element of its own yet.
            single = len(elements) == 1
            out.append(
                Seen(
                    job,
                    index,
                    slurm_state(state),
                    _reason(reason),
                    code,
                    sig,
                    raw.strip() if single and raw.strip().isdigit() else None,
                    _first_node(nodes),
                    "sacct",
                )
            )
    return out


SQUEUE_FORMAT = "JobArrayID:|,JobID:|,State:|,Reason:|,exit_code:|,NodeList:|"


def parse_squeue(text: str) -> list[Seen]:
    """``squeue -h -r -t all -O`` `SQUEUE_FORMAT` output → one `Seen` per element.

    squeue's ``exit_code`` is the raw wait status (``768`` for exit 3)."""
    out: list[Seen] = []
    for line in text.split("\n"):
        parts = [p.strip() for p in line.split("|")]
        if len(parts) < 6:
            continue
        job_id, raw, state, reason, status, nodes = parts[:6]
        elements = expand_job_id(job_id)
        code = sig = None
        if status.isdigit():
            n = int(status)
            code, sig = (n >> 8) & 0xFF, (n & 0x7F) or None
        started = slurm_state(state) not in PENDING_STATES
        for job, index in elements:
            out.append(
                Seen(
                    job,
                    index,
                    slurm_state(state),
                    _reason(reason),
                    code,
                    sig,
                    raw if started and raw.isdigit() and len(elements) == 1 else None,
                    _first_node(nodes),
                    "squeue",
                )
            )
    return out


def parse_scontrol(text: str) -> list[Seen]:
    """``scontrol show job -o ID`` output (one line per record) → one `Seen` per element."""
    out: list[Seen] = []
    for line in text.split("\n"):
        fields = dict(re.findall(r"(\S+?)=(\S*)", line))
        if "JobId" not in fields or "JobState" not in fields:
            continue
        raw = fields["JobId"]
        array_job, task = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
        if array_job and task is not None:
            try:
                elements: list[tuple[str, int | None]] = [
                    (array_job, i) for i in array_indices(task)
                ]
            except ValueError:
                continue
        else:
            elements = [(raw, None)]
        state = slurm_state(fields["JobState"])
        code, sig = _exit_pair(fields.get("ExitCode", ""))
        started = state not in PENDING_STATES
        for job, index in elements:
            out.append(
                Seen(
                    job,
                    index,
                    state,
                    _reason(fields.get("Reason", "")),
                    code,
                    sig,
                    raw if started and len(elements) == 1 else None,
                    _first_node(fields.get("NodeList", "")),
                    "scontrol",
                )
            )
    return out


# --- In nemorun's words ----------------------------------------------------------------------


def status_from_seen(eid: str, point: int, seen: Seen) -> JobStatus:
    """What one tool's record of element ``eid`` means in nemorun's words."""
    state = job_state(seen.state)
    reason: str | None = None
    exit_code = seen.exit_code
    if state is JobState.PENDING:
        reason = seen.reason or (seen.state if seen.state != "PENDING" else None)
        exit_code = None
    elif state is JobState.RUNNING:
        reason = seen.state if seen.state != "RUNNING" else None
        exit_code = None
    elif state is JobState.FAILED:
        if seen.signal:
            exit_code = None
        if seen.state in FAILURE_REASONS:
            reason = FAILURE_REASONS[seen.state]
        elif seen.signal:
            reason = f"killed by signal {seen.signal}"
        elif exit_code:
            reason = f"exit code {exit_code}"
        else:
            reason = seen.reason
    elif state is JobState.CANCELLED:
        reason = NEVER_SATISFIED if seen.reason == NEVER_SATISFIED else None
        exit_code = None
    elif state is JobState.UNKNOWN:
        reason = f"Slurm state {seen.state or '(none)'}"
    return JobStatus(eid, state, reason, exit_code, point)


def failed_parent(ref: JobRef, by_task: dict[str, list[JobStatus]]) -> str | None:
    """``NAME failed (job 12)`` for the first task ``ref`` comes after that did not
    succeed, or None."""
    for parent in ref.extra.get("after", ()):
        states = by_task.get(parent, [])
        for word, state in (("failed", JobState.FAILED), ("cancelled", JobState.CANCELLED)):
            bad = [s.id for s in states if s.state is state]
            if bad:
                return f"{parent} {word} (job {', '.join(bad[:3])})"
    return None


def array_elements(ref: JobRef) -> list[int | None]:
    """The array indices of a submitted job, or [None] for a plain job."""
    array = ref.extra.get("array")
    if not array:
        return [None]
    return list(array_indices(str(array)))


def live_jobs(run: RunHandle) -> list[str]:
    """The ids of the run's jobs that may still change: not every element last seen final."""
    last = run.state.get("slurm", {}).get("last", {})
    live = []
    for ref in run.jobs:
        for index in array_elements(ref):
            eid = element_id(ref.id, index)
            if eid not in last or not job_state(Seen.from_json(eid, last[eid]).state).is_final():
                live.append(ref.id)
                break
    return live


def command_message(result: subprocess.CompletedProcess[str]) -> str:
    """A command's complaint, on one line per message, without Slurm's ``sbatch: error:``."""
    text = (result.stderr or "").strip() or (result.stdout or "").strip()
    lines = []
    for line in text.splitlines():
        line = line.strip()
        for prefix in ("sbatch: error: ", "sacct: error: ", "squeue: error: ", "scancel: error: "):
            if line.startswith(prefix):
                line = line[len(prefix) :]
        if line:
            lines.append(line)
    return "\n".join(lines) or f"exit code {result.returncode}"


TAG = "nemorun-run="
"""Every job a launch submits carries ``nemorun-run=<run id>`` in its comment."""


def run_tag(run_id: str) -> str:
    return TAG + run_id


def tagged(text: str, tags: Sequence[str]) -> dict[str, list[str]]:
    """``squeue -h -o '%i|%k'`` (job id, comment) → the job ids carrying each of ``tags``."""
    found: dict[str, list[str]] = {}
    wanted = set(tags)
    for line in text.splitlines():
        job, _, comment = line.strip().partition("|")
        for word in re.findall(re.escape(TAG) + r"\S+", comment):
            if word in wanted:
                found.setdefault(word, []).append(job)
    return found
