"""The media port range and round-robin RTP/RTCP pair allocation (RFC 3550 §11)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.rtp import PortAllocator, PortRange, PortsExhausted


def test_parse() -> None:
    assert PortRange.parse("20000-20999") == PortRange(20000, 20999)
    assert PortRange.parse(" 1024-1025 ") == PortRange(1024, 1025)
    assert str(PortRange(20000, 20999)) == "20000-20999"
    assert len(PortRange(20000, 20999).rtp_ports()) == 500
    # An odd first port: RTP starts at the next even one.
    assert list(PortRange(20001, 20006).rtp_ports()) == [20002, 20004]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("20000", "FIRST-LAST"),
        ("a-b", "numbers"),
        ("20999-20000", "reversed"),
        ("80-1000", "outside"),
        ("60000-70000", "outside"),
        ("20000-20000", "no even RTP port"),
        ("20001-20002", "no even RTP port"),
    ],
)
def test_parse_errors_name_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        PortRange.parse(text)


def test_round_robin_and_release() -> None:
    allocator = PortAllocator(PortRange(20000, 20007))
    assert allocator.capacity == 4
    assert [allocator.allocate(lambda p: True) for _ in range(3)] == [20000, 20002, 20004]
    assert allocator.release(20000) is True
    assert allocator.release(20000) is False
    # The cursor goes on: a port just released is the last to come back.
    assert allocator.allocate(lambda p: True) == 20006
    assert allocator.allocate(lambda p: True) == 20000
    assert allocator.in_use == 4
    with pytest.raises(PortsExhausted):
        allocator.allocate(lambda p: True)


def test_ports_the_caller_cannot_bind_are_skipped() -> None:
    allocator = PortAllocator(PortRange(20000, 20009))
    tried: list[int] = []

    def is_free(port: int) -> bool:
        tried.append(port)
        return port == 20006

    assert allocator.allocate(is_free) == 20006
    assert tried == [20000, 20002, 20004, 20006]
    with pytest.raises(PortsExhausted, match="in use"):
        allocator.allocate(lambda p: False)


@given(st.lists(st.booleans(), max_size=60))
def test_never_hands_out_a_port_twice(ops: list[bool]) -> None:
    allocator = PortAllocator(PortRange(30000, 30019))
    held: list[int] = []
    for allocate in ops:
        if allocate:
            try:
                port = allocator.allocate(lambda p: True)
            except PortsExhausted:
                assert len(held) == allocator.capacity
                continue
            assert port not in held and port % 2 == 0 and 30000 <= port < 30019
            held.append(port)
        elif held:
            assert allocator.release(held.pop(0))
    assert allocator.in_use == len(held)
