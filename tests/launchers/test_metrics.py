"""The ``metrics.jsonl`` format: what counts as a metric, what is skipped, and the pictures."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from nemorun.launchers.metrics import Metrics, parse_metrics, read_metrics, sparkline
from nemorun.launchers.metrics_svg import metrics_svg


def test_steps_values_and_the_last_of_each() -> None:
    text = (
        '{"step": 10, "loss": 0.5, "acc": 0.1}\n'
        '{"step": 20, "loss": 0.25, "note": "lr halved", "flag": true}\n'
        '{"acc": 0.3}\n'
    )
    found = parse_metrics(text)
    assert found.series == {"loss": ((10.0, 0.5), (20.0, 0.25)), "acc": ((10.0, 0.1), (3.0, 0.3))}
    assert found.last() == {"loss": 0.25, "acc": 0.3}
    assert found.skipped_lines == 0


def test_bad_lines_are_counted_and_a_half_written_last_line_ignored() -> None:
    text = (
        '{"step": 1, "loss": 1.0}\n'
        "not json\n"
        "[1, 2]\n"
        '{"step": "one", "loss": 2}\n'
        '{"loss": NaN}\n'
        "\n"
        '{"step": 3, "loss": 0.5}\n'
        '{"step": 4, "lo'
    )
    found = parse_metrics(text)
    assert found.series == {"loss": ((1.0, 1.0), (3.0, 0.5))}
    assert found.skipped_lines == 3  # NaN is JSON to Python but not a finite metric: dropped


def test_no_file_is_no_metrics(tmp_path: Path) -> None:
    assert read_metrics(tmp_path / "missing" / "metrics.jsonl") == Metrics()
    (tmp_path / "m.jsonl").write_bytes(b'{"loss": 1}\n\xff\xfe\n')
    assert read_metrics(tmp_path / "m.jsonl").skipped_lines == 1


def test_sparkline_spans_the_range_and_fits_the_width() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([2, 2, 2]) == "▅▅▅"
    assert len(sparkline(list(range(1000)), 40)) == 40
    assert sparkline([]) == ""


def test_svg_is_valid_xml_with_a_line_per_metric_and_escaped_names() -> None:
    svg = metrics_svg({"loss<&>": ((0, 1.0), (1, 0.5), (2, 0.25)), "acc": ((0, 0.5),)}, "run x")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(f"{ns}polyline")
    assert len(lines) == 2
    assert len(lines[0].attrib["points"].split()) == 3
    texts = "".join(root.itertext())
    assert "loss<&>" in texts and "last 0.25" in texts
    assert metrics_svg({"a": ((0, 1.0),)}) == metrics_svg({"a": ((0, 1.0),)})
