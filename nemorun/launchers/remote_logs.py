"""A remote Slurm job's logs, read where they are written: on the cluster, over the shared
ssh connection. Nothing is copied back.

Reading prints every log file with its size first (one remote call for all of them); a name
with a part not known here (``%N`` before the job was seen on a node, ``%u``: the user ssh
logs in as) has ``*`` there and is matched on the cluster (``find -name``, the first match in
byte order, as `slurm_logs` does with local files). Following runs one ``tail -F`` on the
cluster and streams its lines until the job has ended (asked of the target's backing-off
status) and the output has been quiet for two looks; it names the files as they are known
(a ``*`` in a name is not matched there).
"""

from __future__ import annotations

import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import PurePath
from typing import TYPE_CHECKING

from nemorun.launchers.base import JobRef, RunHandle
from nemorun.launchers.slurm_logs import log_files
from nemorun.launchers.ssh import Transport

if TYPE_CHECKING:
    from nemorun.launchers.slurm import SlurmTarget

# For each file: its size in bytes on a line of its own (-1: none yet), then that many bytes
# (a log that grows meanwhile is cut at the size given, never read past it). Each
# argument is p:PATH, or g:DIR/NAME with NAME a find -name pattern (its first match is read).
CAT = (
    'for f in "$@"; do case $f in g:*) f=${f#g:}; '
    'f=$(find "${f%/*}" -maxdepth 1 -name "${f##*/}" 2>/dev/null | LC_ALL=C sort | head -n 1) ;; '
    "*) f=${f#p:} ;; esac; "
    'if [ -n "$f" ] && [ -f "$f" ]; then s=$(wc -c <"$f"); echo $s; head -c "$s" -- "$f"; '
    "else echo -1; fi; done"
)


WATCHED = 'tail "$@" & p=$!; cat >/dev/null; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; :'
"""``tail -F`` on the cluster for as long as its input is open: closing it (the follower is
done, or interrupted) ends the tail there too, instead of leaving it on the login node."""


def remote_logs(
    target: SlurmTarget,
    transport: Transport,
    run: RunHandle,
    ref: JobRef,
    only: set[int] | None,
    follow: bool,
) -> Iterator[str]:
    """The lines of ``ref``'s log files on the cluster (``follow``: as they are written)."""
    files = log_files(run, ref, only, user="")
    if follow:
        headers = {str(path): header for header, path, _ in files}
        yield from _relabel(_follow(target, transport, run, ref, list(headers)), headers)
        return
    result = transport.run(["sh", "-c", CAT, "sh", *(argument(path) for _, path, _ in files)])
    data = result.stdout.encode("utf-8", "surrogateescape")
    for header, _, optional in files:
        line, _, data = data.partition(b"\n")
        size = int(line or b"-1")
        text = data[: max(size, 0)].decode(errors="replace")
        data = data[max(size, 0) :]
        if not text and (optional or header is None):
            continue
        if header is not None:
            yield header
        yield from text.splitlines()


def argument(path: PurePath) -> str:
    """``CAT``'s argument for ``path``: a pattern where its name has ``*`` (the other
    characters find would read as pattern characters escaped), else the path itself."""
    if "*" not in path.name:
        return f"p:{path}"
    name = re.sub(r"([\\\[\]?])", r"\\\1", path.name)
    return f"g:{path.parent}/{name}"


def _follow(
    target: SlurmTarget, transport: Transport, run: RunHandle, ref: JobRef, paths: list[str]
) -> Iterator[str]:
    """``tail -F`` on the cluster (headers ``==> FILE <==`` when there are several files)."""
    tail = ["-F", "-n", "+1", *(["-q"] if len(paths) == 1 else []), "--", *paths]
    proc = transport.popen(["sh", "-c", WATCHED, "sh", *tail])
    lines: queue.Queue[bytes | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.put(raw)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    quiet, next_status, done = 0, 0.0, False
    try:
        while quiet < 2:
            try:
                raw = lines.get(timeout=max(target.poll_interval, 0.5))
            except queue.Empty:
                raw = b""
            if raw is None:
                break  # the connection ended
            if raw:
                quiet = 0
                text = raw.decode(errors="replace").rstrip("\n").removesuffix("\r")
                yield text
                continue
            now = time.monotonic()
            if now >= next_status:
                next_status = now + target.status_interval
                mine = [s for s in target.follow_status(run) if s.id.split("_")[0] == ref.id]
                done = bool(mine) and all(s.state.is_final() for s in mine)
            quiet = quiet + 1 if done else 0
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the remote tail ends with its input (`WATCHED`)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)


def _relabel(lines: Iterator[str], headers: dict[str, str | None]) -> Iterator[str]:
    """tail's ``==> FILE <==`` as the local ones (``==> 123_4 (point 4): FILE <==``, none for
    a plain job's output), each shown once a line of its file comes, without tail's blank."""
    pending: str | None = None
    blank = shown = False
    for line in lines:
        if line.startswith("==> ") and line.endswith(" <==") and line[4:-4] in headers:
            # A plain job's output file has no header until another file has spoken.
            pending, blank = headers[line[4:-4]] or (line if shown else None), False
            continue
        shown = True
        if line == "" and not blank:
            blank = True
            continue
        if pending is not None:
            yield pending
            pending = None
        if blank:
            yield ""
            blank = False
        yield line
