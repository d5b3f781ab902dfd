"""What the Slurm target asks about jobs: slurmctld first (``squeue``, else ``scontrol``),
then ``sacct`` about the jobs slurmctld no longer knows; at most two commands for any number
of runs, whatever the number of jobs (one ``scontrol`` per job only when squeue fails).

On a remote cluster (inside `on_cluster`) each command would be one ssh round trip, so the
two become ONE: `REMOTE_PROGRAM`, a fixed ``sh`` program whose arguments are the format, the
fields and the ids (argv, quoted by `Transport`; nothing is pasted into its text), runs squeue,
then sacct about the ids squeue's output does not name, and prints each tool's exit status,
stdout and stderr as length-prefixed frames (`unframe`: no output can be mistaken for a
header). `query`'s own logic then reads those answers instead of calling again (`Replay`), so
its results and error messages are the same as on this machine; a command the program did not
answer (squeue failed otherwise: the scontrol fallback) is still asked, over ssh.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from nemorun.launchers.slurm_commands import current_cluster
from nemorun.launchers.slurm_preflight import Runner
from nemorun.launchers.slurm_states import (
    SACCT_FIELDS,
    SQUEUE_FORMAT,
    Seen,
    command_message,
    parse_sacct,
    parse_scontrol,
    parse_squeue,
)

ACCOUNTING_OFF = "accounting storage is disabled"
INVALID_ID = "Invalid job id"


def query(run: Runner, ids: Sequence[str]) -> tuple[dict[str, Seen], list[str]]:
    """What slurmctld (squeue, else scontrol) says about ``ids``' elements, then ``sacct``
    about the jobs it no longer knows (at most two commands for any number of runs);
    slurmctld wins. Also the tools' failures, as messages."""
    if ids and current_cluster() is not None:
        run = Replay(run, ask_remote(run, ids))
    seen: dict[str, Seen] = {}
    problems: list[str] = []
    records, trouble = controller(run, ids)
    if trouble:
        problems.append(trouble)
    known = {s.job for s in records}
    gone = [i for i in ids if i not in known]
    if gone:
        acct = run(sacct_argv(gone))
        if acct.returncode == 0:
            seen.update((s.id, s) for s in parse_sacct(acct.stdout))
        elif ACCOUNTING_OFF not in command_message(acct):
            problems.append(f"sacct: {command_message(acct)}")
    seen.update((s.id, s) for s in records)
    return seen, problems


def controller(run: Runner, ids: Sequence[str]) -> tuple[list[Seen], str | None]:
    """slurmctld's records of ``ids``: squeue, else scontrol (one job at a time)."""
    result = squeue(run, ids)
    if result.returncode == 0:
        return parse_squeue(result.stdout), None
    if INVALID_ID in command_message(result):
        return [], None  # none of them is known any more
    out: list[Seen] = []
    for job in ids:
        one = scontrol(run, job)
        if one.returncode == 0:
            out.extend(parse_scontrol(one.stdout))
        elif INVALID_ID not in command_message(one):
            return out, f"squeue: {command_message(result)}; scontrol: {command_message(one)}"
    return out, None


def squeue(run: Runner, ids: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return run(squeue_argv(ids))


def squeue_argv(ids: Sequence[str]) -> list[str]:
    return ["squeue", "-h", "-r", "-t", "all", "-j", ",".join(ids), "-O", SQUEUE_FORMAT]


def sacct_argv(ids: Sequence[str]) -> list[str]:
    return ["sacct", "--parsable2", "-n", "-X", "-j", ",".join(ids), "-o", SACCT_FIELDS]


def scontrol(run: Runner, job: str) -> subprocess.CompletedProcess[str]:
    return run(["scontrol", "show", "job", "-o", job])


# --- One round trip on a remote cluster ----------------------------------------------------------

Answer = subprocess.CompletedProcess[str]
"""One tool's exit status, stdout and stderr."""

FRAME = "nemorun-frame:"
"""The first word of a frame's header line: ``nemorun-frame: TOOL STATUS OUT ERR``."""
REMOTE_PROGRAM = "; ".join(
    [
        "q=$1 a=$2",
        "shift 2",
        "d=$(mktemp -d) || exit 125",
        "trap 'rm -rf \"$d\"' EXIT",
        "frame() { printf '%s %s %s %s %s\\n' " + FRAME + ' "$1" "$2"'
        ' $(wc -c <"$d/o") $(wc -c <"$d/e"); cat "$d/o" "$d/e"; }',
        "IFS=,",
        'ids="$*"',
        "unset IFS",
        'squeue -h -r -t all -j "$ids" -O "$q" >"$d/o" 2>"$d/e"',
        "s=$?",
        "frame squeue $s",
        '[ $s -eq 0 ] || grep -q \'Invalid job id\' "$d/e" "$d/o" || exit 0',
        '[ $s -eq 0 ] || : >"$d/o"',
        'printf \'%s\\n\' "$@" >"$d/i"',
        "gone=$(awk -F'|' 'FILENAME==ARGV[1] "
        '{ j=$1; gsub(/ /,"",j); sub(/_.*/,"",j); k[j]=1; next }'
        ' ($0 in k) { next } { printf "%s%s", c, $0; c="," }\' "$d/o" "$d/i")',
        '[ -n "$gone" ] || exit 0',
        'sacct --parsable2 -n -X -j "$gone" -o "$a" >"$d/o" 2>"$d/e"',
        "frame sacct $?",
    ]
)
"""squeue, then sacct about the ids squeue did not name: ``sh -c REMOTE_PROGRAM sh FORMAT
FIELDS ID...``. After a squeue failure other than "Invalid job id" it stops (the caller's
scontrol fallback takes over)."""


def ask_remote(run: Runner, ids: Sequence[str]) -> dict[tuple[str, ...], Answer]:
    """The answers `REMOTE_PROGRAM` brought back in one call, by the argv they answer."""
    result = run(["sh", "-c", REMOTE_PROGRAM, "sh", SQUEUE_FORMAT, SACCT_FIELDS, *ids])
    answers: dict[tuple[str, ...], Answer] = {}
    frames = unframe(result.stdout)
    if frames is None:
        return answers  # not our program's output: every command is asked on its own
    for tool, answer in frames:
        if tool == "squeue":
            answers[tuple(squeue_argv(ids))] = answer
        else:
            first = frames[0][1]
            known = {s.job for s in parse_squeue(first.stdout)} if first.returncode == 0 else set()
            answers[tuple(sacct_argv([i for i in ids if i not in known]))] = answer
    return answers


def unframe(text: str) -> list[tuple[str, Answer]] | None:
    """``REMOTE_PROGRAM``'s frames, in order; None when ``text`` is not made of them."""
    data = text.encode("utf-8", "surrogateescape")
    out: list[tuple[str, Answer]] = []
    at = 0
    while at < len(data):
        end = data.find(b"\n", at)
        head = data[at:end].decode("utf-8", "replace").split(" ")
        if end < 0 or len(head) != 5 or head[0] != FRAME or not all(h.isdigit() for h in head[2:]):
            return None
        tool, (status, n_out, n_err) = head[1], map(int, head[2:])
        body = data[end + 1 :]
        if len(body) < n_out + n_err:
            return None
        stdout = body[:n_out].decode("utf-8", "surrogateescape")
        stderr = body[n_out : n_out + n_err].decode("utf-8", "replace")
        out.append((tool, subprocess.CompletedProcess([tool], status, stdout, stderr)))
        at = end + 1 + n_out + n_err
    return out or None


@dataclass(frozen=True)
class Replay:
    """A `Runner` that answers from ``answers`` (argv → result) and asks ``run`` otherwise."""

    run: Runner
    answers: dict[tuple[str, ...], Answer]

    def __call__(self, argv: list[str]) -> Answer:
        known = self.answers.get(tuple(argv))
        return known if known is not None else self.run(argv)
