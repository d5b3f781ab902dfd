"""``launcher: {kind: torchrun}``: torchrun's command line, for any target.

torchrun starts ``nproc_per_node`` workers on each of ``nnodes`` nodes, which meet at a
rendezvous on the allocation's first node. Three facts are known only where the job runs, and
each target's shell names them differently, so a target describes them as `Macros` (NeMo-Run's
``ExecutorMacros`` idea) and `command` builds the rest::

    target    node_rank              head_node                         job_id
    slurm     "$SLURM_NODEID"        first of scontrol show hostnames  "$SLURM_JOB_ID"
              (read inside the srun step, so the command runs under ``bash -c``)
    local     0                      localhost                         nemorun-NAME-"$NEMORUN_POINT"
    docker    one node, as local
    skypilot  "$SKYPILOT_NODE_RANK"  first of "$SKYPILOT_NODE_IPS"     "$SKYPILOT_TASK_ID"

The job id must be the same on every node of one job and differ between jobs (and between the
points of a sweep running at once): it is never random, so a compile stays deterministic.

How the workers get the entry: see `command`. ``torchrun`` is looked up on the job's ``PATH``
(a ``setup:`` line can activate an environment). `Word`s (literal text, shell variables) become
one safely quoted shell word each by the ``q`` filter (`nemorun.compiler.render.shell_quote`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nemorun.schemas.options import LauncherOptions

VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[1-9]")
RDZV_BACKEND = "c10d"


@dataclass(frozen=True)
class Var:
    """A shell variable, expanded where the command runs: quoted as ``"$NAME"``.

    ``name`` is a variable name, or a positional parameter ``1``…``9`` (of a ``bash -c``).
    """

    name: str

    def __post_init__(self) -> None:
        if not VAR_NAME.fullmatch(self.name):
            raise ValueError(f"not a shell variable name: {self.name!r}")


@dataclass(frozen=True)
class Word:
    """One shell word made of literal text and variables: ``--rdzv-endpoint="$HEAD":29500``."""

    parts: tuple[str | Var, ...]

    @classmethod
    def of(cls, *parts: str | int | Var | Word) -> Word:
        """A word from pieces; numbers become their text, words are spliced in."""
        out: list[str | Var] = []
        for part in parts:
            if isinstance(part, Word):
                out.extend(part.parts)
            elif isinstance(part, Var):
                out.append(part)
            else:
                out.append(str(part))
        return cls(tuple(out))


@dataclass(frozen=True)
class Macros:
    """Where a target finds what torchrun needs; each a `Word` evaluated on the node.

    Attributes:
        node_rank: This node's rank, 0 to nnodes-1 (``"$SLURM_NODEID"``).
        head_node: Address of the first node, which hosts the rendezvous.
        job_id: The same on every node of one job, different for every job (``--rdzv-id``).
    """

    node_rank: Word
    head_node: Word
    job_id: Word


def command(
    launcher: LauncherOptions,
    nnodes: int,
    macros: Macros,
    program: Sequence[str | Var | Word],
) -> tuple[Word, ...]:
    """torchrun's words: ``nnodes`` nodes of ``launcher.nproc_per_node`` workers each, every
    worker running ``program`` (the interpreter and its arguments, or a script's words).

    **How the workers get the entry.** The artifact writes the entry to a file on each node
    (``NEMORUN_ENTRY`` names it), and the command is ``torchrun … --no-python PYTHON -u -c
    RUN_ENTRY "$NEMORUN_ENTRY"`` (`python_program`): each worker runs the job's own
    interpreter (the spec's ``python``, not whichever Python torchrun was installed into) on
    that file, exactly as a job without a launcher does. Script and command tasks run the same
    way: their words follow ``--no-python``.
    """
    return (
        Word.of("torchrun"),
        Word.of(f"--nnodes={nnodes}"),
        Word.of(f"--nproc-per-node={launcher.nproc_per_node}"),
        Word.of("--node-rank=", macros.node_rank),
        Word.of(f"--rdzv-backend={RDZV_BACKEND}"),
        Word.of("--rdzv-endpoint=", macros.head_node, f":{launcher.rdzv_port}"),
        Word.of("--rdzv-id=", macros.job_id),
        Word.of("--no-python"),
        *(Word.of(word) for word in program),
    )


RUN_ENTRY = (
    'import sys; path = sys.argv.pop(1); exec(compile(open(path, "rb").read(), path, "exec"))'
)
"""The ``python -c`` program that runs the entry file named by its first argument, in
``__main__`` as ``python -c SOURCE`` would: the current directory stays first on ``sys.path``
(``python FILE`` would put the file's own directory there instead, a temporary one), and a
traceback shows the file's lines. Only this short text is ever a command-line word, so the
entry's size has no limit."""


def python_program(
    python: str, entry: Var, unbuffered: bool = True, runner: str | Var = RUN_ENTRY
) -> tuple[Word, ...]:
    """The words that run the entry file named by shell variable ``entry``:
    ``PYTHON -u -c RUN_ENTRY "$ENTRY"`` (``-u`` as torchrun itself would add, so workers'
    output is not held back; a job without a launcher leaves it out). ``runner`` is a variable
    holding `RUN_ENTRY` where a nested ``bash -c`` reads it as an argument."""
    flags = (Word.of("-u"),) if unbuffered else ()
    return (Word.of(python), *flags, Word.of("-c"), Word.of(runner), Word.of(entry))
