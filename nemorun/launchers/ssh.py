"""The one adapter to OpenSSH: every command nemorun runs on a remote cluster goes through
`Transport`, which runs the system ``ssh`` (so ``~/.ssh/config``, ssh-agent and jump hosts apply).

- **One connection.** ``ControlMaster=auto`` with ``ControlPersist``: the first call (or
  ``nemorun cluster login``) authenticates once, and every later call, from any nemorun process,
  reuses it through a socket in a private (0700) directory, `control_dir`.
- **Host keys.** Never accepted silently: ssh's own ``StrictHostKeyChecking`` applies; a key
  that changed or is unknown is ssh's error, shown as it is.
- **Quoting.** The remote shell reads one string: every command is ``shlex.join`` of its argv
  (and ``cd -- DIR &&`` before it), so no value is ever pasted into shell text.
- **Time.** ``ConnectTimeout`` bounds connecting; a subprocess timeout bounds the whole call.
  Calls that may not prompt use ``BatchMode=yes``: without an open connection and a usable key,
  they fail at once with ssh's message instead of waiting on a password nobody will type.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nemorun.launchers.base import LaunchError
from nemorun.schemas.clusters import Cluster

CONNECT_TIMEOUT = 10
"""Seconds ssh may take to connect (``ConnectTimeout``)."""
CALL_TIMEOUT = 60.0
"""Seconds one remote command may take in all."""
PERSIST = "30m"
"""How long an idle shared connection stays open (``ControlPersist``)."""
SSH_FAILED = 255
"""ssh's own exit code: it could not connect, or the connection broke."""


def control_dir() -> Path:
    """The private directory of the shared connections' sockets: ``$NEMORUN_SSH_DIR``, else
    ``$XDG_RUNTIME_DIR/nemorun-ssh``, else ``~/.ssh/nemorun`` (created 0700; a directory
    others may write to is refused: a socket planted there would receive our commands)."""
    chosen = os.environ.get("NEMORUN_SSH_DIR")
    if not chosen:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        chosen = f"{runtime}/nemorun-ssh" if runtime else str(Path.home() / ".ssh" / "nemorun")
    path = Path(chosen)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise LaunchError(f"{path} must be a directory only you can use (chmod 700 {path})")
    return path


@dataclass(frozen=True)
class Transport:
    """Commands on one cluster's login node, over one shared ssh connection."""

    cluster: Cluster

    def ssh_argv(self, *, batch: bool = True) -> list[str]:
        """``ssh`` and its options up to (and including) the destination."""
        c = self.cluster
        argv = ["ssh"]
        if c.ssh_config:
            argv += ["-F", c.ssh_config]
        argv += [
            "-o", "ControlMaster=auto",
            "-o", f"ControlPath={control_dir()}/{c.name[:12]}-%C",
            "-o", f"ControlPersist={PERSIST}",
            "-o", f"ConnectTimeout={CONNECT_TIMEOUT}",
            "-o", "ServerAliveInterval=15",
        ]  # fmt: skip
        if batch:
            argv += ["-o", "BatchMode=yes"]
        if c.port is not None:
            argv += ["-p", str(c.port)]
        if c.user is not None:
            argv += ["-l", c.user]
        return [*argv, "--", c.host]

    def command(self, argv: list[str], cwd: str | None = None) -> list[str]:
        """The local argv that runs ``argv`` remotely (in ``cwd``), quoted for its shell."""
        remote = shlex.join(argv)
        if cwd is not None:
            remote = f"{shlex.join(['cd', '--', cwd])} && {remote}"
        return [*self.ssh_argv(), remote]

    def run(
        self,
        argv: list[str],
        cwd: str | None = None,
        timeout: float = CALL_TIMEOUT,
        data: bytes | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """``argv``'s result on the cluster (``data`` on its stdin). The remote command's own
        failure is its exit code; `LaunchError`, with ssh's message, when ssh could not
        connect or the call did not end within ``timeout``."""
        local = self.command(argv, cwd)
        try:
            proc = subprocess.run(
                local,
                input=data if data is not None else b"",
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise LaunchError(
                f"cluster {self.cluster.name} ({self.cluster.host}) did not answer "
                f"{argv[0]} within {timeout:g} s"
            ) from None
        except OSError as error:
            raise LaunchError(f"cannot run ssh: {error.strerror or error}") from None
        out = proc.stdout.decode("utf-8", "surrogateescape")
        err = proc.stderr.decode("utf-8", "replace")
        if proc.returncode == SSH_FAILED:
            raise self.unreachable(err)
        return subprocess.CompletedProcess(local, proc.returncode, out, err)

    def popen(self, argv: list[str]) -> subprocess.Popen[bytes]:
        """``argv`` started remotely, its output to read as it comes (``tail -F``), its input
        a pipe: the caller ends it by closing that pipe (sshd does not signal a command without
        a terminal when the client goes, so the command must watch its input: `WATCHED`)."""
        return subprocess.Popen(
            self.command(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def unreachable(self, stderr: str) -> LaunchError:
        """The error for a connection ssh could not make, with ssh's own words."""
        # The last lines say what went wrong (a changed host key's banner comes first).
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and ln[0] != "@"]
        said = "; ".join(lines[-3:]) or "ssh failed"
        return LaunchError(
            f"cannot reach cluster {self.cluster.name} ({self.cluster.host}): {said}; "
            f"nothing changed locally (try: nemorun cluster login {self.cluster.name})"
        )

    def login(self, stdin: IO[str] | None = None, timeout: float = 300.0) -> None:
        """Open the shared connection in the background, prompting on the terminal if ssh
        must (password, MFA, an unknown host key to confirm)."""
        argv = [*self.ssh_argv(batch=False)[:-2], "-f", "-N", "--", self.cluster.host]
        try:
            proc = subprocess.run(argv, stdin=stdin, stderr=subprocess.PIPE, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise self.unreachable(f"no connection within {timeout:g} s") from None
        if proc.returncode != 0:
            raise self.unreachable(proc.stderr.decode("utf-8", "replace"))

    def control(self, operation: str) -> tuple[bool, str]:
        """``ssh -O check|exit``: (True, ssh's words) when the shared connection answered."""
        argv = [*self.ssh_argv()[:-2], "-O", operation, "--", self.cluster.host]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=CONNECT_TIMEOUT)
        except subprocess.TimeoutExpired:
            return False, "no answer"
        return proc.returncode == 0, (proc.stderr or proc.stdout).strip()
