"""The task of the override table: it prints, as JSON, exactly the arguments it received."""

from __future__ import annotations

import json
from typing import Any


def job(cfg: Any = None, tag: str = "", lr: float = 0.0, n: int = 0, flag: bool = False) -> None:
    print(json.dumps({"cfg": cfg, "tag": tag, "lr": lr, "n": n, "flag": flag}, sort_keys=True))


def quiet(cfg: Any = None, tag: str = "") -> None:
    """Uses its arguments without printing them (a secret must not reach the logs this way)."""
    print(f"received {len(json.dumps(cfg))} bytes of config and a {len(tag)}-character tag")
