"""Writing files so that a reader never sees half of one: temp file in the same directory, fsync,
then rename over the target (atomic on POSIX).

Run records hold environment values and code, so they are private: `write_private` and
`private_dir` give directories 0700 and files 0600 (0700 when executable), never looser than
the umask allows, and refuse to write through a symlink inside the records' root (a link planted
there would send a record's bytes elsewhere)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

Text = str | bytes | Sequence[str]
"""What is written: text, bytes, or text in chunks (written one after another, never joined:
a large sweep's 60 MB stream is not copied, nor encoded whole)."""
_PIECE = 1 << 20


def write_output(path: Path, text: Text, mode: int | None = None) -> None:
    """`write_atomic` for a path the user named (``-o``): a path that cannot be written is
    the user's mistake, reported as a `SpecError` (exit 2), not an internal error. Without
    ``mode``, the file gets what a plain write would give it (`normal_mode`), not the 0600 of
    the temporary file it is renamed from."""
    from nemorun.errors import SpecError

    try:
        write_atomic(path, text, normal_mode() if mode is None else mode)
    except OSError as exc:
        raise SpecError(
            f"cannot write {path}: {exc.strerror or exc}",
            suggestion="give a file path in a directory you can write to",
        ) from None


def write_atomic(path: Path, text: Text, mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` atomically; parent directories are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in _pieces(text):
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def normal_mode(executable: bool = False) -> int:
    """The mode a plain file write gives: 0666 (0777 when executable) less the umask."""
    return (0o777 if executable else 0o666) & ~_umask()


def _umask() -> int:
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def private_dir(path: Path, root: Path | None = None) -> Path:
    """Create ``path`` and its missing parents 0700; refuse a symlink below ``root``."""
    missing = []
    here = path
    while not here.exists() and not here.is_symlink():
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        directory.mkdir(mode=PRIVATE_DIR)
    _no_links(path, root)
    return path


def _pieces(text: Text) -> Iterator[bytes]:
    """``text`` encoded (UTF-8) a megabyte of characters at a time."""
    if isinstance(text, bytes):
        yield text
        return
    for chunk in (text,) if isinstance(text, str) else text:
        for start in range(0, len(chunk), _PIECE):
            yield chunk[start : start + _PIECE].encode("utf-8")


def write_private(path: Path, text: Text, root: Path, executable: bool = False) -> None:
    """`write_atomic` into a record: parents 0700, the file 0600 (0700 if ``executable``)."""
    private_dir(path.parent, root)
    mode = (PRIVATE_DIR if executable else PRIVATE_FILE) & ~_umask()
    write_atomic(path, text, mode)


def open_private(path: Path, append: bool = True) -> BinaryIO:
    """``path`` opened for writing (appending), created 0600; a symlink there is refused."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    return open(os.open(path, flags, PRIVATE_FILE), "ab" if append else "wb")


def _no_links(path: Path, root: Path | None) -> None:
    if root is None:
        return
    here = path
    while here != root and here != here.parent:
        if here.is_symlink():
            raise OSError(f"refusing to write through the symbolic link {here}")
        here = here.parent
