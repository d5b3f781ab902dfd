"""What the Slurm target reads, without running anything: sbatch scripts, array ranges, the
output of ``sacct``, ``squeue`` and ``scontrol``, Slurm's state names and log-file patterns.

Everything here is a pure function of text, so it is tested without a cluster; `slurm` runs
the commands and decides what to believe.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, field
from typing import Any

from nemorun.launchers.base import JobState

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


# --- sbatch scripts ---------------------------------------------------------------------------

SHORT_OPTIONS = {"a": "array", "J": "job-name", "o": "output", "e": "error", "D": "chdir"}
OFFSET = re.compile(r'NEMORUN_POINT="\$\(\((\d+) \+ \$\{SLURM_ARRAY_TASK_ID')
PART_NAME = re.compile(r"(.+)\.(\d+)\.sbatch")


# What separates words and lines for Slurm (C's isspace, and lines end at "\n" only): Python's
# own str.isspace and str.splitlines also break at "\x85", "\u2028"…, which a quoted value or
# a job name may hold.
SBATCH_SPACE = frozenset(" \t\n\v\f\r")


def sbatch_words(text: str) -> list[str]:
    """The words of an ``#SBATCH`` line as sbatch's own parser reads them: shell-style quotes,
    and ``\\`` escaping the next character inside quotes too."""
    words: list[str] = []
    word: list[str] | None = None
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            word = (word or []) + [text[i + 1]]
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
            else:
                assert word is not None
                word.append(ch)
        elif ch in "'\"":
            quote = ch
            word = word or []
        elif ch in SBATCH_SPACE:
            if word is not None:
                words.append("".join(word))
                word = None
        elif ch == "#" and word is None:
            break  # a comment after the options
        else:
            word = (word or []) + [ch]
        i += 1
    if word is not None:
        words.append("".join(word))
    return words


def sbatch_directives(script: str) -> dict[str, str | None]:
    """The long options of a script's ``#SBATCH`` lines (the last one wins, as in sbatch).

    sbatch reads them up to the first line that is neither blank nor a comment."""
    options: dict[str, str | None] = {}
    for n, line in enumerate(script.split("\n")):
        stripped = line.strip()
        if n == 0 and stripped.startswith("#!"):
            continue
        if stripped and not stripped.startswith("#"):
            break
        if not stripped.startswith("#SBATCH"):
            continue
        words = sbatch_words(stripped[len("#SBATCH") :])
        i = 0
        while i < len(words):
            word = words[i]
            name: str | None = None
            value: str | None = None
            if word.startswith("--"):
                name, eq, rest = word[2:].partition("=")
                value = rest if eq else None
                if not eq and i + 1 < len(words) and not words[i + 1].startswith("-"):
                    value = words[i + 1]
                    i += 1
            elif word.startswith("-") and len(word) >= 2:
                name = SHORT_OPTIONS.get(word[1], word[1])
                value = word[2:] or None
                if value is None and i + 1 < len(words) and not words[i + 1].startswith("-"):
                    value = words[i + 1]
                    i += 1
            if name:
                options[name] = value
            i += 1
    return options


@dataclass
class ScriptInfo:
    """What submitting and tracking one sbatch script needs to know about it."""

    file: str
    job_name: str
    array: str | None
    indices: list[int] = field(default_factory=list)
    """The array indices ([] for a plain job)."""
    offset: int = 0
    """The sweep point of array index 0."""
    offset_known: bool = False
    """The script says its offset (``NEMORUN_POINT="$((N + …``)."""
    output: str = ""
    error: str | None = None
    chdir: str | None = None
    options: dict[str, str | None] = field(default_factory=dict)

    def point(self, index: int | None) -> int:
        return self.offset + (index or 0)

    @property
    def points(self) -> tuple[int, ...]:
        return tuple(self.point(i) for i in self.indices) if self.array else (self.offset,)


def read_script(file: str, text: str) -> ScriptInfo:
    options = sbatch_directives(text)
    array = options.get("array")
    indices = array_indices(array) if array else []
    m = OFFSET.search(text)
    default_log = "slurm-%A_%a.out" if array else "slurm-%j.out"
    return ScriptInfo(
        file=file,
        job_name=options.get("job-name") or file.rsplit("/", 1)[-1],
        array=array,
        indices=indices,
        offset=int(m.group(1)) if m else 0,
        offset_known=m is not None,
        output=options.get("output") or default_log,
        error=options.get("error"),
        chdir=options.get("chdir"),
        options=options,
    )


def fill_offsets(scripts: list[ScriptInfo]) -> None:
    """Offsets of split-array parts (``NAME.i.sbatch``) whose script does not say its own:
    each part starts after the points of the parts before it."""
    groups: dict[str, list[tuple[int, ScriptInfo]]] = {}
    for info in scripts:
        m = PART_NAME.fullmatch(info.file)
        if m and info.array and not info.offset_known:
            groups.setdefault(m.group(1), []).append((int(m.group(2)), info))
    for parts in groups.values():
        start = 0
        for _, info in sorted(parts, key=lambda p: p[0]):
            info.offset = start
            start += len(info.indices)


# --- Log file names ---------------------------------------------------------------------------

PATTERN = re.compile(r"%(\d*)([A-Za-z%])")


def resolve_log(
    pattern: str,
    *,
    job: str | None = None,
    index: int | None = None,
    raw_id: str | None = None,
    name: str | None = None,
    node: str | None = None,
    user: str | None = None,
    wildcard: bool = False,
) -> str:
    """Fill a Slurm file-name pattern: ``%A`` (array job id), ``%a`` (index), ``%j`` (the job's
    own id), ``%x`` (name), ``%N`` (first node), ``%u`` (user), ``%%``. What is not known stays
    as written, or becomes ``*`` with ``wildcard`` (for globbing). ``%j`` of an array element
    is its own id, known only once it started; for a plain job it is the job id."""
    user = user or _user()

    def fill(m: re.Match[str]) -> str:
        width, code = m.group(1), m.group(2)
        value: str | None
        if code == "%":
            return "%"
        if code == "A":
            value = job
        elif code == "a":
            value = str(index) if index is not None else None
        elif code == "j":
            value = raw_id if index is not None else (raw_id or job)
        elif code == "x":
            value = name
        elif code == "N":
            value = node
        elif code == "u":
            value = user
        elif code in "tn":
            value = "0"  # the batch script is task 0 on node 0 of its allocation
        elif code == "s":
            value = "batch"
        else:
            value = None
        if value is None:
            return "*" if wildcard else m.group(0)
        if width and value.isdigit():
            value = value.zfill(int(width))
        return value

    return PATTERN.sub(fill, pattern)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid
        return "%u"
