"""A short fuzz campaign in every test run (see fuzzer.py for the long one and its oracles)."""

from __future__ import annotations

import os

import fuzzer


def test_a_short_fuzz_campaign_finds_no_traceback_and_no_hang() -> None:
    seed = int(os.environ.get("NEMORUN_FUZZ_SEED", "0"))
    tally = fuzzer.run(int(os.environ.get("NEMORUN_FUZZ_INPUTS", "200")), seed)
    print(tally.report())
    assert tally.failures == [], tally.failures[0]
    assert tally.tracebacks == 0 and tally.hangs == 0
    assert tally.accepted > 0 and tally.clean_errors > 0  # both sides of the oracle were exercised
