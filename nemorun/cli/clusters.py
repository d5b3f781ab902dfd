"""The ``cluster`` command: the remote clusters of ``clusters.yaml`` and their shared ssh
connections. ``login`` opens one (prompting for a password or MFA if ssh must), so the
launches and queries after it reuse it; ``logout`` closes it; ``ls`` lists the profiles."""

from __future__ import annotations

import argparse
import sys

from nemorun.cli.common import EXIT_FAILURE, EXIT_OK, Command, parser, table


def _build_cluster() -> argparse.ArgumentParser:
    p = parser(
        "cluster",
        "The remote Slurm clusters of ~/.config/nemorun/clusters.yaml ($XDG_CONFIG_HOME): "
        "a spec goes to one with executor.cluster NAME or --cluster NAME.\n\nexamples:\n"
        "  nemorun cluster ls\n  nemorun cluster login draco    # authenticate once\n"
        "  nemorun cluster logout draco",
    )
    p.add_argument("action", choices=("ls", "login", "logout"), help="what to do")
    p.add_argument("name", nargs="?", metavar="NAME", help="the cluster (login, logout)")
    return p


def _run_cluster(ns: argparse.Namespace) -> int:
    from nemorun.launchers.ssh import Transport
    from nemorun.schemas.clusters import clusters_file, find_cluster, load_clusters

    if ns.action == "ls":
        known = load_clusters()
        if not known:
            print(f"no clusters in {clusters_file()}", file=sys.stderr)
            return EXIT_OK
        rows = [["NAME", "HOST", "REMOTE_DIR", "CONNECTION"]]
        for name, cluster in sorted(known.items()):
            is_open, _ = Transport(cluster).control("check")
            rows.append([name, cluster.host, cluster.remote_dir, "open" if is_open else "-"])
        table(rows)
        return EXIT_OK
    if ns.name is None:
        print(f"nemorun cluster {ns.action}: which cluster? (nemorun cluster ls)", file=sys.stderr)
        return EXIT_FAILURE
    transport = Transport(find_cluster(ns.name))
    if ns.action == "login":
        transport.login(stdin=sys.stdin)
        print(f"nemorun: connected to {ns.name}; later commands reuse this connection")
        return EXIT_OK
    closed, said = transport.control("exit")
    print(f"nemorun: {ns.name}: " + ("disconnected" if closed else f"no open connection ({said})"))
    return EXIT_OK


COMMANDS: dict[str, Command] = {"cluster": (_build_cluster, _run_cluster)}
