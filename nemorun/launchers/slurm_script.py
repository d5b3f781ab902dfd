"""What the Slurm target reads in a compiled sbatch script, without running anything: its
``#SBATCH`` directives as sbatch parses them, its array and sweep offset (`ScriptInfo`), and its
log-file patterns filled in with what the tools said (`resolve_log`).

Everything here is a pure function of text, so it is tested without a cluster.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass, field

from nemorun.launchers.slurm_packing import read_packing
from nemorun.launchers.slurm_states import array_indices

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
    per_job: int = 0
    """Points each element runs (a packed sweep: `nemorun.launchers.slurm_packing`), else 0."""
    last: int = 0
    """A packed script's last point."""
    pack_logs: str = ""
    """A packed script's per-point files' prefix."""

    def point(self, index: int | None) -> int:
        return self.offset + (index or 0)

    @property
    def points(self) -> tuple[int, ...]:
        if self.per_job:
            return tuple(range(self.offset, self.last + 1))
        return tuple(self.point(i) for i in self.indices) if self.array else (self.offset,)


def read_script(file: str, text: str) -> ScriptInfo:
    options = sbatch_directives(text)
    array = options.get("array")
    indices = array_indices(array) if array else []
    m = OFFSET.search(text)
    default_log = "slurm-%A_%a.out" if array else "slurm-%j.out"
    packed = read_packing(text)
    per_job, first, last, pack_logs = packed or (0, 0, 0, "")
    return ScriptInfo(
        file=file,
        job_name=options.get("job-name") or file.rsplit("/", 1)[-1],
        array=array,
        indices=indices,
        offset=first if packed else int(m.group(1)) if m else 0,
        offset_known=m is not None or packed is not None,
        output=options.get("output") or default_log,
        error=options.get("error"),
        chdir=options.get("chdir"),
        options=options,
        per_job=per_job,
        last=last,
        pack_logs=pack_logs,
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
    is its own id, known only once it started; for a plain job it is the job id. ``user``
    defaults to this machine's; ``""`` is not known (a remote cluster's)."""
    user = _user() if user is None else user

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
            value = user or None
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
