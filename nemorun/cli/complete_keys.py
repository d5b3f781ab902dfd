"""A spec's override keys for shell completion: from its schema, which imports the user's code
(maybe torch: seconds), for a TAB that must answer in < 0.2 s.

**Cache.** One JSON file per spec under ``$XDG_CACHE_HOME/nemorun/completion/`` (0700), named
by the spec's absolute path. It holds while the spec's content hash, nemorun's version and the
modification times of the files the schema read (the user's modules, one file per third-party
package, the specs it extends) are those it was built from; anything else is a cold cache.

**Cold.** The answer is what is cheap: the keys the spec itself writes (its file parsed, nothing
imported), while a process in the background (``python -m nemorun.cli.complete_keys SPEC``)
builds the schema and writes the cache for the next TAB. A lock file next to the cache entry
keeps it to one such process per spec; one older than `WARM_TIMEOUT` is stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nemorun import __version__

WARM_TIMEOUT = 300
"""Seconds the background process may take (it is then stopped) and a lock file may live."""
MAX_KEYS = 20_000
MAX_DEPTH = 12
NOT_OVERRIDDEN = ("nemorun", "extends")
"""Top-level keys read before overrides apply (`nemorun.compiler.overrides`)."""


def cache_root() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(root) / "nemorun" / "completion"


def cache_file(spec: Path) -> Path:
    """The cache entry of the spec at ``spec`` (by its absolute path)."""
    name = hashlib.sha256(os.fsencode(os.path.abspath(spec))).hexdigest()[:32]
    return cache_root() / f"{name}.json"


def override_keys(spec: Path) -> tuple[str, ...]:
    """Every override key of ``spec`` (dotted, containers included), from the cache when it
    is fresh, else the keys the file writes (and the cache is built in the background)."""
    try:
        data = spec.read_bytes()
    except OSError:
        return ()
    entry = cache_file(spec)
    cached = fresh_keys(entry, data)
    if cached is not None:
        return cached
    start_warming(spec, entry)
    return written_keys(data, spec.suffix)


def fresh_keys(entry: Path, data: bytes) -> tuple[str, ...] | None:
    """The keys cached in ``entry`` if it was built from these spec bytes and nothing it read
    has changed since; else None."""
    try:
        cached = json.loads(entry.read_text(encoding="utf-8"))
        if cached["nemorun"] != __version__ or cached["spec"] != _digest(data):
            return None
        for path, stamp in cached["files"].items():
            if os.stat(path).st_mtime_ns != stamp:
                return None
        return tuple(str(k) for k in cached["keys"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def written_keys(data: bytes, suffix: str) -> tuple[str, ...]:
    """The keys the spec's own text writes (parsed only: no ``extends``, nothing imported)."""
    try:
        text = data.decode("utf-8")
        if suffix.lower() == ".toml":
            tree: Any = _toml(text)
        elif suffix.lower() == ".json":
            tree = json.loads(text)
        else:
            tree = yaml_mappings(text)
    except Exception:  # a spec being edited may not parse: nothing to offer yet
        return ()
    return tuple(sorted(_spec_keys(tree, _paths_in_tree)))


YAML_KEY = re.compile(r"""(?:([A-Za-z_][\w-]*)|'([\w-]+)'|"([\w-]+)") *:(?: +(.*))?$""")


def yaml_mappings(text: str) -> dict[str, Any]:
    """The nested block mappings of a YAML text, read line by line: a key's line (``name:``)
    by its indentation, values left out, nothing under a list item or in a block scalar
    (``|``, ``>``). Importing a YAML parser would cost a TAB more than this whole answer;
    flow mappings (``{a: 1}``) and keys other than names are missed, which a cold answer may."""
    tree: dict[str, Any] = {}
    above: list[tuple[int, dict[str, Any] | None]] = [(-1, tree)]
    scalar_under: int | None = None
    for line in text.splitlines():
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if not stripped or stripped.startswith(("#", "---", "...", "%")):
            continue
        if scalar_under is not None and indent > scalar_under:
            continue
        scalar_under = None
        while above[-1][0] >= indent:
            above.pop()
        parent = above[-1][1]
        match = YAML_KEY.match(stripped)
        if match is None or parent is None:  # a list item, or what is under one
            above.append((indent, None))
            continue
        key, value = match[1] or match[2] or match[3], match[4] or ""
        value = "" if value.startswith("#") else value.split(" #")[0].strip()
        if value[:1] in ("|", ">"):
            scalar_under = indent
        child: dict[str, Any] | None = None if value else {}
        parent[key] = value or child
        above.append((indent, child))
    return tree


def _spec_keys(root: Any, walk: Any) -> set[str]:
    """The override keys of a spec whose top-level mapping is ``root``: under ``task`` without
    the ``task.`` (as overrides write them), the other top-level keys with their name."""
    keys: set[str] = set()
    if not isinstance(root, dict):
        return keys
    for name, sub in root.items():
        if not isinstance(name, str) or name in NOT_OVERRIDDEN:
            continue
        if name == "task":
            keys.update(".".join(p) for p in walk(sub, ()))
        else:
            keys.add(name)
            keys.update(".".join(p) for p in walk(sub, (name,)))
    return keys


def _toml(text: str) -> Any:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def _paths_in_tree(tree: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    if not isinstance(tree, dict) or len(path) > MAX_DEPTH:
        return
    for key, sub in tree.items():
        if _is_key(key):
            yield (*path, key)
            yield from _paths_in_tree(sub, (*path, key))


def _is_key(key: object) -> bool:
    return isinstance(key, str) and not key.startswith("_") and not set(key) & set(".= ")


def schema_keys(schema: dict[str, Any]) -> tuple[str, ...]:
    """The override keys a spec's JSON Schema (`nemorun.schemas.jsonschema`) describes."""
    defs = schema.get("$defs", {})

    def walk(node: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        if len(path) > MAX_DEPTH:
            return
        for branch in _branches(node, defs, set()):
            for key, sub in branch.get("properties", {}).items():
                if _is_key(key):
                    yield (*path, key)
                    yield from walk(sub, (*path, key))

    properties = schema.get("properties", {})
    keys = _spec_keys(properties, lambda sub, path: _bounded(walk(sub, path)))
    return tuple(sorted(keys))


def _bounded(paths: Iterator[tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
    for count, path in enumerate(paths):
        if count >= MAX_KEYS:
            return
        yield path


def _branches(node: Any, defs: dict[str, Any], seen: set[str]) -> Iterator[dict[str, Any]]:
    """``node`` and every schema it stands for: its ``$ref``, its ``anyOf``/``oneOf``/``allOf``
    branches (a reference followed once per branch)."""
    if not isinstance(node, dict):
        return
    yield node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref not in seen:
        yield from _branches(defs.get(ref.removeprefix("#/$defs/")), defs, {*seen, ref})
    for combined in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(combined, ()):
            yield from _branches(branch, defs, seen)


def start_warming(spec: Path, entry: Path) -> None:
    """Start the process that builds ``spec``'s cache entry, unless one is at it already."""
    lock = entry.with_suffix(".lock")
    try:
        os.makedirs(entry.parent, mode=0o700, exist_ok=True)  # not nemorun.files: tempfile
        if lock.exists() and time.time() - lock.stat().st_mtime < WARM_TIMEOUT:
            return
        lock.unlink(missing_ok=True)
        os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except OSError:
        return  # another TAB took the lock first, or no cache can be written here
    import subprocess

    subprocess.Popen(
        [sys.executable, "-m", "nemorun.cli.complete_keys", os.path.abspath(spec), str(lock)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the shell's Ctrl-C and exit leave it be
    )


def warm(spec: Path) -> tuple[str, ...]:
    """Build the schema of ``spec`` and write its cache entry; returns the keys. A spec whose
    schema cannot be built is cached with the keys it writes, so a TAB does not retry until
    something changes."""
    data = spec.read_bytes()
    keys = set(written_keys(data, spec.suffix))
    try:
        from nemorun import api

        keys.update(schema_keys(api.draft_schema(spec).schema))
    except Exception:
        pass
    # Every module loaded now, not only those the schema imported: a module the process had
    # loaded before still shapes the schema.
    read = [*_module_files(list(sys.modules)), *_extended(spec, data)]
    stamps = {}
    for path in read:
        try:
            stamps[path] = os.stat(path).st_mtime_ns
        except OSError:
            continue
    record = {"nemorun": __version__, "spec": _digest(data), "files": stamps, "keys": sorted(keys)}
    from nemorun.files import write_atomic

    entry = cache_file(spec)
    os.makedirs(entry.parent, mode=0o700, exist_ok=True)
    write_atomic(entry, json.dumps(record, indent=0) + "\n", mode=0o600)
    return tuple(sorted(keys))


def _module_files(names: Iterable[str]) -> list[str]:
    """The files whose change may change the schema: each of the user's modules, and one file
    per third-party package (rewritten when it is reinstalled); not nemorun's (its version is
    in the key) nor the standard library's."""
    import sysconfig

    stdlib = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")})
    files = set()
    for name in names:
        top = name.partition(".")[0]
        if top == "nemorun":
            continue
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if not isinstance(path, str) or path.startswith(stdlib):
            continue
        if "-packages" + os.sep in path:
            path = getattr(sys.modules.get(top), "__file__", None) or path
        files.add(os.path.abspath(path))
    return sorted(files)


def _extended(spec: Path, data: bytes) -> list[str]:
    """The specs ``spec`` names in ``extends`` (its written keys would not show theirs)."""
    try:
        import yaml

        toml = spec.suffix.lower() == ".toml"
        tree = _toml(data.decode("utf-8")) if toml else yaml.safe_load(data)
        bases = tree.get("extends") if isinstance(tree, dict) else None
    except Exception:
        return []
    bases = [bases] if isinstance(bases, str) else bases if isinstance(bases, list) else []
    return [os.path.abspath(spec.parent / str(b)) for b in bases]


def _main(argv: list[str]) -> int:
    """``python -m nemorun.cli.complete_keys SPEC LOCK``: warm, then remove ``LOCK``."""
    import signal

    signal.alarm(WARM_TIMEOUT)  # a task module that hangs on import must not stay forever
    try:
        warm(Path(argv[0]))
    finally:
        Path(argv[1]).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
