"""A loaded spec file: its plain tree, where each key path was written, and the size limits
every loader holds it to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemorun.errors import KeyPath, Origin, SpecError, SpecErrors


@dataclass
class Document:
    """One spec file as loaded: its tree, and the origin of every key path in it."""

    path: Path
    display: str
    tree: Any
    origins: dict[KeyPath, Origin] = field(default_factory=dict)

    def origin(self, path: KeyPath) -> Origin | None:
        """The origin of ``path``, or of its nearest ancestor with a known position."""
        return find_origin(self.origins, path)


def find_origin(origins: dict[KeyPath, Origin], path: KeyPath) -> Origin | None:
    for n in range(len(path), -1, -1):
        found = origins.get(path[:n])
        if found is not None:
            return found
    return None


def value_origin(origins: dict[KeyPath, Origin], path: KeyPath) -> Origin | None:
    """Where the value at ``path`` was written (`find_origin`, pointing at the value)."""
    origin = find_origin(origins, path)
    return origin.at_value() if origin else None


MAX_DEPTH = 100
"""Deeper nesting than this is refused: no spec needs it, and every later stage walks the tree."""


MAX_PATHS = 200_000
"""More key paths than this (counting every path through a YAML alias) is refused at once: a
few lines of nested aliases can name billions of paths (an alias bomb)."""


def too_deep(origin: Origin) -> SpecError:
    return SpecError(
        f"the spec nests more than {MAX_DEPTH} levels deep",
        origin=origin,
        suggestion="flatten it: no experiment needs this depth",
    )


def check_size(tree: Any, display: str) -> None:
    """Refuse a tree deeper than `MAX_DEPTH` or with more than `MAX_PATHS` key paths, walking
    each shared node once (so the check itself is linear in the file)."""
    paths: dict[int, int] = {}
    stack: list[tuple[Any, int, bool]] = [(tree, 0, False)]
    while stack:
        node, depth, done = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            raise SpecErrors([too_deep(Origin(display))])
        children = list(node.values()) if isinstance(node, dict) else list(node)
        if done:
            count = len(children)
            for child in children:
                count += paths.get(id(child), 0)
            paths[id(node)] = count
            if count > MAX_PATHS:
                raise SpecErrors(
                    [
                        SpecError(
                            f"the spec names more than {MAX_PATHS:,} key paths (counting every "
                            "path through its shared parts: YAML aliases, _ref_)",
                            origin=Origin(display),
                            suggestion="aliases of aliases multiply: write the values out, or "
                            "share fewer levels",
                        )
                    ]
                )
        elif id(node) not in paths:
            paths[id(node)] = 0  # a cycle back here counts nothing more
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children)


def leaves(node: Any, path: KeyPath) -> Iterator[tuple[KeyPath, Any]]:
    """Every scalar of a loaded tree and every mapping key, with its path (a key's path is the
    path it names)."""
    if isinstance(node, dict):
        for key, child in node.items():
            yield (*path, key), key
            yield from leaves(child, (*path, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from leaves(child, (*path, i))
    else:
        yield path, node


def unreadable_number(exc: ValueError, display: str) -> SpecError:
    message = str(exc).split(":")[0] if "Exceeds the limit" in str(exc) else str(exc)
    return SpecError(
        f"cannot read a value: {message}",
        file=display,
        suggestion="quote it if it is text; numbers this long are not supported",
    )
