"""Exports write values as validation read them, so JSON and TOML (which keep no text as
typed) load back to the same run: found by the fuzzer."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT

from nemorun.api import load
from nemorun.compiler.export import export

QUICKSTART = ROOT / "configs" / "quickstart.yaml"


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
@pytest.mark.parametrize(
    "overrides",
    [
        ("tag=0.1,007,true",),
        ("tag=1.50,2.0",),
        ("name=0.5",),
        ("++executor.target=slurm", "++executor.partition=nan", "++executor.account=007"),
    ],
)
def test_text_typed_as_numbers_survives_every_format(
    tmp_path: Path, fmt: str, overrides: tuple[str, ...]
) -> None:
    spec = load(QUICKSTART, overrides)
    out = tmp_path / f"again.{fmt}"
    out.write_text(export(spec, fmt, tmp_path), encoding="utf-8")
    again = load(out)
    assert again.name == spec.name
    assert again.executor == spec.executor
    points = [again.at_point(p).task.call.args.get("tag") for p in again.points()]  # type: ignore[union-attr]
    assert points == [spec.at_point(p).task.call.args.get("tag") for p in spec.points()]  # type: ignore[union-attr]


@pytest.mark.parametrize("fmt", ["yaml", "json", "toml"])
def test_a_literal_dollar_brace_in_pythonpath_stays_literal(tmp_path: Path, fmt: str) -> None:
    code = tmp_path / "lib${x}"
    code.mkdir()
    (code / "litmod.py").write_text("def f(n: int = 0) -> None:\n    print(n)\n")
    spec_path = tmp_path / "s.yaml"
    spec_path.write_text(
        "nemorun: 1\npythonpath: ['lib\\${x}']\ntask: {_target_: 'litmod:f', n: 3}\n"
    )
    spec = load(spec_path)
    out = tmp_path / f"again.{fmt}"
    out.write_text(export(spec, fmt, tmp_path), encoding="utf-8")
    assert load(out).pythonpath == spec.pythonpath == [code.resolve()]
