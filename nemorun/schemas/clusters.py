"""Cluster profiles: ``$XDG_CONFIG_HOME/nemorun/clusters.yaml`` names the remote Slurm clusters a
spec may submit to (``executor: {target: slurm, cluster: NAME}`` or ``--cluster NAME``).

The file is input like the spec (read by load, never written): the same loader, the same
located errors. A profile's ``defaults`` are executor options for that cluster; `apply_cluster`
puts them under the spec's ``executor`` where the spec does not set them, with their origin in
the profile file, so a mistake in a default is reported at its line there. The spec itself stays
the same whichever cluster it goes to. Nothing here touches the network.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from nemorun.errors import Collector, KeyPath, Origin, SpecError, SpecErrors, did_you_mean
from nemorun.schemas.document import Document

FILE_NAME = "clusters.yaml"
KEYS = ("host", "user", "port", "remote_dir", "ssh_config", "defaults")
REQUIRED = ("host", "remote_dir")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# A host or user that ssh would read as an option (``-oProxyCommand=…``) is refused.
SAFE_WORD = re.compile(r"[A-Za-z0-9_.@%:\[\]][A-Za-z0-9_.@%:\[\]-]*")


@dataclass(frozen=True)
class Cluster:
    """One remote cluster: where its login node is, and where nemorun keeps files there."""

    name: str
    host: str
    """A host name, address, or a Host alias of the ssh configuration."""
    remote_dir: str
    """Absolute path on the cluster: code, artifacts and logs of runs live under it."""
    user: str | None = None
    port: int | None = None
    ssh_config: str | None = None
    """An ssh configuration file (``ssh -F``), relative to the profile file; None: ssh's own."""
    defaults: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Origin] = field(default_factory=dict, compare=False, repr=False)
    """Where each default was written in the profile file (for located errors)."""

    def to_json(self) -> dict[str, Any]:
        """What a run record keeps of the cluster it went to (its defaults are in the spec)."""
        data = {"name": self.name, "host": self.host, "remote_dir": self.remote_dir}
        for key in ("user", "port", "ssh_config"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cluster:
        keys = ("name", "host", "remote_dir", "user", "port", "ssh_config")
        return cls(**{k: data[k] for k in keys if k in data})


def clusters_file() -> Path:
    """``$XDG_CONFIG_HOME/nemorun/clusters.yaml`` (``~/.config`` without XDG_CONFIG_HOME)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "nemorun" / FILE_NAME


def load_clusters(path: Path | None = None) -> dict[str, Cluster]:
    """Every profile of ``path`` (default `clusters_file`); none when the file does not exist.
    `SpecErrors` with every mistake, located, otherwise."""
    from nemorun.schemas.source import load_document

    path = path or clusters_file()
    if not path.exists():
        return {}
    document = load_document(path)
    errors = Collector()
    tree = document.tree
    if tree is None:
        return {}
    if not isinstance(tree, dict) or not isinstance(tree.get("clusters", {}), dict):
        where = ("clusters",) if isinstance(tree, dict) else ()
        errors.add(_error(document, where, "wrong type", "clusters: {NAME: {host, remote_dir}}"))
        errors.raise_if_any()
    for key in tree:
        if key != "clusters":
            errors.add(_error(document, (key,), "unknown key", "only 'clusters' at the top"))
    found = {}
    for name, raw in (tree.get("clusters") or {}).items():
        cluster = _cluster(document, str(name), raw, errors)
        if cluster is not None:
            found[cluster.name] = cluster
    errors.raise_if_any()
    return found


def find_cluster(name: str, path: Path | None = None, origin: Origin | None = None) -> Cluster:
    """The profile ``name``; a `SpecError` at ``origin`` (the spec's ``cluster`` key) naming the
    file and the profiles it has when there is none."""
    path = path or clusters_file()
    known = load_clusters(path)
    if name in known:
        return known[name]
    hint = did_you_mean(name, known)
    listed = ", ".join(sorted(known)) or "none"
    raise SpecErrors(
        [
            SpecError(
                f"no cluster {name!r} in {path} (it has: {listed})",
                ("executor", "cluster"),
                origin,
                suggestion=hint or f"add clusters.{name} with host and remote_dir to {path}",
            )
        ]
    )


def apply_cluster(tree: dict[str, Any], origins: dict[KeyPath, Origin]) -> Cluster | None:
    """The cluster ``tree``'s executor names (None for none), its ``defaults`` put under the
    executor where the spec does not set them (origins: the profile file's lines)."""
    executor = tree.get("executor")
    if not isinstance(executor, dict) or not isinstance(executor.get("cluster"), str):
        return None
    cluster = find_cluster(executor["cluster"], origin=origins.get(("executor", "cluster")))
    for key, value in cluster.defaults.items():
        if key not in executor:
            executor[key] = value
            origins[("executor", key)] = cluster.origins.get(key) or Origin(str(clusters_file()))
    return cluster


def _cluster(document: Document, name: str, raw: Any, errors: Collector) -> Cluster | None:
    where: KeyPath = ("clusters", name)
    if not NAME.fullmatch(name):
        errors.add(_error(document, where, "bad cluster name", "letters, digits, '_', '.', '-'"))
        return None
    if not isinstance(raw, dict):
        errors.add(_error(document, where, "wrong type", "a mapping with host and remote_dir"))
        return None
    before = len(errors.errors)
    for key in raw:
        if key not in KEYS:
            hint = did_you_mean(str(key), KEYS)
            errors.add(_error(document, (*where, key), "unknown key", ", ".join(KEYS), hint))
    for key in REQUIRED:
        if key not in raw:
            errors.add(_error(document, where, f"missing {key}", f"{key}: …"))
    for key in ("host", "user", "ssh_config", "remote_dir"):
        if key in raw and not isinstance(raw[key], str):
            errors.add(_error(document, (*where, key), "wrong type", "a string", found=raw[key]))
    for key in ("host", "user"):
        if isinstance(raw.get(key), str) and not SAFE_WORD.fullmatch(raw[key]):
            expected = "a host name, address or ssh Host alias (no spaces, not starting with '-')"
            errors.add(_error(document, (*where, key), "bad value", expected, found=raw[key]))
    port = raw.get("port")
    if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
        errors.add(_error(document, (*where, "port"), "bad port", "1 to 65535", found=port))
    remote = raw.get("remote_dir")
    if isinstance(remote, str) and not PurePosixPath(remote).is_absolute():
        expected = "an absolute path on the cluster, like /lustre/alice/nemorun"
        errors.add(_error(document, (*where, "remote_dir"), "bad path", expected, found=remote))
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        errors.add(_error(document, (*where, "defaults"), "wrong type", "executor options"))
    if len(errors.errors) > before:
        return None
    config = raw.get("ssh_config")
    if config is not None:
        config = str((document.path.parent / config).resolve())
    written = {key: document.origin((*where, "defaults", key)) for key in defaults or {}}
    return Cluster(
        name,
        raw["host"],
        str(remote),
        raw.get("user"),
        port,
        config,
        dict(defaults or {}),
        {key: origin for key, origin in written.items() if origin is not None},
    )


def _error(
    document: Document,
    path: KeyPath,
    message: str,
    expected: str,
    hint: str | None = None,
    found: Any = None,
) -> SpecError:
    origin = document.origin(path)
    return SpecError(
        message,
        path,
        origin.at_value() if origin and found is not None else origin,
        expected=expected,
        found=None if found is None else repr(found),
        suggestion=hint,
        file=document.display,
    )
