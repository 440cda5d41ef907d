"""Conference N-1 mixing, recorder mixes, stereo interleave, gain and mute."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pycc.dsp.mixer import apply_gain, interleave, mix, mix_minus, mute


def brute_force_minus(frames: np.ndarray, muted: list[bool]) -> np.ndarray:
    k, n = frames.shape
    out = np.zeros((k, n), dtype=np.int16)
    for i in range(k):
        total = np.zeros(n, dtype=np.int64)
        for j in range(k):
            if j != i and not muted[j]:
                total += frames[j]
        out[i] = np.clip(total, -32768, 32767)
    return out


frames_strategy = st.tuples(st.integers(1, 8), st.integers(0, 64)).flatmap(
    lambda shape: arrays(np.int16, shape)
)


@given(frames_strategy, st.data())
def test_mix_minus_equals_the_brute_force_sum(frames: np.ndarray, data: st.DataObject) -> None:
    muted = data.draw(st.lists(st.booleans(), min_size=len(frames), max_size=len(frames)))
    np.testing.assert_array_equal(mix_minus(frames, muted=muted),
                                  brute_force_minus(frames, muted))
    np.testing.assert_array_equal(mix_minus(list(frames)),
                                  brute_force_minus(frames, [False] * len(frames)))


@given(frames_strategy)
def test_mix_is_the_saturated_sum(frames: np.ndarray) -> None:
    expected = np.clip(frames.astype(np.int64).sum(axis=0), -32768, 32767)
    np.testing.assert_array_equal(mix(frames), expected)


def test_nobody_hears_themselves() -> None:
    a = np.full(4, 1000, dtype=np.int16)
    b = np.full(4, 20, dtype=np.int16)
    c = np.full(4, -3, dtype=np.int16)
    heard = mix_minus([a, b, c])
    assert heard[:, 0].tolist() == [17, 997, 1020]
    assert mix_minus([a])[0].tolist() == [0, 0, 0, 0]  # alone in the room: silence


def test_loud_rooms_saturate_instead_of_wrapping() -> None:
    loud = [np.full(2, 30000, dtype=np.int16)] * 3
    assert mix_minus(loud)[0].tolist() == [32767, 32767]
    assert mix([np.full(2, -30000, dtype=np.int16)] * 2).tolist() == [-32768, -32768]


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        mix_minus([np.zeros(3, np.int16), np.zeros(4, np.int16)])
    with pytest.raises(ValueError):
        mix_minus([np.zeros(3, np.int16)], muted=[True, False])
    with pytest.raises(TypeError):
        mix([np.zeros(3, np.float32)])  # type: ignore[list-item]
    assert len(mix([])) == 0


def test_interleave_makes_left_right_pairs() -> None:
    left = np.array([1, 2, 3], dtype=np.int16)
    right = np.array([-1, -2, -3], dtype=np.int16)
    stereo = interleave(left, right)
    assert stereo.shape == (3, 2) and stereo.dtype == np.int16
    assert stereo.reshape(-1).tolist() == [1, -1, 2, -2, 3, -3]  # wire / WAV order
    with pytest.raises(ValueError):
        interleave(left, right[:2])


def test_gain_and_mute() -> None:
    pcm = np.array([1000, -1000, 20000], dtype=np.int16)
    assert apply_gain(pcm, -6.0206).tolist() == [500, -500, 10000]
    assert apply_gain(pcm, 6.0206).tolist() == [2000, -2000, 32767]
    assert apply_gain(pcm, 0.0).tolist() == pcm.tolist()
    assert mute(pcm).tolist() == [0, 0, 0] and mute(pcm).dtype == np.int16
