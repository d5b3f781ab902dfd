"""Resolve ``${path}`` interpolations through OmegaConf, leaving ``${oc.env:…}`` untouched.

References to the job's environment are read where the job runs, never here, so before handing
the tree to OmegaConf every ``${oc.env:`` is escaped (``\\${oc.env:``), which OmegaConf returns
as literal text. A value that interpolates an env reference therefore copies the reference.

Only strings that contain ``${`` are replaced, in place, so the rest of the tree keeps its
identity (shared nodes stay shared). OmegaConf is imported only when such a string exists.

**Sweeps resolve per point.** `resolve_interpolations` returns what it replaced (path and the
text as written), and `reinterpolate` puts those texts back into a point's copy of the tree,
after the point's sweep values are in place, and resolves again: ``tag: lr_${task.optim.lr}``
then reads each point's own ``lr``, as Hydra's per-job resolution does. The values under
``sweep:`` are never resolved where they are listed, only where they land.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from typing import Any

from nemorun.errors import Collector, KeyPath, Origin, SpecError, did_you_mean
from nemorun.schemas.source import value_origin

_ENV = "${oc.env:"


def needs_interpolation(tree: Any) -> bool:
    return any(_wants(s) for _, s in _strings(tree, (), set()))


Interpolation = tuple[KeyPath, str]
"""A replaced string: where it was, and its text as written."""


def resolve_interpolations(
    tree: dict[str, Any], origins: dict[KeyPath, Origin], swept: bool = False
) -> tuple[Interpolation, ...]:
    """Replace interpolated strings in ``tree`` by their values (in place); return them.

    With ``swept``, a reference that cannot be resolved yet is left as written, not refused:
    the key it reads may exist only at the sweep's points (``+optim.name=sgd,adam``), which
    resolve everything again and report what still fails."""
    targets = [
        (path, s) for path, s in _strings(tree, (), set()) if _wants(s) and path[:1] != ("sweep",)
    ]
    if not targets:
        return ()
    errors = Collector()
    with _environment_sealed():
        _resolve(tree, origins, targets, swept, errors)
    errors.raise_if_any()
    return tuple(targets)


class _EnvironmentRead(Exception):
    """An interpolation asked OmegaConf for an environment variable while nemorun resolved it."""


@contextlib.contextmanager
def _environment_sealed() -> Iterator[None]:
    """OmegaConf's ``oc.env`` replaced, while resolving, by one that refuses.

    Escaping ``${oc.env:`` keeps the plain spelling a reference, but other spellings still reach
    the resolver (``${ oc.env:X}``, an env reference inside ``oc.decode`` or as ``oc.select``'s
    default): whatever reaches it would put the value of the build machine's variable, maybe a
    secret, into artifacts and records. Sealing the resolver refuses every such spelling."""
    from omegaconf import OmegaConf
    from omegaconf.basecontainer import BaseContainer

    def refuse(key: str, default: Any = None) -> Any:
        raise _EnvironmentRead(key)

    resolvers = BaseContainer._resolvers
    previous = resolvers.get("oc.env")
    OmegaConf.register_new_resolver("oc.env", refuse, replace=True, use_cache=False)
    try:
        yield
    finally:
        if previous is None:
            resolvers.pop("oc.env", None)
        else:
            resolvers["oc.env"] = previous


def _resolve(
    tree: dict[str, Any],
    origins: dict[KeyPath, Origin],
    targets: list[Interpolation],
    swept: bool,
    errors: Collector,
) -> None:
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    malformed = {text for path, text in targets if not _well_formed(text, path, origins, errors)}
    targets = [(path, text) for path, text in targets if text not in malformed]
    try:
        cfg = OmegaConf.create(_escaped(tree, malformed, set()))
    except OmegaConfBaseException as exc:
        message = str(exc).split("\n")[0]
        errors.add(SpecError(f"cannot read the spec for interpolation: {message}", ()))
        errors.raise_if_any()
    for path, text in targets:
        try:
            node: Any = cfg
            for part in path:
                node = node[part if OmegaConf.is_list(node) else str(part)]
            value = node
            if OmegaConf.is_config(value):
                value = OmegaConf.to_container(value, resolve=True)
            elif not isinstance(value, (str, int, float, bool, list, dict)) and value is not None:
                value = str(value)  # a resolver's own object: the job gets its text
        except OmegaConfBaseException as exc:
            read = _environment_read(exc)
            if read is not None:
                errors.add(_env_read_error(text, path, origins, str(read)))
                continue
            if swept:
                continue
            message = str(exc).split("\n")[0]
            errors.add(
                SpecError(
                    f"cannot resolve interpolation {text!r}: {message}",
                    path,
                    value_origin(origins, path),
                    suggestion=_suggest(message, tree),
                )
            )
            continue
        _set(tree, path, value)
        origin = origins.get(path)
        if origin is not None and origin.text is not None:  # not what a `str` field gets now
            origins[path] = dataclasses.replace(origin, text=None)


def _environment_read(exc: BaseException | None) -> _EnvironmentRead | None:
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, _EnvironmentRead):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _env_read_error(
    text: str, path: KeyPath, origins: dict[KeyPath, Origin], variable: str
) -> SpecError:
    return SpecError(
        f"{text!r} would read the environment variable {variable} on this machine, "
        "while nemorun compiles",
        path,
        value_origin(origins, path),
        expected="an environment reference read where the job runs: '${oc.env:VAR}' or "
        "'${oc.env:VAR,default}', alone or inside a string",
        suggestion="write the reference on its own, without spaces after '${' and not inside "
        "another interpolation",
    )


def reinterpolate(
    tree: dict[str, Any],
    origins: dict[KeyPath, Origin],
    written: tuple[Interpolation, ...],
    assign: Any,
) -> tuple[Interpolation, ...]:
    """Restore the ``written`` interpolations in ``tree`` (a point's own copy), call
    ``assign(tree)`` to put the point's sweep values in place, and resolve again."""
    for path, text in written:
        try:
            _set(tree, path, text)
        except (KeyError, IndexError, TypeError):
            continue  # a swept value replaced a container above it: the sweep value wins
    assign(tree)
    return resolve_interpolations(tree, origins, swept=False)


_MISSING_KEY = re.compile(r"Interpolation key '([^']*)' not found")


def _suggest(message: str, tree: Any) -> str:
    """A nearby key path for a reference to a missing key, else how references are written."""
    missing = _MISSING_KEY.search(message)
    if missing:
        paths = [".".join(str(p) for p in path) for path in _key_paths(tree, (), set())]
        hint = did_you_mean(missing.group(1), paths)
        if hint:
            return hint
    return "interpolations name a full key path from the top of the spec, e.g. '${task.steps}'"


def _key_paths(node: Any, path: KeyPath, seen: set[int]) -> list[KeyPath]:
    out: list[KeyPath] = []
    if isinstance(node, dict) and id(node) not in seen:
        seen = seen | {id(node)}
        for key, child in node.items():
            out.append((*path, key))
            out.extend(_key_paths(child, (*path, key), seen))
    return out


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


def _well_formed(
    text: str, path: KeyPath, origins: dict[KeyPath, Origin], errors: Collector
) -> bool:
    """True when OmegaConf can parse ``text``; otherwise records a located error."""
    from omegaconf.grammar_parser import parse

    try:
        parse(text.replace(_ENV, "\\" + _ENV))
    except Exception as exc:  # GrammarParseError, or antlr's own
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        errors.add(
            SpecError(
                f"malformed interpolation in {text!r}: {message}",
                path,
                value_origin(origins, path),
                suggestion="close it with '}', or write '\\${' for a literal '${'",
            )
        )
        return False
    return True


def _escaped(node: Any, malformed: set[str], active: set[int]) -> Any:
    """A copy of ``node`` for OmegaConf: env references and malformed strings made literal."""
    if isinstance(node, (dict, list)):
        if id(node) in active:  # a recursive YAML alias: OmegaConf cannot hold a cycle
            return None
        active = active | {id(node)}
        if isinstance(node, dict):
            return {str(k): _escaped(v, malformed, active) for k, v in node.items()}
        return [_escaped(v, malformed, active) for v in node]
    if isinstance(node, str):
        if node in malformed:
            return node.replace("${", "\\${")
        return node.replace(_ENV, "\\" + _ENV)
    if node is None or isinstance(node, (int, float, bool)):
        return node
    return str(node)


def _set(tree: Any, path: KeyPath, value: Any) -> None:
    node = tree
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
