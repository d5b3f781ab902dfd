"""A large sweep's stream of per-point documents (SkyPilot, Ray) without Jinja per point.

The built-in ``skypilot.yaml.j2`` and ``ray.yaml.j2`` write one document per point, and the
documents differ only in the point's index (its name, ``NEMORUN_POINT``, a submission id) and
its ``# Point i: …`` comment. Jinja for each of 100,000 points takes seconds, so the template
is rendered twice instead, for 2 and for 3 stand-in points whose index and description are
markers (``NEMORUNxPTI2Z``, ``…D2Z``): the output for 3 is the output for 2 plus the third
point's document, which is the template of every later point. Each point's document is then
that text with its index and its description (through the ``comment`` filter, as the
template writes it) in place of the markers.

The stand-in output is checked before it is used, else the template renders every point
(`render_points` returns None): the 3-point output extends the 2-point one, the last
document with its markers renamed is the one before it, and the marker's prefix occurs
nowhere but in the markers (a name that holds it falls back). An index is digits, which
nemorun's quoting filters leave as they are: ``"job-NEMORUNxPTI2Z"`` becomes ``"job-17"``. Only
nemorun's own templates go this way (the driver decides): a user's may do anything.

The output is a `Stream`: chunks of `CHUNK` points, each made when asked for, so that
`nemorun.files.write_atomic` writes a 60 MB stream holding one chunk at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from nemorun.compiler.points import Point, Points, _show

BASE = "NEMORUNxPT"
"""Every marker starts with it; the stand-in output may hold it nowhere else."""
MIN_POINTS = 64
"""Smaller sweeps render every point through the template (it costs less than two renders)."""
CHUNK = 2048
"""Points per chunk of the output."""


def index_marker(slot: int) -> str:
    return f"{BASE}I{slot}Z"


def describe_marker(slot: int) -> str:
    return f"{BASE}D{slot}Z"


@dataclass(frozen=True)
class StandIn:
    """A stand-in point: its index and description are markers."""

    index: str
    text: str

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class StandInPoints(Sequence[Any]):
    """The points a template sees for the stand-in renders: as many as the sweep has (so
    ``job.num_points`` and ``job.is_sweep()`` are the sweep's), but iterating over ``slots``
    stand-ins only; indexed by a stand-in's index marker, or by a position below ``slots``."""

    size: int
    slots: int

    def __len__(self) -> int:
        return self.size

    @overload
    def __getitem__(self, index: int) -> StandIn: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[StandIn]: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, str) and index.startswith(f"{BASE}I"):
            index = int(index[len(BASE) + 1 : -1])
        if not isinstance(index, int) or not 0 <= index < self.slots:
            raise IndexError(index)
        return StandIn(index_marker(index), describe_marker(index))

    def __iter__(self) -> Iterator[StandIn]:
        return (self[slot] for slot in range(self.slots))


Render = Callable[[Any, Any], str]
"""Renders the template for (job, plan)."""
ForSlots = Callable[[Sequence[str]], Any]
"""The plan for stand-in points with these index markers, or None when it has none."""


def render_points(
    job: Any, points: Sequence[Point], for_slots: ForSlots, render: Render
) -> Stream | None:
    """The output for every point of ``points`` (a sweep of at least `MIN_POINTS`), in
    chunks, from two stand-in renders; None when the stand-in output fails a check."""
    import dataclasses

    outputs = []
    for slots in (2, 3):
        plan = for_slots([index_marker(s) for s in range(slots)])
        if plan is None:
            return None
        stand_in = dataclasses.replace(job, points=StandInPoints(len(points), slots))
        outputs.append(render(stand_in, plan))
    split = _split(outputs[0], outputs[1])
    if split is None:
        return None
    return Stream(split[0], split[1], points, _describer(points), CHUNK)


@dataclass(frozen=True)
class Stream(Sequence[str]):
    """The output in chunks of ``size`` points, each made when asked for: writing the stream
    holds one chunk at a time, never the whole (``"".join`` does, when asked for the text)."""

    first: str
    """The first point's output, header included, as a ``%`` format (`_split`)."""
    later: str
    """A later point's document, as a ``%`` format: ``%(i)s`` the index, ``%(d)s`` the
    description."""
    points: Sequence[Point]
    describe: Callable[[int], str]
    size: int

    def __len__(self) -> int:
        return -(-len(self.points) // self.size)

    @overload
    def __getitem__(self, at: int) -> str: ...

    @overload
    def __getitem__(self, at: slice) -> Sequence[str]: ...

    def __getitem__(self, at: int | slice) -> str | Sequence[str]:
        if isinstance(at, slice):
            return [self[k] for k in range(*at.indices(len(self)))]
        if not 0 <= at < len(self):
            raise IndexError(at)
        plain = isinstance(self.points, Points)  # point i's index is i
        start = at * self.size
        return "".join(
            (self.later if i else self.first)
            % {"i": i if plain else self.points[i].index, "d": self.describe(i)}
            for i in range(start, min(start + self.size, len(self.points)))
        )

    def __iter__(self) -> Iterator[str]:
        return (self[k] for k in range(len(self)))


def _split(two: str, three: str) -> tuple[str, str] | None:
    """The first point's output (header included) and a later point's document, each as a
    ``%`` format of its markers (`_format`), or None when they do not read as such."""
    if not three.startswith(two):
        return None
    third = three[len(two) :]
    second = third.replace(index_marker(2), index_marker(1))
    second = second.replace(describe_marker(2), describe_marker(1))
    if not two.endswith(second) or index_marker(2) not in third:
        return None
    head = two[: len(two) - len(second)]
    if head.count(BASE) != head.count(index_marker(0)) + head.count(describe_marker(0)):
        return None
    if third.count(BASE) != third.count(index_marker(2)) + third.count(describe_marker(2)):
        return None
    return _format(head, 0), _format(third, 2)


def _format(text: str, slot: int) -> str:
    """``text`` as a ``%`` format: its own ``%`` doubled, the markers ``%(i)s`` and ``%(d)s``
    (one ``%`` with a mapping per point, in C, rather than a join of its pieces)."""
    text = text.replace("%", "%%")
    return text.replace(index_marker(slot), "%(i)s").replace(describe_marker(slot), "%(d)s")


def _describer(points: Sequence[Point]) -> Callable[[int], str]:
    """Point ``i``'s description as the template writes it (``comment`` filter). For a
    cartesian sweep, each axis value's text is made once: the comment of a description is the
    comments of its words joined by spaces."""
    from nemorun.compiler.render import comment

    if not isinstance(points, Points):
        return lambda i: comment(points[i].describe())
    words = [
        [comment(f"{label}={_show(value)}") for value in axis.values]
        for label, axis in zip(points.labels, points.axes)
    ]
    sizes = [len(axis) for axis in points.axes]

    def describe(i: int) -> str:
        picked = []
        for axis_words, size in zip(reversed(words), reversed(sizes)):
            i, at = divmod(i, size)
            picked.append(axis_words[at])
        return " ".join(reversed(picked))

    return describe
