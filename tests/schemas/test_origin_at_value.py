"""`Origin.at_value` builds the moved origin field by field (it is on the per-value path of
large sweeps): it must keep every other field, including one added later."""

from __future__ import annotations

import dataclasses

from nemorun.errors import Origin


def test_at_value_moves_the_position_and_keeps_every_other_field() -> None:
    values = {f.name: f"{f.name}!" for f in dataclasses.fields(Origin)}
    values.update(line=1, column=2, value_line=3, value_column=4)
    origin = Origin(**values)  # type: ignore[arg-type]
    assert origin.at_value() == dataclasses.replace(origin, line=3, column=4)
    assert Origin(file="f", line=1).at_value() == Origin(file="f", line=1)
