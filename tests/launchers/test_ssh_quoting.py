"""Hostile strings reach the remote command byte-exact through ssh (`nemorun.launchers.ssh`
builds every remote command with ``shlex.join``): as arguments, environment values and paths.
Each example is one command over the shared connection to the test sshd. And a tree is shipped
once per content, its checksum checked on arrival (`nemorun.launchers.remote`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nemorun.launchers.base import LaunchError
from nemorun.launchers.remote import ship, ship_code, tree_archive
from nemorun.launchers.ssh import Transport
from nemorun.schemas.clusters import Cluster

# Any text a shell could misread (no NUL: no argv can hold one); surrogates cannot be encoded.
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=40)
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def transport(
    sshd_server: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Transport]:
    sockets = tmp_path_factory.mktemp("sockets")
    sockets.chmod(0o700)
    old = os.environ.get("NEMORUN_SSH_DIR")
    os.environ["NEMORUN_SSH_DIR"] = str(sockets)
    cluster = Cluster(
        "quoting", "nemorun-test", "/tmp", ssh_config=f"{sshd_server['dir']}/ssh_config"
    )
    yield Transport(cluster)
    Transport(cluster).control("exit")
    if old is None:
        del os.environ["NEMORUN_SSH_DIR"]
    else:
        os.environ["NEMORUN_SSH_DIR"] = old


@SLOW
@given(arg=TEXT, value=TEXT)
def test_arguments_and_environment_values_arrive_byte_exact(
    transport: Transport, arg: str, value: str
) -> None:
    result = transport.run(
        ["env", f"NEMORUN_X={value}", "sh", "-c", 'printf "%s|%s" "$1" "$NEMORUN_X"', "sh", arg]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{arg}|{value}"


@SLOW
@given(name=TEXT.filter(lambda t: t not in ("", ".", "..") and "/" not in t))
def test_paths_arrive_byte_exact(transport: Transport, name: str) -> None:
    result = transport.run(
        ["sh", "-c", 'd=$(mktemp -d) && : >"$d/$1" && ls -A "$d" && rm -rf "$d"', "sh", name],
        cwd="/tmp",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == name + "\n"


def test_a_tree_is_sent_once_by_its_content_and_checked(
    transport: Transport, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "mod.py").write_text("X = 1\n")
    remote_root = transport.run(["mktemp", "-d"]).stdout.strip()
    try:
        cluster = replace(transport.cluster, remote_dir=remote_root)
        there = Transport(cluster)
        first, said = ship_code(there, tree)
        assert said == "sent"
        assert there.run(["cat", f"{first}/pkg/mod.py"]).stdout == "X = 1\n"
        assert ship_code(there, tree) == (first, "have")  # unchanged: not sent again
        (tree / "pkg" / "mod.py").write_text("X = 2\n")
        second, said = ship_code(there, tree)
        assert said == "sent" and second != first
        data, _ = tree_archive(tree)
        with pytest.raises(LaunchError, match="checksum mismatch"):
            ship(there, tree, f"{remote_root}/bad", (data, "0" * 64))
    finally:
        transport.run(["rm", "-rf", "--", remote_root])
