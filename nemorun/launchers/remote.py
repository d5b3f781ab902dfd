"""A run on a remote cluster: where its files live there, and getting them there.

Layout under the profile's ``remote_dir``: ``runs/RUN_ID/`` (the artifacts, exactly the bytes
compiled and recorded locally, and the jobs' logs) and ``code/HASH/`` (a ``packager: git``
snapshot, named by the hash of its content: an unchanged tree is found there and not sent
again). The record stays local; its ``cluster`` names the profile, and its jobs' paths are
the remote ones (never moved with the local directory).

Shipping is one ``tar | ssh`` per tree: the remote side checks the archive's SHA-256 before
unpacking it, unpacks into a temporary directory and renames it into place, so a tree that is
there is whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from nemorun.compiler.job import RunContext
from nemorun.compiler.machine import UNKNOWN_MACHINE, Machine, this_machine
from nemorun.launchers.base import LaunchError, RunHandle
from nemorun.launchers.ssh import Transport
from nemorun.schemas.clusters import Cluster

if TYPE_CHECKING:
    from nemorun.schemas.spec import Spec

SHIP_TIMEOUT = 600.0
"""Seconds one tree may take to reach the cluster."""
COMPLETE = ".nemorun-complete"

# Receives a tar on stdin into DIR: checks its SHA-256, unpacks beside DIR, renames into place
# (and first makes the directories given after DIR and SUM).
RECEIVE = r"""set -eu
umask 077
dir=$1 sum=$2
shift 2
for d in "$@"; do mkdir -p -m 700 -- "$d"; done
if [ -e "$dir/.nemorun-complete" ]; then cat >/dev/null; echo have; exit 0; fi
mkdir -p -- "$(dirname -- "$dir")"
tmp=$(mktemp -d -- "$dir.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
cat >"$tmp/.ship.tar"
got=$(sha256sum <"$tmp/.ship.tar" | cut -d' ' -f1)
if [ "$got" != "$sum" ]; then echo "checksum mismatch: sent $sum, received $got" >&2; exit 3; fi
tar -xf "$tmp/.ship.tar" -C "$tmp"
rm -f -- "$tmp/.ship.tar"
touch -- "$tmp/.nemorun-complete"
chmod 700 -- "$tmp"
if ! mv -T -- "$tmp" "$dir" 2>/dev/null; then [ -e "$dir/.nemorun-complete" ] || exit 4; fi
trap - EXIT
echo sent
"""
HAVE = 'for d in "$@"; do if [ -e "$d/.nemorun-complete" ]; then echo "$d"; fi; done'
MISSING = 'for d in "$@"; do [ -d "$d" ] || printf "%s\\n" "$d"; done'


def transport_of(run: RunHandle) -> Transport | None:
    """The transport to the cluster ``run`` went to; None for a run on this machine."""
    return transport_of_cluster(run.cluster)


def transport_of_cluster(cluster: dict[str, Any] | None) -> Transport | None:
    """The transport to a record's ``cluster``; None (this machine) for None."""
    return None if cluster is None else Transport(Cluster.from_json(cluster))


def run_dir_on(cluster: Cluster, run_id: str) -> PurePosixPath:
    return PurePosixPath(cluster.remote_dir, "runs", run_id)


def remote_dir(run: RunHandle) -> str | None:
    """Where ``run``'s directory is on its cluster; None for a run on this machine."""
    if run.cluster is None:
        return None
    return str(run_dir_on(Cluster.from_json(run.cluster), run.id))


def tree_archive(tree: Path) -> tuple[bytes, str]:
    """A tar of ``tree`` that depends on its content only (names, bytes, executable bits;
    sorted, no times or owners), and its SHA-256."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(tree.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=path.relative_to(tree).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            info.mode = 0o755 if info.isdir() or info.mode & 0o100 else 0o644
            if info.isfile():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    data = buffer.getvalue()
    return data, hashlib.sha256(data).hexdigest()


def code_dir_on(cluster: Cluster, digest: str) -> PurePosixPath:
    return PurePosixPath(cluster.remote_dir, "code", digest[:32])


def ship(
    transport: Transport,
    tree: Path,
    dest: str,
    archive: tuple[bytes, str] | None = None,
    make: Sequence[str] = (),
) -> str:
    """``tree`` (its `tree_archive`) into ``dest`` on the cluster unless a whole copy is
    there: ``sent`` or ``have``. `LaunchError` with the remote side's message when it fails."""
    data, digest = archive or tree_archive(tree)
    result = transport.run(
        ["sh", "-c", RECEIVE, "sh", dest, digest, *make], data=data, timeout=SHIP_TIMEOUT
    )
    if result.returncode != 0:
        said = result.stderr.strip() or f"exit code {result.returncode}"
        raise LaunchError(f"cannot copy {tree} to {transport.cluster.name}:{dest}: {said}")
    return result.stdout.strip()


def ship_code(transport: Transport, tree: Path) -> tuple[str, str]:
    """The packaged ``tree`` on the cluster, deduplicated by content: (its remote directory,
    ``sent`` or ``have``)."""
    archive = tree_archive(tree)
    dest = str(code_dir_on(transport.cluster, archive[1]))
    return dest, ship(transport, tree, dest, archive)


def missing_paths(transport: Transport, paths: list[str]) -> list[str]:
    """Those of ``paths`` that are not directories on the cluster (one remote call)."""
    if not paths:
        return []
    result = transport.run(["sh", "-c", MISSING, "sh", *paths])
    if result.returncode != 0:
        raise LaunchError(f"cannot check paths on {transport.cluster.name}: {result.stderr}")
    return [line for line in result.stdout.splitlines() if line]


def check_in_place(transport: Transport, spec: Spec) -> None:
    """``packager: none`` on a cluster: the code runs where the spec says, so those
    directories (``pythonpath``, ``workdir``) must exist there; `LaunchError` naming them."""
    wanted = [str(p) for p in spec.pythonpath]
    if spec.executor.workdir:
        wanted.append(spec.executor.workdir)
    missing = missing_paths(transport, wanted)
    if missing:
        raise LaunchError(
            f"packager none runs the code in place, but cluster {transport.cluster.name} has no "
            f"{', '.join(missing)}; use packager: git to ship the code, or put it there"
        )


def cluster_json(spec: Spec) -> dict[str, Any] | None:
    """What a run record keeps of the cluster ``spec``'s executor names (Slurm's
    ``cluster``): `Cluster.to_json` of its profile; None for this machine."""
    from nemorun.schemas.clusters import find_cluster

    name = getattr(spec.executor, "cluster", None)
    return None if name is None else find_cluster(name).to_json()


@dataclass(frozen=True)
class CompileInputs:
    """What compile is told about where a run's jobs run (`compile_inputs`)."""

    run: RunContext
    pythonpath: list[Path] | None
    host_python: str | None
    machine: Machine


def compile_inputs(spec: Spec, path: Path, run: RunHandle) -> CompileInputs:
    """What compile is given about where ``run`` runs: on this machine, its directory, this
    Python and this machine's sbatch; on a cluster, the remote directory, the cluster's
    ``python3`` (or the profile's ``python`` default), nemorun's built-in sbatch options, and
    the code shipped there first (``packager: git``) or checked there (``none``)."""
    from nemorun.launchers.packaging import package_for_run, relocate_all

    transport = transport_of(run)
    if transport is None:
        return CompileInputs(
            RunContext(run.id, run.dir, Path.cwd()),
            package_for_run(spec, path, run.dir),
            sys.executable,  # jobs on this machine's files run nemorun's Python
            this_machine(),
        )
    where = Path(str(run_dir_on(transport.cluster, run.id)))
    pythonpath = None
    if spec.packager == "git":
        package_for_run(spec, path, run.dir)
        code, _ = ship_code(transport, run.dir / "code" / "tree")
        pythonpath = relocate_all(spec, run.dir, Path(code))
    else:
        check_in_place(transport, spec)
    return CompileInputs(RunContext(run.id, where, where), pythonpath, None, UNKNOWN_MACHINE)


def send_artifacts(run: RunHandle) -> None:
    """The run's compiled artifacts, as recorded, to its directory on the cluster (if any)."""
    transport = transport_of(run)
    if transport is not None:
        base = remote_dir(run)
        ship(transport, run.artifacts_dir, f"{base}/artifacts", make=[f"{base}/logs"])


def where(run: RunHandle) -> Path:
    """The run's directory where its jobs see it: on its cluster, else here."""
    found = remote_dir(run)
    return Path(found) if found is not None else Path(run.dir)


def by_cluster(runs: Sequence[RunHandle]) -> list[list[int]]:
    """The indices of ``runs``, grouped by the cluster each went to (this machine's first)."""
    groups: dict[str, list[int]] = {}
    for n, run in enumerate(runs):
        key = "" if run.cluster is None else json.dumps(run.cluster, sort_keys=True)
        groups.setdefault(key, []).append(n)
    return list(groups.values())


def forget(run: RunHandle) -> None:
    """Remove ``run``'s directory on its cluster (a check's: no run was made); best effort."""
    transport, found = transport_of(run), remote_dir(run)
    if transport is not None and found is not None:
        with contextlib.suppress(LaunchError):
            transport.run(["rm", "-rf", "--", found])
