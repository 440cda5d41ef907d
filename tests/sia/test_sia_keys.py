"""The menu key tally: counts by (flow, step, key), timeouts and invalid keys included."""

from __future__ import annotations

from pycc.sia.keys import INVALID, TIMEOUT, KeyTally


def test_counts_add_up_per_flow_step_and_key() -> None:
    tally = KeyTally()
    for key in ["1", "1", TIMEOUT, "2", INVALID, "1"]:
        tally.add("main", "menu1", key)
    tally.add("sales", "menu1", "1")
    assert tally.counts() == {
        ("main", "menu1", "1"): 3, ("main", "menu1", TIMEOUT): 1, ("main", "menu1", "2"): 1,
        ("main", "menu1", INVALID): 1, ("sales", "menu1", "1"): 1,
    }
    assert len(tally) == 5


def test_counts_is_a_copy_and_drain_resets() -> None:
    tally = KeyTally()
    tally.add("main", "2", "9")
    copy = tally.counts()
    copy[("main", "2", "9")] = 100
    assert tally.counts() == {("main", "2", "9"): 1}
    assert tally.drain() == {("main", "2", "9"): 1}
    assert tally.counts() == {} and tally.drain() == {}
    tally.add("main", "2", "9")
    assert tally.drain() == {("main", "2", "9"): 1}
