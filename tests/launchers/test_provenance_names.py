"""The top-level names of each installed distribution, read from its RECORD as text, are the
ones its `Distribution.files` give (how they were found before, at half a second a run)."""

from __future__ import annotations

import sys
from importlib import metadata

from nemorun.launchers.provenance import task_packages, top_level_names


def from_files(dist: metadata.Distribution) -> set[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return set(text.split())
    names = set()
    for file in dist.files or ():
        first = file.parts[0] if file.parts else ""
        if len(file.parts) > 1 and not first.endswith((".dist-info", ".egg-info", "__pycache__")):
            names.add(first)
        elif file.suffix == ".py" and len(file.parts) == 1:
            names.add(file.stem)
    return names


def test_every_installed_distribution_gives_the_same_names() -> None:
    dists = list(metadata.distributions(path=sys.path))
    assert len(dists) > 20
    without_top_level = [d for d in dists if not d.read_text("top_level.txt")]
    assert without_top_level  # the RECORD path is exercised
    for dist in dists:
        assert top_level_names(dist) == from_files(dist), dist.metadata["Name"]


def test_the_task_packages_name_their_distributions() -> None:
    found = task_packages(["yaml", "jinja2.sandbox", "hydra.core"])
    assert found["PyYAML"]["modules"] == ["yaml"]
    assert found["Jinja2"]["modules"] == ["jinja2.sandbox"]
    assert found["hydra-core"]["version"] == metadata.version("hydra-core")
    assert "MarkupSafe" in found["Jinja2"]["requires"]
