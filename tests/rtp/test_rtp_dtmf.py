"""RFC 4733 telephone events: payload, digits, the receiver and the sender, checked against
RFC 4733 §5 table 5 (tests/vectors/rfc4733_table5_911.tsv)."""

from __future__ import annotations

import contextlib
import csv
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.rtp import (
    DigitEnded,
    DigitStarted,
    DtmfError,
    DtmfEvent,
    DtmfReceiver,
    DtmfSender,
    RtpPacket,
    TelephoneEvent,
    digit_to_event,
    event_to_digit,
    parse_event,
)

VECTOR = Path(__file__).resolve().parents[1] / "vectors" / "rfc4733_table5_911.tsv"


@dataclass(frozen=True)
class Row:
    time: float  # seconds
    marker: bool
    timestamp: int
    seq: int
    event: TelephoneEvent


def table5() -> list[Row]:
    lines = [line for line in VECTOR.read_text().splitlines() if not line.startswith("#")]
    rows = []
    for record in csv.DictReader(lines, delimiter="\t"):
        event = TelephoneEvent(int(record["event_code"]), record["E"] == "1", 0,
                               int(record["duration"]))
        rows.append(Row(int(record["time_ms"]) / 1000, record["M"] == "1",
                        int(record["timestamp"]), int(record["seq"]), event))
    return rows


@dataclass(frozen=True)
class Sent:
    time: float
    seq: int
    marker: bool
    timestamp: int
    event: TelephoneEvent


def sent_911() -> list[Sent]:
    """Our sender's packets for table 5's key presses: 9 at 0 ms for 200 ms, 1 at 880 ms for
    250 ms, 1 at 1400 ms for 220 ms; 8 kHz, 50 ms between updates."""
    sender = DtmfSender(8000, ptime_ms=50)
    out: list[Sent] = []
    for digit, start_ms, length_ms in [("9", 0, 200), ("1", 880, 250), ("1", 1400, 220)]:
        for packet in sender.packets(digit, length_ms, timestamp=start_ms * 8):
            out.append(Sent(start_ms / 1000 + packet.offset, len(out) + 1, packet.marker,
                            packet.timestamp, packet.event))
    return out


def run_receiver(packets: list[tuple[float, int, bool, int, TelephoneEvent]]) -> list[DtmfEvent]:
    """Feed (time, seq, marker, timestamp, event) in order, firing the timer when it is due."""
    receiver = DtmfReceiver(8000)
    events: list[DtmfEvent] = []
    for at, seq, marker, timestamp, event in packets:
        timer = receiver.get_timer()
        if timer is not None and timer <= at:
            events += receiver.handle_timer(timer)
        events += receiver.receive(timestamp, seq, marker, event, at)
    timer = receiver.get_timer()
    if timer is not None:
        events += receiver.handle_timer(timer)
    assert receiver.get_timer() is None
    return events


# -- the payload -------------------------------------------------------------------------------


def test_payload_bytes() -> None:
    # Event 9, E bit, volume 10, duration 1600.
    assert TelephoneEvent(9, True, 10, 1600).serialize() == bytes.fromhex("098a0640")
    assert parse_event(bytes.fromhex("098a0640")) == TelephoneEvent(9, True, 10, 1600)
    # The reserved R bit is ignored; extra (packed) events after the first are not read.
    assert parse_event(bytes.fromhex("01470190" "02000000")) == TelephoneEvent(1, False, 7, 400)


def test_payload_errors() -> None:
    with pytest.raises(DtmfError) as info:
        parse_event(b"\x09\x8a\x06")
    assert info.value.reason == "short" and isinstance(info.value, ValueError)
    with pytest.raises(DtmfError):
        TelephoneEvent(9, False, 64, 0).serialize()
    with pytest.raises(DtmfError):
        TelephoneEvent(9, False, 0, 65536).serialize()


@given(st.builds(TelephoneEvent, st.integers(0, 255), st.booleans(), st.integers(0, 63),
                 st.integers(0, 0xFFFF)))
def test_payload_round_trip(event: TelephoneEvent) -> None:
    assert parse_event(event.serialize()) == event


@given(st.binary(max_size=8))
def test_any_payload_parses_or_raises_dtmf_error(data: bytes) -> None:
    with contextlib.suppress(DtmfError):
        parse_event(data)


def test_digit_mapping() -> None:
    assert [event_to_digit(n) for n in range(17)] == list("0123456789*#ABCD!")
    assert event_to_digit(17) is None and event_to_digit(255) is None
    assert digit_to_event("#") == 11 and digit_to_event("d") == 15 and digit_to_event("!") == 16
    with pytest.raises(ValueError):
        digit_to_event("E")


# -- table 5 -----------------------------------------------------------------------------------


def test_vector_is_what_we_think_it_is() -> None:
    rows = table5()
    assert len(rows) == 14
    assert [r.seq for r in rows][:6] == [1, 2, 3, 4, 5, 6]
    assert {r.timestamp for r in rows} == {0, 7040, 11200}


def test_receiver_reports_911_once_each_from_table5() -> None:
    events = run_receiver([(r.time, r.seq, r.marker, r.timestamp, r.event) for r in table5()])
    assert events == [
        DigitStarted("9", 0.05),
        DigitEnded("9", 1600),
        DigitStarted("1", 0.93),
        DigitEnded("1", 2000),
        DigitStarted("1", 1.45),
        DigitEnded("1", 1760),
    ]


def test_sender_matches_table5() -> None:
    sent = {packet.seq: packet for packet in sent_911()}
    assert len(sent) == 20  # seq 1..20 as in the table, the omitted rows included
    for row in table5():
        ours = sent[row.seq]
        assert ours.marker == row.marker, row
        assert ours.timestamp == row.timestamp, row
        assert ours.event.event == row.event.event, row
        assert ours.event.duration == row.event.duration, row
        assert ours.event.end == row.event.end, row
        assert ours.time == pytest.approx(row.time), row


def test_sender_rules() -> None:
    sender = DtmfSender(8000, ptime_ms=20, volume=12)
    packets = sender.packets("5", 100, timestamp=1000)
    assert [p.marker for p in packets] == [True] + [False] * (len(packets) - 1)
    assert {p.timestamp for p in packets} == {1000}
    durations = [p.event.duration for p in packets]
    assert durations == [160, 320, 480, 640, 800, 800, 800]
    # Ends exactly on an update: that update plus two copies with E (table 5's pattern).
    assert [p.event.end for p in packets] == [False] * 5 + [True] * 2
    assert all(p.event.volume == 12 and p.event.event == 5 for p in packets)
    assert packets[-1].payload == TelephoneEvent(5, True, 12, 800).serialize()
    # Not on an update: three copies with E.
    packets = sender.packets("#", 90)
    assert [p.event.end for p in packets] == [False] * 4 + [True] * 3
    assert packets[-1].event.duration == 720
    # The default timestamp is a new one, after the previous digit's last packet.
    assert packets[0].timestamp == 1000 + 8 * 160
    assert sender.next_timestamp == packets[0].timestamp + 8 * 160
    with pytest.raises(ValueError):
        sender.packets("X", 100)
    with pytest.raises(ValueError):
        sender.packets("1", 0)


def test_long_event_is_segmented_and_received_as_one_press() -> None:
    sender = DtmfSender(8000, ptime_ms=20)
    packets = sender.packets("0", 10_000, timestamp=0)  # 80000 samples > 0xFFFF
    stamps = sorted({p.timestamp for p in packets})
    assert stamps == [0, 0xFFFF]
    assert max(p.event.duration for p in packets) == 0xFFFF
    assert [p.marker for p in packets].count(True) == 1
    assert packets[-1].event.end and packets[-1].event.duration == 80_000 - 0xFFFF
    feed = [(p.offset, i, p.marker, p.timestamp, p.event) for i, p in enumerate(packets)]
    # A copy of the first segment's end, reordered into the second segment, changes nothing.
    first_end = max(i for i, p in enumerate(packets) if p.timestamp == 0)
    feed.insert(first_end + 3, (feed[first_end + 2][0], 10**6, False, 0, packets[first_end].event))
    events = run_receiver(feed)
    assert events == [DigitStarted("0", packets[0].offset), DigitEnded("0", 80_000)]


# -- receiver behaviour ------------------------------------------------------------------------


def ev(code: int, duration: int, end: bool = False) -> TelephoneEvent:
    return TelephoneEvent(code, end, 10, duration)


def test_lost_start_packet() -> None:
    receiver = DtmfReceiver()
    assert receiver.receive(800, 3, False, ev(4, 480), 1.0) == [DigitStarted("4", 1.0)]
    assert receiver.receive(800, 4, False, ev(4, 640, True), 1.02) == [DigitEnded("4", 640)]


def test_lost_end_packets_time_out() -> None:
    receiver = DtmfReceiver(end_timeout=0.3)
    receiver.receive(0, 1, True, ev(2, 160), 0.0)
    receiver.receive(0, 2, False, ev(2, 320), 0.02)
    assert receiver.get_timer() == pytest.approx(0.32)
    assert receiver.handle_timer(0.31) == []
    assert receiver.handle_timer(0.32) == [DigitEnded("2", 320)]
    assert receiver.get_timer() is None
    # A late update of the event that timed out does not start it again.
    assert receiver.receive(0, 3, False, ev(2, 480), 0.4) == []


def test_lost_end_packets_then_next_digit() -> None:
    receiver = DtmfReceiver()
    receiver.receive(0, 1, True, ev(2, 160), 0.0)
    assert receiver.receive(2000, 9, True, ev(3, 160), 0.5) == [
        DigitEnded("2", 160), DigitStarted("3", 0.5)
    ]


def test_stragglers_and_duplicates_are_ignored() -> None:
    receiver = DtmfReceiver()
    receiver.receive(8000, 10, True, ev(7, 160), 1.0)
    assert receiver.receive(8000, 10, True, ev(7, 160), 1.0) == []  # duplicate
    assert receiver.receive(4000, 5, False, ev(6, 800, True), 1.01) == []  # older event
    assert receiver.receive(8000, 12, False, ev(7, 480), 1.04) == []
    assert receiver.receive(8000, 11, False, ev(7, 320), 1.05) == []  # reordered, shorter
    assert receiver.receive(8000, 13, False, ev(7, 480, True), 1.06) == [DigitEnded("7", 480)]
    assert receiver.receive(8000, 14, False, ev(7, 480, True), 1.08) == []
    assert receiver.ignored >= 3


def test_non_dtmf_events_are_ignored() -> None:
    receiver = DtmfReceiver()
    assert receiver.receive(0, 1, True, ev(32, 160), 0.0) == []  # 32: a modem tone
    assert receiver.ignored == 1


def test_a_restarted_timeline_starts_a_new_event() -> None:
    receiver = DtmfReceiver()
    receiver.receive(10_000_000, 1, True, ev(1, 160, True), 0.0)
    assert receiver.receive(5, 2, True, ev(2, 160), 1.0) == [DigitStarted("2", 1.0)]
    receiver.reset()
    assert receiver.receive(5, 2, True, ev(2, 160), 1.0) == [DigitStarted("2", 1.0)]


def test_receive_packet_parses_the_payload() -> None:
    receiver = DtmfReceiver()
    packet = RtpPacket(101, 1, 0, 1, ev(11, 160).serialize(), marker=True)
    assert receiver.receive_packet(packet, 0.0) == [DigitStarted("#", 0.0)]
    with pytest.raises(DtmfError):
        receiver.receive_packet(RtpPacket(101, 2, 0, 1, b"\x01"), 0.0)


@st.composite
def damaged_911(draw: st.DrawFn) -> list[tuple[float, int, bool, int, TelephoneEvent]]:
    """Table 5's 20 packets with loss, duplication and reordering within each key press."""
    sent = sent_911()
    out: list[tuple[float, int, bool, int, TelephoneEvent]] = []
    for stamp in (0, 7040, 11200):
        group = [p for p in sent if p.timestamp == stamp]
        kept = draw(st.lists(st.sampled_from(group), min_size=1, max_size=len(group) + 3))
        kept.sort(key=lambda p: p.seq)
        order = draw(st.permutations(range(len(kept)))) if draw(st.booleans()) else None
        if order is not None:
            # Arrival order shuffled, arrival times kept increasing.
            times = [p.time for p in kept]
            kept = [kept[i] for i in order]
            out += [(t, p.seq, p.marker, p.timestamp, p.event) for t, p in zip(times, kept,
                                                                                strict=True)]
        else:
            out += [(p.time, p.seq, p.marker, p.timestamp, p.event) for p in kept]
    return out


@given(damaged_911())
def test_each_press_reported_once_whatever_the_network_does(
    packets: list[tuple[float, int, bool, int, TelephoneEvent]],
) -> None:
    events = run_receiver(packets)
    assert [type(e) for e in events] == [DigitStarted, DigitEnded] * 3
    assert [e.digit for e in events] == ["9", "9", "1", "1", "1", "1"]
    for ended, true_length in zip(events[1::2], (1600, 2000, 1760), strict=True):
        assert isinstance(ended, DigitEnded)
        assert 0 < ended.duration_samples <= true_length
