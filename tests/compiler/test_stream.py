"""A large SkyPilot or Ray sweep rendered from two stand-in renders (`nemorun.compiler.stream`)
is byte for byte what Jinja writes rendering every point.

- a table of small sweeps, each compiled both ways (the stand-in path forced by lowering
  ``MIN_POINTS``, and shown to be taken): one axis, grids, hostile strings as values, a run
  (Ray's submission ids), shared and embedded entries, one task of several;
- a hypothesis test: any Unicode as the values of one or two axes;
- where the stand-in path must not be taken (``one_job`` packing, a name holding the markers'
  prefix, a user's template directory), the output is Jinja's, and a user's template still
  sees every point;
- the chunks are written to the file one after another.
Each point's job receiving its values is tests/compiler/test_skypilot.py's and test_ray.py's
(their sweeps are compiled with the same driver, below ``MIN_POINTS``) and
test_large_sweeps.py's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nemorun.api import load_for_target
from nemorun.compiler import stream
from nemorun.compiler.job import RunContext
from nemorun.compiler.tasks import compile_tasks
from nemorun.files import write_atomic

FIXTURES = Path(__file__).resolve().parent
HOSTILE = ["", "-n", "$(touch pwned)", "a'b\"c", "x\ny", "\\", "!!", "NRPTI0Z", "é \u2028\x85\t"]
RUN = RunContext("20260101-000000-job-abc123", Path("/runs/job"))


def spec(tmp_path: Path, target: str, sweep: dict[str, Any], extra: dict[str, Any]) -> Path:
    tree: dict[str, Any] = {
        "nemorun": 1,
        "name": "job",
        "pythonpath": [str(FIXTURES)],
        "task": {"_target_": "fixtures_entry:probe", "out": "out.json"},
        "sweep": sweep,
        "executor": {"target": target},
    }
    for key, value in extra.items():
        tree[key] = {**tree[key], **value} if isinstance(tree.get(key), dict) else value
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=False), encoding="utf-8")
    return path


def build(
    path: Path,
    target: str,
    monkeypatch: pytest.MonkeyPatch,
    fast: bool,
    run: RunContext | None = None,
    templates: Path | None = None,
) -> tuple[list[str], list[bool]]:
    """The main artifacts' texts, and whether each stand-in render was used."""
    used: list[bool] = []
    render_points = stream.render_points

    def spy(*args: Any) -> tuple[str, ...] | None:
        chunks = render_points(*args)
        used.append(chunks is not None)
        return chunks

    with monkeypatch.context() as patch:
        patch.setattr(stream, "MIN_POINTS", 2 if fast else 10**9)
        patch.setattr(stream, "CHUNK", 3)  # several chunks even for a small sweep
        patch.setattr(stream, "render_points", spy)
        spec_, warnings = load_for_target(path, (), target)
        built = compile_tasks(spec_, target, templates=templates, warnings=warnings, run=run)
    return [a.text for task in built.tasks for a in task.artifacts.mains], used


def same_both_ways(
    path: Path, target: str, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> tuple[list[str], list[bool]]:
    jinja, _ = build(path, target, monkeypatch, fast=False, **kwargs)
    texts, used = build(path, target, monkeypatch, fast=True, **kwargs)
    assert texts == jinja
    return texts, used


CASES = {
    "one axis": ({"count": list(range(7))}, {}),
    "grid": ({"count": [1, 2, 3], "task.name": ["a", "b c"], "flag": [True, False]}, {}),
    "hostile values": ({"task.name": HOSTILE}, {}),
    "hostile grid": ({"task.name": HOSTILE[:4], "ratio": [0.5, 1e-9]}, {}),
    "env and setup": (
        {"count": [1, 2, 3]},
        {"executor": {"env": {"A": "x'y", "B": "${oc.env:HOME}"}, "setup": ["echo é"]}},
    ),
    "torchrun (skypilot)": (
        {"count": [1, 2, 3]},
        {"launcher": {"kind": "torchrun"}, "executor": {"nodes": 2, "workdir": "."}},
    ),
    "several tasks": (
        {"tasks.b.task.count": [1, 2, 3, 4]},
        {
            "task": None,
            "tasks": {
                "a": {"task": {"command": "echo a"}},
                "b": {"task": {"_target_": "fixtures_entry:probe", "out": "o"}},
            },
        },
    ),
}


@pytest.mark.parametrize(
    "target, case",
    [(t, c) for t in ("skypilot", "ray") for c in CASES if t == "skypilot" or "torchrun" not in c],
)
@pytest.mark.parametrize("run", [None, RUN], ids=["compile", "run"])
def test_the_stand_in_render_writes_what_jinja_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, case: str, run: Any
) -> None:
    sweep, extra = CASES[case]
    extra = {k: v for k, v in extra.items() if v is not None}
    path = spec(tmp_path, target, sweep, extra)
    if "tasks" in extra:
        tree = yaml.safe_load(path.read_text(encoding="utf-8"))
        del tree["task"]
        path.write_text(yaml.safe_dump(tree, allow_unicode=False), encoding="utf-8")
    texts, used = same_both_ways(path, target, monkeypatch, run=run)
    assert used and all(used)
    loaded = list(yaml.safe_load_all(texts[-1]))
    assert (len(loaded) if target == "skypilot" else len(loaded[0]["jobs"])) >= 3


def test_a_large_shipped_entry_and_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 300 points share one shipped entry (past EMBED_BYTES); every name and NEMORUN_POINT.
    path = spec(tmp_path, "skypilot", {"count": list(range(300))}, {})
    (text,), used = same_both_ways(path, "skypilot", monkeypatch, run=RUN)
    assert used == [True]
    documents = list(yaml.safe_load_all(text))
    assert [d["name"] for d in documents] == [f"job-{i}" for i in range(300)]
    assert [d["envs"]["NEMORUN_POINT"] for d in documents] == [str(i) for i in range(300)]
    assert text.count("\n# Point 299: count=299\n") == 1


def test_ray_requests_name_their_own_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = spec(tmp_path, "ray", {"count": [5, 6], "task.name": ["x", "y", "z"]}, {})
    (text,), used = same_both_ways(path, "ray", monkeypatch, run=RUN)
    assert used == [True]
    jobs = yaml.safe_load(text)["jobs"]
    assert [j["submission_id"] for j in jobs] == [f"nemorun-{RUN.id}-job-{i}" for i in range(6)]
    assert [j["runtime_env"]["env_vars"]["NEMORUN_POINT"] for j in jobs] == [
        str(i) for i in range(6)
    ]
    assert [j["metadata"]["nemorun_points"] for j in jobs] == [str(i) for i in range(6)]
    assert "# Point 4: count=6 name=y\n- entrypoint" in text


@pytest.mark.parametrize(
    "target, extra",
    [
        ("ray", {"executor": {"packing": "one_job"}}),
        ("skypilot", {"name": "NEMORUNxPT-job"}),
        ("ray", {"name": "NEMORUNxPTD0Z"}),
        ("skypilot", {"task": {"name": "NEMORUNxPTI1Z"}}),
    ],
    ids=["one_job", "skypilot name with the prefix", "ray name as a marker", "marker in entry"],
)
def test_where_stand_ins_cannot_be_used_jinja_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str, extra: dict[str, Any]
) -> None:
    path = spec(tmp_path, target, {"count": [1, 2, 3, 4]}, extra)
    _, used = same_both_ways(path, target, monkeypatch)
    assert used == [False]


@pytest.mark.parametrize("target", ["skypilot", "ray"])
def test_a_users_template_sees_every_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    name = "skypilot.yaml.j2" if target == "skypilot" else "ray.yaml.j2"
    # Depends on the point in a way the stand-ins would get wrong: its index times 7.
    (templates / name).write_text(
        "{% for point in job.points %}{{ point.index * 7 }},{% endfor %}\n", encoding="utf-8"
    )
    path = spec(tmp_path, target, {"count": list(range(5))}, {})
    (text,), used = build(path, target, monkeypatch, fast=True, templates=templates)
    assert text == "0,7,14,21,28,"
    assert used == []


VALUES = st.lists(st.text(st.characters(exclude_categories=("Cs",))), min_size=1, max_size=4)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    first=VALUES, second=st.one_of(st.none(), VALUES), target=st.sampled_from(["skypilot", "ray"])
)
def test_any_values_render_the_same_both_ways(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    first: list[str],
    second: list[str] | None,
    target: str,
) -> None:
    sweep: dict[str, Any] = {"task.name": first}
    if second is not None:
        sweep["task.out"] = second
    if len(first) * len(second or [0]) < 2:
        sweep["count"] = [1, 2]
    path = spec(tmp_path, target, sweep, {})
    _, used = same_both_ways(path, target, monkeypatch, run=RUN)
    assert used == [True]


def test_chunks_are_written_one_after_another(tmp_path: Path) -> None:
    path = tmp_path / "out" / "stream.yaml"
    chunks = ("a" * 3_000_000, "é\n", "", "z")
    write_atomic(path, chunks, 0o644)
    assert path.read_bytes() == "".join(chunks).encode("utf-8")
    assert not [p for p in path.parent.iterdir() if p != path]
