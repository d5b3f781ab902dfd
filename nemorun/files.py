"""Writing files so that a reader never sees half of one: temp file in the same directory, fsync,
then rename over the target (atomic on POSIX)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_output(path: Path, text: str | bytes, mode: int | None = None) -> None:
    """`write_atomic` for a path the user named (``-o``): a path that cannot be written is
    the user's mistake, reported as a `SpecError` (exit 2), not an internal error."""
    from nemorun.errors import SpecError

    try:
        write_atomic(path, text, mode)
    except OSError as exc:
        raise SpecError(
            f"cannot write {path}: {exc.strerror or exc}",
            suggestion="give a file path in a directory you can write to",
        ) from None


def write_atomic(path: Path, text: str | bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` atomically; parent directories are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
