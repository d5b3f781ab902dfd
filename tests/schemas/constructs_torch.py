"""A task typed with torch's own types (imported only by the tests that have torch)."""

from __future__ import annotations

import json

import torch


def probe(
    out: str,
    dtype: torch.dtype = torch.float32,
    device: torch.device | None = None,
    module: torch.nn.Module | None = None,
) -> None:
    received = {
        "dtype": [type(dtype).__name__, repr(dtype)],
        "device": [type(device).__name__, repr(device)],
        "module": [type(module).__name__, repr(module)],
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(received, f)
