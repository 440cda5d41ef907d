"""One continuous outgoing RTP stream across changes of source."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pycc.rtp import OutgoingHeader, OutgoingStream

SSRC = 0x5EED


def test_generated_media_advances_by_its_samples() -> None:
    stream = OutgoingStream(SSRC, 8000, initial_seq=100, initial_ts=5000)
    assert stream.timestamp_for(1.0) == 5000
    headers = [stream.next_header(160, "prompt") for _ in range(3)]
    assert headers == [
        OutgoingHeader(100, 5000, SSRC, True),
        OutgoingHeader(101, 5160, SSRC, False),
        OutgoingHeader(102, 5320, SSRC, False),
    ]
    assert stream.next_header(160, "prompt", marker=True).marker is True


def test_relay_keeps_the_source_spacing_and_gaps() -> None:
    stream = OutgoingStream(SSRC, 8000, initial_seq=0, initial_ts=0)
    first = stream.relay(40000, 123456, False, ("leg-b", 1), now=0.0)
    assert first == OutgoingHeader(0, 0, SSRC, True)
    second = stream.relay(40001, 123616, False, ("leg-b", 1), now=0.02)
    assert second == OutgoingHeader(1, 160, SSRC, False)
    # A packet lost upstream stays a gap downstream, and the far end's marker passes through.
    third = stream.relay(40003, 123936, True, ("leg-b", 1), now=0.06)
    assert third == OutgoingHeader(3, 480, SSRC, True)
    # A reordered one gets its own place back.
    assert stream.relay(40002, 123776, False, ("leg-b", 1), now=0.061)[:2] == (2, 320)
    assert stream.last_sequence == 3 and stream.last_timestamp == 480


def test_switches_are_continuous_and_marked() -> None:
    stream = OutgoingStream(SSRC, 8000, initial_seq=65534, initial_ts=2**32 - 320)
    relayed = [stream.relay(10 + i, 9000 + 160 * i, False, "b", now=0.02 * i) for i in range(3)]
    assert [h.sequence for h in relayed] == [65534, 65535, 0]
    assert [h.timestamp for h in relayed] == [2**32 - 320, 2**32 - 160, 0]
    # A prompt starts 20 ms after the last relayed packet: one frame later, marker set.
    prompt = stream.next_header(160, "prompt", now=0.06)
    assert prompt == OutgoingHeader(1, 160, SSRC, True)
    stream.next_header(160, "prompt", now=0.08)
    # Back to the other leg after 1 s of silence: the timestamp jumps by the real time.
    back = stream.relay(500, 77, False, "b", now=1.08)
    assert back == OutgoingHeader(3, 320 + 8000, SSRC, True)
    # The far end changed SSRC: a new source, so a switch; never less than one packet ahead.
    changed = stream.relay(9, 1, False, "b2", now=1.08)
    assert changed == OutgoingHeader(4, 320 + 8000 + 160, SSRC, True)


def test_switch_without_time_uses_the_samples() -> None:
    stream = OutgoingStream(SSRC, 16000, initial_seq=1, initial_ts=0)
    stream.next_header(320, "tts")
    header = stream.next_header(960, "music")
    assert header == OutgoingHeader(2, 320, SSRC, True)
    assert stream.next_header(960, "music").timestamp == 1280


def test_timestamp_for_extrapolates_wall_time() -> None:
    stream = OutgoingStream(SSRC, 8000, initial_seq=0, initial_ts=1000)
    stream.next_header(160, "a", now=10.0)
    assert stream.timestamp_for(10.5) == 1000 + 4000
    stream.next_header(160, "a")  # no time known for this one
    assert stream.timestamp_for(11.0) == 1320


@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.booleans(), st.integers(1, 5),
                  st.floats(0.0, 0.5)),
        min_size=1, max_size=60,
    ),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
)
def test_sequence_is_consecutive_and_time_never_goes_back(
    steps: list[tuple[str, bool, int, float]], seq0: int, ts0: int
) -> None:
    stream = OutgoingStream(SSRC, 8000, seq0, ts0)
    now = 0.0
    upstream = {"a": [7, 100], "b": [60000, 2**32 - 500], "c": [0, 0]}
    previous: OutgoingHeader | None = None
    source: str | None = None
    for name, generated, frames, gap in steps:
        now += gap
        if generated:
            header = stream.next_header(160 * frames, "gen-" + name, now=now)
            key = "gen-" + name
        else:
            seq, ts = upstream[name]
            header = stream.relay(seq & 0xFFFF, ts & 0xFFFFFFFF, False, name, now=now)
            upstream[name] = [seq + 1, ts + 160 * frames]
            key = name
        assert header.ssrc == SSRC
        if previous is not None:
            assert header.sequence == (previous.sequence + 1) & 0xFFFF
            advance = (header.timestamp - previous.timestamp) & 0xFFFFFFFF
            assert 0 < advance < 2**31
            if key != source:
                assert header.marker
        previous, source = header, key
