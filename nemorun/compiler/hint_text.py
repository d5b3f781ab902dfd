"""The words of ``nemorun new``'s comments: a type hint as a reader writes it, a docstring's
first paragraph wrapped to a few comment lines.

A hint's repr is not enough: it spells modules (``typing.Optional[torch.Tensor]``), enum
members as ``<Split.TRAIN: 'train'>`` and ``Annotated`` metadata with its address, which would
make the same spec differ from run to run. `type_text` walks the hint instead.
"""

from __future__ import annotations

import enum
import re
import textwrap
import types
import typing
from typing import Any

from nemorun.schemas.hints import Param
from nemorun.schemas.values import strip_annotated

DOC_LINES = 3
"""At most this many comment lines of an argument's docstring (its first paragraph)."""
DOC_WIDTH = 88


def param_comment(param: Param) -> tuple[str, ...]:
    """``int, required: Width of the hidden layer.``: type, whether required, first paragraph."""
    kinds = [] if strip_annotated(param.annotation) is Any else [type_text(param.annotation)]
    kind = ", ".join([*kinds, *(["required"] if param.is_required() else [])]) or "any value"
    return wrap(f"{kind}: {_first_paragraph(param.doc)}" if param.doc else kind)


def _first_paragraph(doc: str) -> str:
    return " ".join(doc.split("\n\n")[0].split())


def wrap(text: str) -> tuple[str, ...]:
    """``text`` as at most `DOC_LINES` comment lines (line breaks and controls as spaces)."""
    text = re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]", " ", text)
    lines = textwrap.wrap(text, DOC_WIDTH, break_on_hyphens=False)
    if len(lines) > DOC_LINES:
        lines = [*lines[: DOC_LINES - 1], lines[DOC_LINES - 1].rstrip(".") + " …"]
    return tuple(lines)


def type_text(hint: Any) -> str:
    """A hint as a reader writes it: ``int | None``, ``tuple[float, float]``, ``ModelConfig``,
    ``Literal[Split.TRAIN, 'all']`` (``Annotated`` metadata left out: its repr may hold an
    address)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return "Any"
    if hint is None or hint is type(None):
        return "None"
    if hint is Ellipsis:
        return "..."
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(_literal_text(a) for a in args)}]"
    if isinstance(hint, list):  # the parameters of ``Callable[[int], float]``
        return f"[{', '.join(type_text(a) for a in hint)}]"
    if origin is not None:
        name = getattr(origin, "__name__", None) or _QUALIFIED.sub(r"\1", repr(origin))
        return f"{name}[{', '.join(type_text(a) for a in args)}]" if args else name
    if isinstance(hint, type):
        return hint.__qualname__
    name = getattr(hint, "__name__", None)  # NewType, TypeVar
    if isinstance(name, str):
        return name
    text = hint.__forward_arg__ if isinstance(hint, typing.ForwardRef) else str(hint)
    return _ADDRESS.sub("", _QUALIFIED.sub(r"\1", text))


def _literal_text(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}"
    return repr(value)


_QUALIFIED = re.compile(r"\b(?:[A-Za-z_]\w*\.)+([A-Za-z_]\w*)")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
