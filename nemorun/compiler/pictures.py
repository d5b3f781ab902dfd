"""A spec's Fiddle graph as a picture: one box per buildable, one row per argument, arrows.

- Boxes are keyed by identity, as the graph shares them: a sub-config the spec shares (a YAML
  alias, a ``_ref_``) is one box with an arrow from each place that uses it.
- Every row knows each spec key path it is reached by (a shared box's rows have one per use),
  because sweeps and diffs speak in key paths (``task.optim.lr``): a row is marked when any of
  its paths is swept or changed. A change at a path marks every row at or below it (a diff
  compares lists whole, so one changed element marks the list's rows).
- Pure data, no graphviz: `nemorun.compiler.picture_dot` writes it as DOT. (Fiddle's own
  ``fiddle.graphviz.render`` draws sharing too, but knows neither sweeps nor spec key paths,
  and its ``render_diff`` merges two graphs into one: a diff here is two pictures.)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import fiddle as fdl

from nemorun.compiler.graph import is_env_config, spec_graphs
from nemorun.schemas.layout import task_path
from nemorun.schemas.spec import Spec

MAX_TEXT = 80
"""Longest value text in a row; longer ones end in ``…`` (the tooltip has the key path)."""
MAX_SWEEP_SHOWN = 6
"""A sweep of more values than this shows its count, first and last value."""
MAX_PATHS = 64
"""Key paths kept per box: past them a box reached by still more paths (diamonds of sharing
nested deep, whose paths double at each level) is not walked again."""
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class Mark(enum.Enum):
    """Why a row or box is coloured."""

    NONE = "none"
    SWEPT = "swept"
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class Row:
    """One argument (or one element of a container argument) of a box."""

    name: str
    text: str
    """The value as shown; empty for an arrow to ``child``."""
    paths: tuple[str, ...]
    child: int | None = None
    """The index of the box this row's arrow points to."""
    where: str = ""
    """Where the spec set it (``exp.yaml:12``, ``override: lr=1``), from the graph's history."""
    mark: Mark = Mark.NONE
    note: str = ""
    """Said in the tooltip: how many values a sweep has, or the other side's value in a diff."""


@dataclass(frozen=True)
class Box:
    """One buildable: its callable's name, its arguments, and how many arrows lead to it."""

    title: str
    kind: str
    """``Config`` or ``Partial``."""
    rows: tuple[Row, ...]
    paths: tuple[str, ...]
    """The key paths it is reached by (a task's own path for a root)."""
    uses: int
    caption: str = ""
    """``task NAME`` on a task's root."""
    mark: Mark = Mark.NONE

    def is_shared(self) -> bool:
        """True when two or more rows point to this box."""
        return self.uses > 1


@dataclass(frozen=True)
class Picture:
    """What one side of a picture shows: its boxes, and the changes drawn in no box."""

    label: str
    boxes: tuple[Box, ...]
    elsewhere: tuple[Row, ...] = ()
    """Changes outside the task graphs (``executor.nodes``, ``name``…), in a diff."""
    order: tuple[tuple[int, int], ...] = ()
    """(first, then) box indices of task roots: task ``then`` runs after ``first`` (``after:``)."""


@dataclass(frozen=True)
class Marking:
    """A mark for the rows at or below ``path``, with what to say about it."""

    path: str
    mark: Mark
    note: str = ""
    text: str | None = None
    """What the marked rows show instead of their value (a sweep's values)."""


def spec_picture(spec: Spec, label: str = "") -> Picture:
    """The picture of every task of ``spec``, its swept rows marked with their values."""
    graphs = spec_graphs(spec)
    roots = [(name, ".".join(map(str, spec.tasks[name].path)), g) for name, g in graphs.items()]
    walk = _Walk()
    picture = walk.picture(label, roots, spec.single_task)
    root = {name: walk.index[id(graph)] for name, graph in graphs.items()}
    order = tuple(
        (root[first], root[name]) for name, task in spec.tasks.items() for first in task.after
    )
    picture = replace(picture, order=order)
    swept = [
        Marking(".".join(map(str, a.path)), Mark.SWEPT, f"swept: {len(a)} values", _sweep(a.values))
        for a in spec.axes
    ]
    return mark(picture, swept)


def mark(picture: Picture, markings: Sequence[Marking]) -> Picture:
    """``picture`` with each row at or below a marking's path marked (the first one found
    wins), and each box all of whose paths are added or removed marked so."""

    def find(paths: Sequence[str]) -> Marking | None:
        for marking in markings:
            if any(_under(p, marking.path) for p in paths):
                return marking
        return None

    boxes = []
    for box in picture.boxes:
        rows = []
        for row in box.rows:
            found = find(row.paths)
            if found is not None:
                text = row.text if found.text is None else found.text
                row = replace(row, mark=found.mark, note=found.note, text=text)
            rows.append(row)
        whole = [find([p]) for p in box.paths]
        kinds = {m.mark for m in whole if m is not None} if None not in whole else set()
        own = find([f"{p}._target_" for p in box.paths])
        box_mark = kinds.pop() if kinds == {Mark.ADDED} or kinds == {Mark.REMOVED} else box.mark
        if own is not None and box_mark is Mark.NONE:
            box_mark = own.mark
        boxes.append(replace(box, rows=tuple(rows), mark=box_mark))
    return replace(picture, boxes=tuple(boxes))


class ChangeLike(Protocol):
    """One changed key path of a diff (`nemorun.launchers.compare.Change`): ``kind`` is
    ``added``, ``removed`` or ``changed``."""

    @property
    def path(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def before(self) -> Any: ...
    @property
    def after(self) -> Any: ...


def diff_pictures(
    a: Picture,
    b: Picture,
    changes: Sequence[ChangeLike],
    tree_a: Mapping[str, Any],
    tree_b: Mapping[str, Any],
) -> tuple[Picture, Picture]:
    """``a`` with its removed and changed rows marked, ``b`` with its added and changed ones;
    each change that neither draws listed in its side's ``elsewhere``. A change of a ``sweep:``
    key marks the row it sweeps."""
    flat = [
        (_swept_path(c.path, tree_b if c.kind == "added" else tree_a), c)
        for c in _split_sweep(changes)
    ]
    drawn = drawn_paths(a) | drawn_paths(b)
    sides = []
    for picture, own, mine, other in ((a, "removed", "before", "B"), (b, "added", "after", "A")):
        theirs = "after" if mine == "before" else "before"
        kinds = {own: Mark(own), "changed": Mark.CHANGED}
        mine_changed = [(path, c) for path, c in flat if c.kind in kinds]
        markings = [
            Marking(path, kinds[c.kind], _was(c.kind, other, getattr(c, theirs)))
            for path, c in mine_changed
        ]
        elsewhere = tuple(
            Row(c.path, clip(show(getattr(c, mine))), (c.path,), mark=kinds[c.kind])
            for path, c in mine_changed
            if not is_drawn(path, drawn)
        )
        sides.append(replace(mark(picture, markings), elsewhere=elsewhere))
    return sides[0], sides[1]


def drawn_paths(picture: Picture) -> set[str]:
    """Every key path a row or a box of ``picture`` stands for."""
    found: set[str] = set()
    for box in picture.boxes:
        found.update(box.paths)
        found.update(f"{p}._target_" for p in box.paths)
        for row in box.rows:
            found.update(row.paths)
    return found


def is_drawn(path: str, drawn: set[str]) -> bool:
    """True when a change at ``path`` marks something drawn: a row at or below it."""
    return any(_under(p, path) for p in drawn)


def sweep_row_path(key: str, tree: Mapping[str, Any]) -> str:
    """The key path a ``sweep:`` key (``optim.lr``) sweeps (``task.optim.lr``)."""
    return ".".join(map(str, task_path(tuple(key.split(".")), dict(tree))))


def show(value: Any) -> str:
    """A value as one printable line: strings quoted, every non-printable character escaped
    (``\\n``, ``\\x00``…, as Python's ``repr`` does), enums and callables by name."""
    if isinstance(value, enum.Enum):
        text = f"{type(value).__name__}.{value.name}"
    elif isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        text = f"{getattr(value, '__module__', '?')}:{value.__qualname__}"
    elif isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        inner = ", ".join(show(v) for v in value)
        text = (
            f"[{inner}]"
            if isinstance(value, list)
            else f"({inner}{',' if len(value) == 1 else ''})"
        )
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in value.items()) + "}"
    else:
        text = _ADDRESS.sub("", repr(value))  # an object's address differs from run to run
    return text


def clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


@dataclass(frozen=True)
class _Change:
    path: str
    kind: str
    before: Any = None
    after: Any = None


def _split_sweep(changes: Sequence[ChangeLike]) -> list[ChangeLike]:
    """A change of the whole ``sweep:`` as one change per sweep key."""
    out: list[ChangeLike] = []
    for change in changes:
        whole = (change.before, change.after)
        if change.path != "sweep" or not any(isinstance(v, dict) for v in whole):
            out.append(change)
            continue
        before, after = (v if isinstance(v, dict) else {} for v in whole)
        for key in [*before, *(k for k in after if k not in before)]:
            kind = "added" if key not in before else "removed" if key not in after else "changed"
            if before.get(key) != after.get(key):
                out.append(_Change(f"sweep.{key}", kind, before.get(key), after.get(key)))
    return out


def _was(kind: str, side: str, value: Any) -> str:
    return f"{side}: {clip(show(value))}" if kind == "changed" else ""


def _swept_path(path: str, tree: Mapping[str, Any]) -> str:
    return sweep_row_path(path[len("sweep.") :], tree) if path.startswith("sweep.") else path


def _sweep(values: Sequence[Any]) -> str:
    """A sweep's values as a row shows them: all of a few, else their count, first and last."""
    if len(values) <= MAX_SWEEP_SHOWN:
        return clip(" | ".join(show(v) for v in values))
    return f"{len(values)} values: {clip(show(values[0]))} … {clip(show(values[-1]))}"


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".")


class _Walk:
    """Two passes over the graphs: the first numbers the boxes and gathers every key path each
    is reached by; the second writes their rows, now that every path is known."""

    def __init__(self) -> None:
        self.index: dict[int, int] = {}
        self.nodes: list[Any] = []
        self.paths: list[list[str]] = []

    def picture(self, label: str, roots: Sequence[tuple[str, str, Any]], single: bool) -> Picture:
        for _, path, graph in roots:
            self.visit(graph, path)
        captions = {self.index[id(g)]: "" if single else f"task {n}" for n, _, g in roots}
        boxes = [self.box(i, captions.get(i, "")) for i in range(len(self.nodes))]
        uses = [0] * len(boxes)
        for box in boxes:
            for row in box.rows:
                if row.child is not None:
                    uses[row.child] += 1
        return Picture(label, tuple(replace(b, uses=n) for b, n in zip(boxes, uses)))

    def visit(self, node: Any, path: str) -> None:
        if id(node) not in self.index:
            self.index[id(node)] = len(self.nodes)
            self.nodes.append(node)
            self.paths.append([])
        at = self.index[id(node)]
        if path in self.paths[at] or len(self.paths[at]) >= MAX_PATHS:
            return
        self.paths[at].append(path)
        for name, value in _arguments(node):
            for _, child, child_path in _entries(name, value, f"{path}.{name}"):
                if _is_box(child):
                    self.visit(child, child_path)

    def box(self, at: int, caption: str) -> Box:
        node = self.nodes[at]
        rows = []
        for name, value in _arguments(node):
            where = _where(node, name)
            for label, child, relative in _entries(name, value, name):
                paths = tuple(f"{p}.{relative}" for p in self.paths[at])
                if _is_box(child):
                    rows.append(Row(label, "", paths, child=self.index[id(child)], where=where))
                else:
                    rows.append(Row(label, clip(_leaf(child)), paths, where=where))
        callable_ = fdl.get_callable(node)
        title = getattr(callable_, "__qualname__", None) or show(callable_)
        kind = type(node).__name__
        return Box(title, kind, tuple(rows), tuple(self.paths[at]), 0, caption)


def _arguments(node: Any) -> list[tuple[str, Any]]:
    """A buildable's arguments by name; a positional one (``subprocess.run``'s command, for a
    command task) by its position."""
    return [(str(name), value) for name, value in node.__arguments__.items()]


def _entries(name: str, value: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    """(row label, value, key path) of an argument: a container holding buildables is one row
    per element (``callbacks[0]``), anything else one row."""
    if isinstance(value, (list, tuple)) and _holds_box(value):
        for i, item in enumerate(value):
            yield from _entries(f"{name}[{i}]", item, f"{path}.{i}")
    elif isinstance(value, dict) and _holds_box(value):
        for key, item in value.items():
            yield from _entries(f"{name}[{show(key)}]", item, f"{path}.{key}")
    else:
        yield name, value, path


def _holds_box(value: Any) -> bool:
    items = value.values() if isinstance(value, dict) else value
    return any(_is_box(v) or (isinstance(v, (list, tuple, dict)) and _holds_box(v)) for v in items)


def _is_box(value: Any) -> bool:
    return isinstance(value, fdl.Buildable) and not is_env_config(value)


def _leaf(value: Any) -> str:
    if is_env_config(value):
        return str(value.template)
    return show(value)


def _where(node: Any, name: str) -> str:
    history = node.__argument_history__.get(int(name) if name.isdigit() else name)
    return history[-1].location.filename if history else ""
