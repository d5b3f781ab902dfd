"""Hints that name what is imported only for type checkers (as Lightning and transformers do)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from constructs_zoo import ImageSize
    from not_installed_anywhere import Tokenizer


def prepare(out: str, size: ImageSize, tokenizer: Tokenizer | None = None) -> None:
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"size": repr(size), "tokenizer": repr(tokenizer)}, f)
