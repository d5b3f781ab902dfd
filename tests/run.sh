#!/usr/bin/env bash
# Install what the tests need into .venv (from nothing) and run lint, types and the test suite.
# Usage: bash tests/run.sh [pytest args…]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# skypilot (~37 s, ~460 MB): its own parser checks every compiled task YAML; torch (pinned
# 2.13.0, a local CPU build here) for the DDP example on the test cluster; Lightning and
# scikit-learn (~25 s) for the tests that configure real libraries' signatures; ray (~55 s,
# ~430 MB) for the ray target's tests on a private local head (tests/infra/ray.sh); the
# kubernetes client for that target's launch half (tested against a stub API server).
.venv/bin/python -m pip install --quiet -e '.[test,skypilot,torch,libs,ray,kubernetes,tracking-test]'
# The MLflow server of the tracking tests (tests/mlflow_server.py), in a venv of its own: the
# full mlflow cannot share one with the kubernetes client (python-dateutil). Pinned in
# pyproject.toml (extra mlflow-server); installed only when missing, in the background while
# the services below start (it takes minutes), and waited for before the tests.
mlflow_pid=
if [ ! -x .venv-mlflow/bin/mlflow ]; then
  mlflow_pin=$(.venv/bin/python -c 'import tomllib
print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["mlflow-server"][0])')
  { "$python" -m venv .venv-mlflow &&
    .venv-mlflow/bin/python -m pip install --quiet "$mlflow_pin"; } >/tmp/nemorun-mlflow-venv.log 2>&1 &
  mlflow_pid=$!
fi

# A real Slurm on this host for the Slurm tests (root only; they skip with a reason without it).
# slurm.sh and docker.sh refuse to touch a Slurm or engine they did not start (exit 3).
if [ "$(id -u)" = 0 ] && [ -z "${NEMORUN_SKIP_SLURM:-}" ]; then
  bash tests/infra/slurm.sh start ||
    echo "warning: the test Slurm did not start; Slurm tests will be skipped" >&2
fi
# A private Docker engine and a local Python image for the docker tests (root only; they skip).
if [ "$(id -u)" = 0 ] && [ -z "${NEMORUN_SKIP_DOCKER:-}" ]; then
  bash tests/infra/docker.sh start >/dev/null ||
    echo "warning: the test Docker engine did not start; docker tests will be skipped" >&2
fi

# A private sshd on a loopback port, the test Slurm's login node for the remote-cluster tests
# (root only; installs openssh-server when missing; the tests skip with a reason without it).
if [ "$(id -u)" = 0 ] && [ -z "${NEMORUN_SKIP_SLURM:-}" ]; then
  bash tests/infra/sshd.sh start >/dev/null ||
    echo "warning: the test sshd did not start; remote-cluster tests will be skipped" >&2
fi

# zsh and fish for the shell-completion tests, Graphviz's dot for the picture tests (root only;
# without them those tests skip, saying why).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null &&
  ! { command -v zsh && command -v fish && command -v dot; } >/dev/null; then
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o DPkg::Lock::Timeout=300 zsh fish graphviz; } >/tmp/nemorun-tools-apt.log 2>&1 ||
    echo "warning: zsh, fish or graphviz did not install; their tests will be skipped" >&2
fi

# Debian's Chromium and its WebDriver for the tests of the web page of runs (root only; without
# them those tests skip, saying why).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null &&
  ! { command -v chromium && command -v chromedriver; } >/dev/null; then
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o DPkg::Lock::Timeout=300 chromium chromium-driver; } >/tmp/nemorun-chromium-apt.log 2>&1 ||
    echo "warning: chromium did not install; the web page tests will be skipped" >&2
fi

# yaml-language-server and taplo from npm (versions pinned in tests/schemas/yaml_ls.py and
# taplo_cli.py, cached under /tmp) for the editor tests, which skip with a reason without node and npm.
if command -v npm >/dev/null; then
  .venv/bin/python tests/schemas/yaml_ls.py >/dev/null ||
    echo "warning: yaml-language-server did not install; the editor tests will be skipped" >&2
  .venv/bin/python tests/schemas/taplo_cli.py >/dev/null ||
    echo "warning: @taplo/cli did not install; the TOML modeline test will be skipped" >&2
fi

if [ -n "$mlflow_pid" ] && ! wait "$mlflow_pid"; then
  echo "warning: the MLflow server did not install (/tmp/nemorun-mlflow-venv.log); its tests will be skipped" >&2
  rm -rf .venv-mlflow
fi

.venv/bin/ruff check nemorun tests benches examples
.venv/bin/ruff format --check nemorun tests benches examples
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
