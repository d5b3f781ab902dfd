"""``nemorun fmt``'s rewrite (`nemorun.schemas.canonical`): idempotent, meaning-preserving (the
loaded tree, the written text of every plain scalar and the resolved spec are the same before
and after), comments and key order kept, over generated specs with hostile strings."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from conftest import EXAMPLES
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from spec_texts import task_specs, toml_specs, yaml_specs

from nemorun import api
from nemorun.errors import SpecErrors
from nemorun.schemas.canonical import format_spec, reading
from nemorun.schemas.source import parse_document

YAML = Path("spec.yaml")
TOML = Path("spec.toml")
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parses(text: str, path: Path) -> bool:
    try:
        parse_document(text, path, path.name)
    except SpecErrors:
        return False
    return True


def lossy(text: str) -> bool:
    """Where ruamel.yaml drops comments: next to an alias, after an empty block scalar."""
    return "*n" in text or re.search(r"[|>][-+]?\n\s*\n", text) is not None


@PROPERTY
@given(yaml_specs())
def test_yaml_fmt_is_idempotent_keeps_meaning_and_comments(drawn: tuple[str, list[str]]) -> None:
    text, comments = drawn
    assume(parses(text, YAML))
    try:
        once = format_spec(text, YAML, "spec.yaml")  # raises if nemorun would read it otherwise
    except SpecErrors as exc:  # the refusals allowed: ruamel.yaml drops those comments
        assert lossy(text) and "cannot keep this comment" in str(exc), exc
        event("refused: a comment ruamel.yaml drops")
        return
    assert format_spec(once, YAML, "spec.yaml") == once
    before, after = parse_document(text, YAML), parse_document(once, YAML)
    assert reading(after) == reading(before)
    assert next(iter(after.tree)) == "nemorun"
    for marker in comments:
        assert marker in once, marker


@PROPERTY
@given(toml_specs())
def test_toml_fmt_is_idempotent_and_keeps_meaning(text: str) -> None:
    assume(parses(text, TOML))
    once = format_spec(text, TOML, "spec.toml")
    assert format_spec(once, TOML, "spec.toml") == once
    assert reading(parse_document(once, TOML)) == reading(parse_document(text, TOML))
    assert "\n\n\n" not in once
    entries = [line for line in once.splitlines() if "=" in line and not line.startswith("#")]
    assert entries[0].startswith("nemorun = ")
    assert not [line for line in entries if line.startswith((" ", "\t"))]


def fmt(text: str, path: Path = YAML) -> str:
    return format_spec(textwrap.dedent(text), path, path.name)


def test_numbers_keep_their_spelling_since_a_str_field_receives_it() -> None:
    text = "nemorun: 1\ntask: {a: 007, b: 1e3, c: 1_000, d: 0x1F, e: +1, f: -0.0, g: .5}\n"
    assert fmt(text) == text


def test_layout_quotes_and_nemorun_first() -> None:
    out = fmt(
        """\
        # header
        name:    demo   # the run's name
        task:
            _target_: trainlib:train
            tags:
            - 'a'
            - 'it''s'
            - "back\\\\slash"
            text: |
                two
                lines
        nemorun: 1
        """
    )
    assert out == textwrap.dedent(
        """\
        # header
        nemorun: 1
        name: demo      # the run's name
        task:
          _target_: trainlib:train
          tags:
            - "a"
            - "it's"
            - 'back\\slash'
          text: |
            two
            lines
        """
    )


def test_toml_layout() -> None:
    out = fmt(
        """\
        name   =  "x"   # eol
          nemorun=1


        [task]
            steps =  3
        """,
        TOML,
    )
    assert out == 'nemorun = 1\nname = "x"   # eol\n\n[task]\nsteps = 3\n'


@pytest.mark.parametrize("name", ["quickstart.yaml", "pretrain.yaml", "finetune.toml"])
def test_the_example_specs_are_already_formatted(name: str) -> None:
    path = EXAMPLES.parent / "configs" / name
    text = path.read_text()
    assert format_spec(text, path, name) == text


def test_the_resolved_spec_is_the_same_after_fmt(tmp_path: Path) -> None:
    """The whole pipeline (extends, interpolation, types) reads the rewrite as the original."""
    messy = textwrap.dedent(
        f"""\
        name: messy   # first
        pythonpath: ['{EXAMPLES}']
        task:
           _target_: trainlib:train
           model: &m
              hidden_size: 32
              activation: 'GELU'
           optim: {{name: adam, lr: 1.0e-3, betas: [0.9, 0.98]}}
           steps: 007
           tag: yes
        # the version
        nemorun: 1
        """
    )
    original, formatted = tmp_path / "a.yaml", tmp_path / "b.yaml"
    original.write_text(messy)
    formatted.write_text(format_spec(messy, original, "a.yaml"))
    assert formatted.read_text() != messy
    assert api.export(api.load(original), "yaml") == api.export(api.load(formatted), "yaml")


PROBE = """\
from typing import Any


def probe(a: Any = None, b: str = "", lr: float = 0.0, steps: int = 0, name: str = "",
          model: Any = None, optim: dict[str, Any] | None = None) -> None:
    pass
"""


def outcome(path: Path) -> object:
    """What nemorun makes of a spec file: the resolved spec (exported), or its errors (without
    their line numbers, which a moved comment may shift)."""
    try:
        return api.export(api.load(path), "yaml")
    except SpecErrors as exc:
        return [(e.message, e.path, e.expected, e.found) for e in exc.errors]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_resolved_spec_is_the_same_after_fmt_property(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    where = tmp_path_factory.mktemp("probe")
    (where / "fmtprobe.py").write_text(PROBE)
    text, _ = data.draw(task_specs("fmtprobe:probe", str(where)))
    original, formatted = where / "a.yaml", where / "b.yaml"
    original.write_text(text)
    assume(parses(text, original))
    try:
        formatted.write_text(format_spec(text, original, "a.yaml"))
    except SpecErrors as exc:  # the refusals allowed, as above
        assert lossy(text) and "cannot keep this comment" in str(exc), exc
        return
    resolved = outcome(original)
    event("resolved" if isinstance(resolved, str) else "errors")
    assert outcome(formatted) == resolved
