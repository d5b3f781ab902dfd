"""Completion as the user sees it: an interactive bash or zsh in a pseudo-terminal, the script
loaded, a line typed with a TAB, and the line the shell makes of it (quoting inserted by the
shell itself, a space or not). zsh is skipped when not installed."""

from __future__ import annotations

import os
import pty
import select
import shutil
import time
from pathlib import Path

import pytest

from nemorun.cli.completion import script
from tests.test_cli_completion import shell_env

SETUP = {
    "bash": ["bash", "--norc", "--noprofile", "-i"],
    "zsh": ["zsh", "-f", "-i"],
}
LOAD = {
    "bash": "source ./completion.bash\n",
    "zsh": "autoload -U compinit; compinit -u -D; source ./completion.zsh\n",
}
ROWS = [
    ("nemorun validate my\t", "nemorun validate my\\ spec.yaml "),
    ("nemorun validate it\t", "nemorun validate it\\'s.yaml "),
    ("nemorun validate \\$\t", "nemorun validate \\$HOME.toml "),
    ("nemorun run 'my spec.yaml' de\t", "nemorun run 'my spec.yaml' depth"),  # then =
    ("nemorun run 'my spec.yaml' opt\t", "nemorun run 'my spec.yaml' optim."),
    ("nemorun sta\t", "nemorun status "),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    spec = "nemorun: 1\ntask:\n  depth: 3\n  optim:\n    lr: 1\n"
    (tmp_path / "my spec.yaml").write_text(spec, encoding="utf-8")
    (tmp_path / "it's.yaml").write_text("", encoding="utf-8")
    (tmp_path / "$HOME.toml").write_text("", encoding="utf-8")
    (tmp_path / "cache").mkdir()
    return tmp_path


@pytest.mark.parametrize("shell", SETUP)
@pytest.mark.parametrize(("typed", "line"), ROWS)
def test_tab_makes_the_line(folder: Path, shell: str, typed: str, line: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (tests/run.sh installs it as root)")
    (folder / f"completion.{shell}").write_text(script(shell), encoding="utf-8")
    env = {**shell_env(), "PS1": "$ ", "PROMPT": "$ ", "TERM": "dumb"}
    env["XDG_CACHE_HOME"] = str(folder / "cache")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the shell, in the folder
        os.chdir(folder)
        os.execvpe(SETUP[shell][0], SETUP[shell], env)
    try:
        os.write(fd, (LOAD[shell] + "echo loaded-$((6*7))\n").encode())
        _read_until(fd, b"loaded-42")
        os.write(fd, typed.encode())
        _read_until(fd, line.encode())
    finally:
        os.write(fd, b"\x15exit\n")
        os.close(fd)
        os.waitpid(pid, 0)


def _read_until(fd: int, wanted: bytes, limit: float = 60) -> bytes:
    """What the terminal shows until ``wanted`` appears (a bound on waiting, not a timing)."""
    seen = b""
    deadline = time.monotonic() + limit
    while wanted not in seen:
        assert time.monotonic() < deadline, f"{wanted!r} never appeared; the terminal: {seen!r}"
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    assert wanted in seen, seen
    return seen
