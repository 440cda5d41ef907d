"""Call quality estimates: the E-model's R factor and MOS, simplified as VoIP monitors use it.

ITU-T G.107 (06/2015): R = R0 - Is - Id - Ie,eff + A. With every parameter at its default
(§7.2, Table 3) R0 - Is = 93.2 and A = 0, which leaves the two terms a monitor can measure:

- the delay impairment Id. G.107 builds it from echo paths and absolute delay; the monitors'
  form is Cole and Rosenbluth's fit of G.107 with default echo ("Voice over IP performance
  monitoring", ACM SIGCOMM CCR 31(2), 2001): Id = 0.024 d + 0.11 (d - 177.3) H(d - 177.3),
  d the mouth-to-ear delay in ms;
- the equipment impairment with packet loss, G.107 §7.5 eq. 7-29:
  Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl).

Ie and Bpl per codec come from ITU-T G.113 Appendix I (narrowband values):
G.711 Ie = 0, Bpl = 4.3 without and 25.1 with the G.711 Appendix I concealment (pycc's jitter
buffer conceals, so 25.1 is the default for PCMU/PCMA); G.729A (with VAD off) Ie = 11, Bpl = 19.
G.722 has values only on the wideband scale (G.113 Amd. 1); on this narrowband scale it can do no
worse than G.711, so it is given G.711's (Ie = 0, Bpl = 25.1, assumed). Opus has no ITU values:
assumed Ie = 0 (at the bitrates a call uses it is transparent on this narrowband scale) and
Bpl = 25.1 (concealment at least as good as G.711 Appendix I; in-band FEC only does better).
MOS from R is G.107 Annex B (eq. B-4), clamped to 1..4.5.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CODEC_IMPAIRMENTS",
    "DEFAULT_R",
    "CodecImpairment",
    "codec_impairment",
    "delay_impairment",
    "effective_equipment_impairment",
    "mos_for_leg",
    "mos_from_r",
    "r_factor",
]

#: R with every G.107 parameter at its default: R0 - Is.
DEFAULT_R = 93.2


@dataclass(frozen=True, slots=True)
class CodecImpairment:
    """A codec's E-model values: ``ie`` equipment impairment, ``bpl`` packet-loss robustness,
    ``lookahead_ms`` algorithmic delay beyond the frame itself (adds to mouth-to-ear delay)."""

    ie: float
    bpl: float
    lookahead_ms: float = 0.0


_G711 = CodecImpairment(ie=0.0, bpl=25.1)
_G711_NO_PLC = CodecImpairment(ie=0.0, bpl=4.3)
_G729A = CodecImpairment(ie=11.0, bpl=19.0, lookahead_ms=5.0)
_G722 = CodecImpairment(ie=0.0, bpl=25.1, lookahead_ms=1.5)
_OPUS = CodecImpairment(ie=0.0, bpl=25.1, lookahead_ms=6.5)

#: Known codecs by lower-case encoding name (the SDP rtpmap name, or a common alias).
CODEC_IMPAIRMENTS: dict[str, CodecImpairment] = {
    "pcmu": _G711,
    "pcma": _G711,
    "g711": _G711,
    "g711-noplc": _G711_NO_PLC,
    "g729": _G729A,
    "g729a": _G729A,
    "g722": _G722,
    "opus": _OPUS,
}


def codec_impairment(codec: str | CodecImpairment) -> CodecImpairment:
    if isinstance(codec, CodecImpairment):
        return codec
    try:
        return CODEC_IMPAIRMENTS[codec.lower()]
    except KeyError:
        known = ", ".join(sorted(CODEC_IMPAIRMENTS))
        raise ValueError(f"no E-model values for codec {codec!r}; known: {known}") from None


def delay_impairment(one_way_delay_ms: float) -> float:
    """Id for a mouth-to-ear delay (Cole-Rosenbluth's fit of G.107 with default echo)."""
    d = max(0.0, one_way_delay_ms)
    return 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)


def effective_equipment_impairment(
    impairment: CodecImpairment, loss_percent: float, burst_ratio: float = 1.0
) -> float:
    """Ie,eff (G.107 eq. 7-29); ``burst_ratio`` 1 is random loss, above 1 burstier."""
    ppl = min(100.0, max(0.0, loss_percent))
    burst = max(1.0, burst_ratio)
    ie = impairment.ie
    if ppl == 0.0:
        return ie
    return ie + (95.0 - ie) * ppl / (ppl / burst + impairment.bpl)


def r_factor(
    codec: str | CodecImpairment,
    one_way_delay_ms: float,
    loss_percent: float,
    burst_ratio: float = 1.0,
) -> float:
    """The transmission rating R for a codec at a mouth-to-ear delay and packet loss."""
    impairment = codec_impairment(codec)
    return (
        DEFAULT_R
        - delay_impairment(one_way_delay_ms)
        - effective_equipment_impairment(impairment, loss_percent, burst_ratio)
    )


def mos_from_r(r: float) -> float:
    """Estimated MOS (conversational quality) from R, G.107 Annex B, clamped to 1..4.5."""
    if r <= 0.0:
        return 1.0
    if r >= 100.0:
        return 4.5
    mos = 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
    # Rounded far below any precision MOS has: the polynomial's last bit can move against R
    # (a lower R giving a MOS one ulp higher), rounding keeps MOS monotonic in R.
    return min(4.5, max(1.0, round(mos, 9)))


def mos_for_leg(
    codec: str | CodecImpairment,
    rtt_s: float,
    jitter_ms: float,
    loss_fraction: float,
    *,
    ptime_ms: float = 20.0,
    burst_ratio: float = 1.0,
) -> float:
    """MOS of one leg from what RTCP reports: round-trip time, interarrival jitter, loss.

    Mouth-to-ear delay is estimated as half the RTT on the network, plus a jitter buffer
    holding twice the jitter, plus one packet of packetisation and the codec's lookahead.
    """
    impairment = codec_impairment(codec)
    delay = (
        max(0.0, rtt_s) * 500.0 + 2.0 * max(0.0, jitter_ms) + ptime_ms + impairment.lookahead_ms
    )
    return mos_from_r(r_factor(impairment, delay, loss_fraction * 100.0, burst_ratio))
