"""E-model R factor and MOS (ITU-T G.107, G.113 values)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycc.rtp import CodecImpairment, mos_for_leg, mos_from_r, r_factor
from pycc.rtp.quality import delay_impairment, effective_equipment_impairment


def test_default_r_for_g711_without_loss() -> None:
    assert r_factor("PCMU", 0.0, 0.0) == pytest.approx(93.2)
    assert r_factor("pcma", 20.0, 0.0) == pytest.approx(93.2, abs=0.5)
    assert mos_from_r(93.2) == pytest.approx(4.41, abs=0.005)


def test_g107_annex_b_points() -> None:
    assert mos_from_r(-5) == 1.0
    assert mos_from_r(0) == 1.0
    assert mos_from_r(50) == pytest.approx(1 + 1.75 + 50 * -10 * 50 * 7e-6)  # 2.575
    assert mos_from_r(80) == pytest.approx(1 + 2.8 + 80 * 20 * 20 * 7e-6)  # 4.024
    assert mos_from_r(100) == 4.5
    assert mos_from_r(120) == 4.5


def test_codec_and_loss_values() -> None:
    assert r_factor("G729", 0.0, 0.0) == pytest.approx(93.2 - 11)
    # G.107 eq. 7-29 for G.711 with PLC at 2 % random loss: 95 * 2 / (2 + 25.1).
    g711 = CodecImpairment(0.0, 25.1)
    assert effective_equipment_impairment(g711, 2.0) == pytest.approx(95 * 2 / 27.1)
    assert r_factor("g711", 0.0, 2.0) == pytest.approx(93.2 - 95 * 2 / 27.1)
    # Without PLC, loss hurts far more; bursts hurt more than random loss.
    assert r_factor("g711-noplc", 0.0, 2.0) < r_factor("g711", 0.0, 2.0)
    assert r_factor("g711", 0.0, 2.0, burst_ratio=2.0) < r_factor("g711", 0.0, 2.0)
    with pytest.raises(ValueError, match="known"):
        r_factor("speex", 0.0, 0.0)


def test_delay_impairment_cole_rosenbluth() -> None:
    assert delay_impairment(100) == pytest.approx(2.4)
    assert delay_impairment(300) == pytest.approx(0.024 * 300 + 0.11 * (300 - 177.3))


def test_mos_for_leg() -> None:
    good = mos_for_leg("PCMU", rtt_s=0.04, jitter_ms=2.0, loss_fraction=0.0)
    assert 4.3 < good < 4.41
    bad = mos_for_leg("G729", rtt_s=0.6, jitter_ms=40.0, loss_fraction=0.05)
    assert bad < 3.0
    assert mos_for_leg(CodecImpairment(0, 25.1), 0.04, 2.0, 0.0) == pytest.approx(good)


codecs = st.sampled_from(["pcmu", "g729", "g722", "opus", "g711-noplc"])


@given(codecs, st.floats(0, 1000), st.floats(0, 100), st.floats(0, 100))
def test_mos_never_rises_with_loss(codec: str, delay: float, loss1: float, loss2: float) -> None:
    low, high = sorted((loss1, loss2))
    assert mos_from_r(r_factor(codec, delay, high)) <= mos_from_r(r_factor(codec, delay, low))


@given(codecs, st.floats(0, 100), st.floats(0, 1000), st.floats(0, 1000))
def test_mos_never_rises_with_delay(codec: str, loss: float, d1: float, d2: float) -> None:
    short, long = sorted((d1, d2))
    assert mos_from_r(r_factor(codec, long, loss)) <= mos_from_r(r_factor(codec, short, loss))


@given(st.floats(-50, 150), st.floats(-50, 150))
def test_mos_is_monotone_in_r_and_bounded(r1: float, r2: float) -> None:
    low, high = sorted((r1, r2))
    assert 1.0 <= mos_from_r(low) <= mos_from_r(high) <= 4.5
