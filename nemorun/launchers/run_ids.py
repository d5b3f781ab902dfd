"""Where the runs are and what a run's id says, with nothing else imported: shell completion
lists runs on every TAB, and reading `nemorun.launchers.records` (hashing, temp files) would
cost it more than the listing. `nemorun.launchers.records` describes the layout."""

from __future__ import annotations

import os
from pathlib import Path

RUNS_SUBDIR = "nemorun-runs"
"""The runs' directory under ``NEMORUN_HOME`` (NeMo-Run keeps its own beside it)."""


def runs_root() -> Path:
    """The directory that holds one directory per run (see `nemorun.launchers.records`)."""
    home = os.environ.get("NEMORUN_HOME")
    if home:
        return Path(home).expanduser().absolute() / RUNS_SUBDIR
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser().absolute() / "nemorun" / "runs"


def id_parts(run_id: str) -> tuple[str, str | None]:
    """``20261121-101500-<slug>-<6 hex>`` → (``20261121-101500``, slug); a directory named
    otherwise is its own time and has no slug."""
    # Slicing, not a regular expression: this runs on every directory of every `ls`.
    if len(run_id) > 23 and run_id[8] == run_id[15] == run_id[-7] == "-":
        return run_id[:15], run_id[16:-7]
    return run_id, None
