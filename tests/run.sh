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
.venv/bin/python -m pip install --quiet -e '.[test]'

.venv/bin/ruff check nemorun tests benches examples
.venv/bin/ruff format --check nemorun tests benches examples
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
