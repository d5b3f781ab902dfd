"""Properties of overrides and sweeps over generated values (hypothesis).

- Overrides applied, then exported in each format and loaded again, give every point the same
  call tree as the original.
- A sweep compiled twice, for every target, is byte-identical.
- A value written as a Hydra literal arrives as that value (hostile text included).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nemorun.api import load, load_for_target
from nemorun.compiler.driver import compile_spec
from nemorun.compiler.entry import specs_at
from nemorun.compiler.export import export
from nemorun.schemas.convert import Call

HERE = Path(__file__).resolve().parent
SPEC = f"""\
nemorun: 1
name: prop
pythonpath: [{HERE}]
task:
  _target_: tablelib:job
  cfg: {{a: 1, b: {{c: 2}}, l: [x, y]}}
  tag: base
"""
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text without '$' and '\\' (which start interpolations and escapes: covered by the table).
text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="$\\"), max_size=12
)
scalars = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32).filter(lambda f: f == f),
    st.booleans(),
    text,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), inner, max_size=3),
    ),
    max_leaves=6,
)
keys = st.sampled_from(["cfg.a", "cfg.b.c", "cfg.new", "cfg.b.d", "cfg.l.0"])


def literal(value: Any) -> str:
    """``value`` in Hydra's override grammar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    if isinstance(value, list):
        return "[" + ",".join(literal(v) for v in value) + "]"
    return "{" + ",".join(f"{k}:{literal(v)}" for k, v in value.items()) + "}"


def write_spec(tmp_path: Path) -> Path:
    path = tmp_path / "prop.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def shape(value: Any) -> Any:
    """A call tree as plain data (calls compare by identity), types kept: 1 is not 1.0."""
    if isinstance(value, Call):
        return ("call", value.target, value.partial, shape(value.args))
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [shape(v) for v in value]
    return (type(value).__name__, value)


def calls(path: Path, overrides: Sequence[str] = ()) -> list[Any]:
    spec = load(path, overrides)
    return [shape(s.task.call) for s in specs_at(spec, list(spec.points()))]


@SETTINGS
@given(key=keys, value=values)
def test_a_literal_arrives_as_that_value(tmp_path: Path, key: str, value: Any) -> None:
    spec = load(write_spec(tmp_path), [f"{key}={literal(value)}"])
    assert spec.task.call is not None
    node: Any = spec.task.call.args["cfg"]
    *parents, last = key.split(".")[1:]
    for part in parents:
        node = node[part]
    got = node[int(last)] if isinstance(node, list) else node[last]
    assert got == value and type(got) is type(value)


@SETTINGS
@given(
    sets=st.lists(st.tuples(keys, values), max_size=3),
    sweep=st.tuples(keys, st.lists(values, min_size=1, max_size=3)),
    fmt=st.sampled_from(["yaml", "json", "toml"]),
)
def test_overrides_then_export_then_load_is_the_same_at_every_point(
    tmp_path: Path, sets: list[tuple[str, Any]], sweep: tuple[str, list[Any]], fmt: str
) -> None:
    path = write_spec(tmp_path)
    overrides = [f"{k}={literal(v)}" for k, v in sets]
    overrides.append(f"{sweep[0]}=" + ",".join(literal(v) for v in sweep[1]))
    before = calls(path, overrides)
    out = tmp_path / f"exported.{fmt}"
    out.write_text(export(load(path, overrides), fmt, tmp_path), encoding="utf-8")
    assert calls(out) == before


@SETTINGS
@given(
    sweep=st.lists(values, min_size=1, max_size=4),
    target=st.sampled_from(["local", "slurm", "docker", "skypilot"]),
)
def test_a_sweep_compiles_byte_identically_twice(
    tmp_path: Path, sweep: list[Any], target: str
) -> None:
    path = write_spec(tmp_path)
    overrides = ["cfg.a=" + ",".join(literal(v) for v in sweep), "tag=t_${task.cfg.a}"]

    def texts() -> list[str]:
        spec, warnings = load_for_target(path, overrides, target)
        artifacts = compile_spec(spec, target, warnings=warnings)
        return [a.text for a in artifacts.all()]

    assert texts() == texts()
