"""Hostile strings reach the remote command byte-exact through ssh (`nemorun.launchers.ssh`
builds every remote command with ``shlex.join``): as arguments, environment values and paths.
Each example is one command over the shared connection to the test sshd."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
