"""Receiver and sender statistics (RFC 3550 appendix A.1, A.3, A.8 and §6.4.1)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.rtp import ReceiverStats, ReportBlock, SenderStats, ntp_from_unix, round_trip
from pycc.rtp.stats import MAX_DROPOUT


def feed(stats: ReceiverStats, seqs: list[int], start_time: float = 0.0) -> list[bool]:
    """Packets of 160 samples at 20 ms, each arriving exactly on time."""
    return [
        stats.update(seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, start_time + i * 0.02)
        for i, seq in enumerate(seqs)
    ]


def test_jitter_matches_a_hand_computed_example() -> None:
    stats = ReceiverStats(8000)
    # Transit in timestamp units (arrival * 8000 - ts): 0, 0, 40, 0; so |D| = 0, 40, 40 and
    # J = 0 -> 0 + (0 - 0)/16 = 0 -> 40/16 = 2.5 -> 2.5 + (40 - 2.5)/16 = 4.84375.
    for seq, ts, arrival in [(1, 0, 0.0), (2, 160, 0.020), (3, 320, 0.045), (4, 480, 0.060)]:
        stats.update(seq, ts, arrival)
    assert stats.jitter == 4
    assert stats.jitter_ms == pytest.approx(4.84375 / 8)
    assert stats.report_block(1).jitter == 4


def test_jitter_survives_timestamp_wrap() -> None:
    stats = ReceiverStats(8000)
    start = 2**32 - 320
    for i in range(6):
        stats.update(i, (start + 160 * i) & 0xFFFFFFFF, i * 0.02)
    assert stats.jitter == 0


def test_probation_then_counting() -> None:
    stats = ReceiverStats(8000)
    assert feed(stats, [100, 101, 102]) == [False, True, True]
    assert stats.valid
    # A.1: the source is initialised on the packet that ends probation.
    assert stats.received == 2 and stats.expected == 2 and stats.cumulative_lost == 0
    assert stats.highest_sequence == 102


def test_probation_restarts_on_a_gap() -> None:
    stats = ReceiverStats(8000)
    assert feed(stats, [10, 12, 13, 14]) == [False, False, True, True]
    assert stats.received == 2


def test_min_sequential_one_accepts_the_first_packet() -> None:
    stats = ReceiverStats(8000, min_sequential=1)
    assert feed(stats, [7, 8]) == [True, True]
    assert stats.received == 2 and stats.expected == 2


def test_sequence_wrap_extends_the_highest_sequence() -> None:
    stats = ReceiverStats(8000)
    seqs = list(range(65530, 65536)) + list(range(0, 6))
    assert all(feed(stats, seqs)[1:])
    assert stats.highest_sequence == 65536 + 5
    assert stats.expected == len(seqs) - 1
    assert stats.cumulative_lost == 0


def test_loss_and_fraction_lost_per_interval() -> None:
    stats = ReceiverStats(8000)
    # 1 is probation; 2..11 expected (10), 4 and 5 lost.
    feed(stats, [1, 2, 3, 6, 7, 8, 9, 10, 11])
    assert stats.expected == 10 and stats.received == 8
    assert stats.cumulative_lost == 2
    assert stats.fraction_lost == 2 * 256 // 10
    block = stats.report_block(0x1234)
    assert block.fraction_lost == 51 and block.cumulative_lost == 2
    assert block.highest_sequence == 11 and block.ssrc == 0x1234
    # A new interval: 12..15 all received, so no loss in it, but the cumulative count stays.
    feed(stats, [12, 13, 14, 15], start_time=1.0)
    assert stats.fraction_lost == 0
    assert stats.report_block(0x1234).cumulative_lost == 2


def test_duplicates_make_loss_negative_as_a1_counts() -> None:
    stats = ReceiverStats(8000)
    feed(stats, [1, 2, 3, 3, 3, 4])
    assert stats.received == 5 and stats.expected == 3
    assert stats.cumulative_lost == -2
    assert stats.fraction_lost == 0
    assert stats.report_block(1).cumulative_lost == -2


def test_reordered_packets_are_counted_and_stale_ones_rejected() -> None:
    stats = ReceiverStats(8000)
    feed(stats, list(range(1000, 1300)))
    assert stats.update(1250, 0, 7.0) is True  # 49 behind: reordering (< MAX_MISORDER)
    assert stats.update(1100, 0, 7.0) is False  # 199 behind: not this stream any more
    assert stats.highest_sequence == 1299


def test_large_jump_needs_two_sequential_packets_to_restart() -> None:
    stats = ReceiverStats(8000)
    feed(stats, list(range(1, 20)))
    far = 19 + MAX_DROPOUT + 10
    assert stats.update(far, 0, 1.0) is False
    assert stats.highest_sequence == 19
    assert stats.update(far + 1, 160, 1.02) is True  # the sender restarted: start over
    assert stats.received == 1 and stats.expected == 1 and stats.highest_sequence == far + 1


def test_a_new_ssrc_resets_everything() -> None:
    stats = ReceiverStats(8000)
    for i in range(10):
        stats.update(i, i * 160, i * 0.02, ssrc=1)
    stats.sender_report_received(0xB7052000, 0.1)
    assert stats.received == 9
    assert stats.update(5000, 0, 0.3, ssrc=2) is False  # probation again
    assert stats.received == 0 and stats.expected == 0
    assert stats.report_block(2).lsr == 0


def test_lsr_and_dlsr() -> None:
    stats = ReceiverStats(8000)
    feed(stats, [1, 2, 3])
    assert stats.report_block(9).lsr == 0 and stats.report_block(9).dlsr == 0
    stats.sender_report_received(0xB7052000, now=10.0)
    block = stats.report_block(9, now=15.25)
    assert block.lsr == 0xB7052000
    assert block.dlsr == 0x00054000  # 5.25 s in 1/65536 s
    # Without now, DLSR runs to the latest time the stats were given.
    stats.update(4, 480, 11.0)
    assert stats.report_block(9).dlsr == 65536


def test_round_trip_rfc3550_figure_2() -> None:
    # §6.4.1: A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000 (46853.125 s),
    # DLSR = 0x0005:4000 (5.250 s) -> delay 6.125 s.
    block = ReportBlock(1, 0, 0, 0, 0, lsr=0xB7052000, dlsr=0x00054000)
    assert round_trip(block, 0xB7108000) == pytest.approx(6.125)
    assert round_trip(ReportBlock(1, 0, 0, 0, 0, 0, 0), 0xB7108000) is None
    # Rounding can make it a hair negative: reported as zero.
    assert round_trip(ReportBlock(1, 0, 0, 0, 0, 0xB7108001, 0), 0xB7108000) == 0.0


def test_round_trip_across_the_16_16_wrap() -> None:
    block = ReportBlock(1, 0, 0, 0, 0, lsr=0xFFFF0000, dlsr=0x8000)  # DLSR 0.5 s
    assert round_trip(block, 0x00010000) == pytest.approx(1.5)


def test_sender_stats_build_the_sender_report() -> None:
    sender = SenderStats(8000)
    for i in range(5):
        sender.sent(160, 1000 + 160 * i, 100.0 + 0.02 * i)
    assert (sender.packets, sender.octets, sender.last_rtp_timestamp) == (5, 800, 1640)
    report = sender.sender_report(0xAA, 100.1, wallclock=1_700_000_000.0)
    assert report.ssrc == 0xAA and report.packet_count == 5 and report.octet_count == 800
    assert report.ntp_timestamp == ntp_from_unix(1_700_000_000.0)
    # The RTP timestamp names the same instant as the NTP one: 20 ms after the last packet.
    assert report.rtp_timestamp == 1640 + 160
    assert sender.sender_report(1, 100.1).ntp_timestamp == ntp_from_unix(100.1)
    assert SenderStats(8000).sender_report(1, 5.0).rtp_timestamp == 0


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        ReceiverStats(0)
    with pytest.raises(ValueError):
        ReceiverStats(8000, min_sequential=0)
    with pytest.raises(ValueError):
        SenderStats(-1)


@given(
    start=st.integers(0, 0xFFFF),
    count=st.integers(4, 400),
    drops=st.sets(st.integers(2, 398)),
)
def test_loss_counts_exactly_the_dropped_packets(start: int, count: int, drops: set[int]) -> None:
    stats = ReceiverStats(8000)
    dropped = {i for i in drops if i < count - 1}
    seqs = [start + i for i in range(count) if i not in dropped]
    results = feed(stats, seqs)
    assert results[0] is False and all(results[1:])
    assert stats.cumulative_lost == len(dropped)
    assert stats.expected == count - 1
    assert stats.received + stats.cumulative_lost == stats.expected
    # Cycles count from the packet that ended probation, the second one.
    assert stats.highest_sequence == ((start + 1) & 0xFFFF) + count - 2
    block = stats.report_block(1)
    assert block.fraction_lost == len(dropped) * 256 // (count - 1)


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 2**32 - 1)), max_size=60))
def test_any_sequence_keeps_the_counters_consistent(packets: list[tuple[int, int]]) -> None:
    stats = ReceiverStats(8000)
    for i, (seq, ts) in enumerate(packets):
        stats.update(seq, ts, i * 0.02)
        assert stats.jitter >= 0
        assert 0 <= stats.fraction_lost <= 255
        assert -(2**23) <= stats.cumulative_lost < 2**23
    block = stats.report_block(1)
    assert block.serialize()  # always fits the wire format
