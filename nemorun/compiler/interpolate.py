"""Resolve ``${path}`` interpolations through OmegaConf, leaving ``${oc.env:…}`` untouched.

References to the job's environment are read where the job runs, never here, so before handing
the tree to OmegaConf every ``${oc.env:`` is escaped (``\\${oc.env:``), which OmegaConf returns
as literal text. A value that interpolates an env reference therefore copies the reference.

Only strings that contain ``${`` are replaced, in place, so the rest of the tree keeps its
identity (shared nodes stay shared). OmegaConf is imported only when such a string exists.
"""

from __future__ import annotations

from typing import Any

from nemorun.errors import Collector, KeyPath, Origin, SpecError
from nemorun.schemas.source import find_origin

_ENV = "${oc.env:"


def needs_interpolation(tree: Any) -> bool:
    return any(_wants(s) for _, s in _strings(tree, (), set()))


def resolve_interpolations(tree: dict[str, Any], origins: dict[KeyPath, Origin]) -> None:
    """Replace interpolated strings in ``tree`` by their values (in place)."""
    targets = [(path, s) for path, s in _strings(tree, (), set()) if _wants(s)]
    if not targets:
        return
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cfg = OmegaConf.create(_escaped(tree, set()))
    errors = Collector()
    for path, text in targets:
        try:
            node: Any = cfg
            for part in path[:-1]:
                node = node[part]
            value = node[path[-1]]
            if not isinstance(value, (str, int, float, bool)) and value is not None:
                value = OmegaConf.to_container(value, resolve=True)
        except OmegaConfBaseException as exc:
            origin = find_origin(origins, path)
            message = str(exc).split("\n")[0]
            errors.add(
                SpecError(
                    f"cannot resolve interpolation {text!r}: {message}",
                    path,
                    origin.at_value() if origin else None,
                    suggestion="interpolations name a full key path, e.g. '${task.optim.lr}'",
                )
            )
            continue
        _set(tree, path, value)
    errors.raise_if_any()


def _wants(text: str) -> bool:
    return "${" in text.replace(_ENV, "")


def _strings(node: Any, path: KeyPath, seen: set[int]) -> list[tuple[KeyPath, str]]:
    out: list[tuple[KeyPath, str]] = []
    if isinstance(node, (dict, list)):
        if id(node) in seen:
            return out
        seen = seen | {id(node)}
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            out.extend(_strings(child, (*path, key), seen))
    elif isinstance(node, str) and "${" in node:
        out.append((path, node))
    return out


def _escaped(node: Any, seen: set[int]) -> Any:
    if isinstance(node, dict):
        return {str(k): _escaped(v, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_escaped(v, seen) for v in node]
    if isinstance(node, str):
        return node.replace(_ENV, "\\" + _ENV)
    if node is None or isinstance(node, (int, float, bool)):
        return node
    return str(node)


def _set(tree: Any, path: KeyPath, value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
