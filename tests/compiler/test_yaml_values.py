"""`render.yaml_value` writes a string of printable ASCII without `"` or `\\` (every sweep
point's name and index in a SkyPilot stream) between quotes itself, without PyYAML's emitter:
the result must be the emitter's, byte for byte, and anything else still goes through it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nemorun.compiler.render import _dumped, yaml_value

ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=40)
UNICODE = st.text(max_size=20)


@settings(max_examples=2000, deadline=None)
@given(ASCII | UNICODE, st.booleans())
def test_a_string_reads_as_the_emitter_writes_it(text: str, block: bool) -> None:
    assert yaml_value(text, block) == _dumped(text, block)


def test_names_and_indexes_of_a_sweep() -> None:
    for text in ("quickstart-99999", "99999", "", " a b ", "null", "#x", "- x", "a: b"):
        assert yaml_value(text) == f'"{text}"' == _dumped(text, False)
    assert yaml_value('a"b') == _dumped('a"b', False) == '"a\\"b"'
