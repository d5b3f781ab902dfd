"""taplo, the TOML toolkit behind Even Better TOML, from npm (``@taplo/cli``, a WebAssembly
build: no binary download), pinned (`VERSION`) and installed once into a cache directory
(``$NEMORUN_TAPLO_DIR``, else under /tmp) by ``tests/run.sh`` or by the first test that needs it.
``taplo lint`` checks a file against the schema its ``#:schema`` directive names, offline (the
online schema catalogs are used only with ``--default-schema-catalogs``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

VERSION = "0.7.0"


def install_dir() -> Path:
    return Path(os.environ.get("NEMORUN_TAPLO_DIR", f"/tmp/nemorun-taplo-{VERSION}"))


def cli_script() -> Path:
    return install_dir() / "node_modules" / "@taplo" / "cli" / "dist" / "cli.js"


def ensure_installed() -> str | None:
    """The CLI's script path, installing it with npm if needed; None if it cannot be had."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return None
    script = cli_script()
    if not script.exists():
        install_dir().mkdir(parents=True, exist_ok=True)
        package = f"@taplo/cli@{VERSION}"
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--prefix",
                str(install_dir()),
                package,
            ],
            check=False,
            capture_output=True,
            timeout=300,
        )
    return str(script) if script.exists() else None


if __name__ == "__main__":  # tests/run.sh installs it before the tests
    import sys

    installed = ensure_installed()
    print(installed or "@taplo/cli not installed (node or npm missing, or npm failed)")
    sys.exit(0 if installed else 1)
