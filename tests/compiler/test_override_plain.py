"""Plain overrides are read without hydra, to exactly hydra's result.

`parse_plain` must either decline an override (hydra then reads it) or give the very
`Override` that hydra's parser, converted, gives: same kind, key, value and value type,
sweep values and their texts. Hypothesis writes overrides from the characters that matter to
hydra's lexer (signs, dots, underscores, exponents, the words it types, commas, and the ones
that must send the text to hydra).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemorun.compiler.override_parse import (
    Override,
    _convert,
    _parser,
    parse_overrides,
    parse_plain,
)
from nemorun.errors import SpecErrors

PIECES = [
    *"0123456789",
    *"abeEzZ_-+./:%*@?|",
    "inf", "NaN", "true", "False", "null", "NULL", "1_0", "1e5", ".5", "e-3", "$", "${a}",
    "'", '"', " ", "\\", "(", ")", "[", "]", "{", "}", "=", ",", "~",
]  # fmt: skip
PLAIN_PIECES = [*PIECES[:36], ","]  # no quote, space, escape, bracket, interpolation
KEY_PIECES = ["a", "b_c", "d-e", "0", "12", "1_0", "01", ".", "$x", "A9", "-", "/"]


def hydra(text: str) -> Override | Exception:
    """What hydra's parser gives, converted to our `Override` (or what it raised)."""
    try:
        return _convert(_parser().parse_override(text), 0, text)
    except Exception as exc:
        return exc


def shape(override: Override) -> Any:
    """Everything an `Override` carries, with each value's type (1, 1.0 and True differ)."""

    def typed(value: Any) -> Any:
        return (type(value).__name__, repr(value))

    sweep = None if override.sweep is None else [typed(v) for v in override.sweep]
    return (*[repr(f) for f in (override.kind, override.key, override.has_value)],
            typed(override.value), override.raw_value, sweep, override.texts)  # fmt: skip


overrides = st.builds(
    lambda prefix, key, equals, value: f"{prefix}{''.join(key)}{equals}{''.join(value)}",
    st.sampled_from(["", "+", "++", "~", "+++", "~+"]),
    st.lists(st.sampled_from(KEY_PIECES), min_size=1, max_size=4),
    st.sampled_from(["=", "=", "=", ""]),
    st.lists(st.sampled_from(PIECES), max_size=6),
)

plain_like = st.builds(
    lambda prefix, key, value: f"{prefix}{'.'.join(key)}={''.join(value)}",
    st.sampled_from(["", "+", "++", "~"]),
    st.lists(st.sampled_from(["a", "b_c", "d-e", "0", "12", "1_0"]), min_size=1, max_size=3),
    st.lists(st.sampled_from(PLAIN_PIECES), max_size=8),
)


RANGE_ARGS = ["0", "1", "-3", "7", "1_0", "2.5", "-0.5", ".5", "1e1", "1E-1", "true", "inf", "x",
              " 2", ""]  # fmt: skip
ranges = st.builds(
    lambda prefix, args: f"{prefix}k=range({','.join(args)})",
    st.sampled_from(["", "+", "++"]),
    st.lists(st.sampled_from(RANGE_ARGS), min_size=1, max_size=4),
)


@settings(max_examples=3000, deadline=None)
@given(overrides | plain_like | ranges)
def test_plain_overrides_read_as_hydra_reads_them(text: str) -> None:
    plain = parse_plain(0, text)
    if plain is None:
        return
    expected = hydra(text)
    assert isinstance(expected, Override), f"{text!r}: hydra refused it: {expected}"
    assert shape(plain) == shape(expected), text


PLAIN = [
    "optim.lr=3e-4", "steps=10", "+cfg.new=1", "++cfg.a=x", "~cfg.z", "~cfg.a=1",
    "lr=0.1,0.2,0.3", "tag=007", "name=a-b_c", "path=/data/x:/y", "flag=TRUE", "z=null",
    "v=-inf", "n=1_000", "list.0=5", "s=", "+a=1,b,null",
    "k=range(0,3)", "k=range(5)", "++k=range(0,1,0.1)", "k=range(10,0,-3)", "k=range(1,1001)",
    "k=range(1_0,2e1,2.5)", "k=range(-2.5,0)", "k=range(0,1,1e-1)",
]  # fmt: skip
HYDRA = ["k='a b'", "k=[1,2]", "k={a:1}", "k=range(0, 3)", "k=${x}", "k= 1", "k=a\\,b", "~k=1,2",
         "k=" + "9" * 5000, "k=range(0,3,0)", "k=range(3,0)", "k=range(0,inf)", "k=range(a,3)",
         "k=range(start=0,stop=3)", "k=range(1,2,3,4)", "k=range(true,3)", "~k=range(0,3)",
         "k=range(0,10**9)", "k=range(0,1000000000)"]  # fmt: skip


@pytest.mark.parametrize("text", PLAIN)
def test_plain_forms_skip_hydra_and_agree_with_it(text: str) -> None:
    plain = parse_plain(0, text)
    assert plain is not None
    expected = hydra(text)
    assert isinstance(expected, Override)
    assert shape(plain) == shape(expected)


@pytest.mark.parametrize("text", HYDRA)
def test_everything_else_goes_to_hydra(text: str) -> None:
    assert parse_plain(0, text) is None
    expected = hydra(text)
    if isinstance(expected, Override):
        assert shape(parse_overrides([text])[0]) == shape(expected)
    else:  # refused by hydra or by the conversion: a located error, never a traceback
        with pytest.raises(SpecErrors, match=r"^override 1 "):
            parse_overrides([text])


def test_plain_overrides_do_not_import_hydra(tmp_path: Any) -> None:
    """The point of the fast path: a command with plain overrides never loads hydra."""
    code = (
        "import sys\n"
        "from nemorun.compiler.override_parse import parse_overrides\n"
        f"parse_overrides({PLAIN!r})\n"
        "assert not [m for m in sys.modules if m.startswith(('hydra', 'antlr4'))], 'hydra'\n"
        "parse_overrides(['k=[1,2]'])\n"
        "assert 'hydra' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
