"""``nemorun new`` on real libraries' signatures (torch, Lightning, scikit-learn): the spec it
writes validates once filled in, and builds the object the library's own defaults would.

Skipped when the libraries are not installed (``pip install -e '.[libs]'``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
lightning = pytest.importorskip("lightning")
sklearn = pytest.importorskip("sklearn")

import fiddle as fdl  # noqa: E402

from nemorun import api  # noqa: E402
from nemorun.compiler.graph import task_graph  # noqa: E402
from nemorun.errors import SpecErrors  # noqa: E402


def built(workdir: Path, text: str, fmt: str = "yaml") -> Any:
    """What the spec's task builds: the graph, built (a partial of the callable)."""
    path = workdir / f"spec.{fmt}"
    path.write_text(text, encoding="utf-8")
    return fdl.build(task_graph(api.load(path)))


@pytest.mark.parametrize("fmt", ["yaml", "toml"])
def test_adamw_as_a_partial_gets_torch_own_defaults(workdir: Path, fmt: str) -> None:
    text = api.new("torch.optim:AdamW", fmt)
    placeholder = "  params: ???\n" if fmt == "yaml" else 'params = "???"\n'
    assert placeholder in text
    path = workdir / f"raw.{fmt}"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecErrors) as info:
        api.load(path)
    assert [e.message for e in info.value.errors] == ["required value not filled in"]
    assert "# float | Tensor: learning rate (default: 1e-3)." in text
    partial = "  _partial_: true\n" if fmt == "yaml" else "_partial_ = true\n"
    make = built(workdir, text.replace(placeholder, partial), fmt)
    params = [torch.nn.Parameter(torch.zeros(2))]
    assert make(params).defaults == torch.optim.AdamW(params).defaults


def test_trainer_spec_validates_as_written(workdir: Path) -> None:
    text = api.new("lightning:Trainer")
    assert "Fill in" not in text  # every argument has a default
    assert "  accelerator: auto\n" in text and "  max_steps: -1\n" in text
    call = api.load(_write(workdir, text)).tasks["task"].call
    assert call is not None
    assert call.args["devices"] == "auto" and call.args["precision"] is None


def test_logistic_regression_builds_with_sklearn_own_defaults(workdir: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    text = api.new("sklearn.linear_model:LogisticRegression", "toml")
    model = built(workdir, text, "toml")()
    expected = LogisticRegression().get_params()
    # TOML has no null: those defaults are left out, and the library's own apply.
    assert model.get_params() == expected


def _write(workdir: Path, text: str) -> Path:
    path = workdir / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path
