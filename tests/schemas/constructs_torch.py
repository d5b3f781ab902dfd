"""A task typed with torch's own types (imported only by the tests that have torch)."""

from __future__ import annotations

import json

import torch


def probe(out: str, dtype: torch.dtype, device: torch.device | None = None) -> None:
    received = {"dtype": repr(dtype), "device": repr(device), "types": [type(dtype).__name__]}
    received["types"].append(type(device).__name__)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(received, f)
