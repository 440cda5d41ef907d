"""Signal processing on int16 PCM: tones, DTMF detection, resampling, mixing, levels.

:mod:`pycc.dsp.pcm` fixes the audio representation and level conventions,
:mod:`pycc.dsp.resample` converts between rates, :mod:`pycc.dsp.tones` generates call-progress
tones (ITU-T E.180) and DTMF (Q.23), :mod:`pycc.dsp.goertzel` detects DTMF (Q.24),
:mod:`pycc.dsp.mixer` mixes conferences and recordings, :mod:`pycc.dsp.energy` measures levels
and voice activity. Pure code: numpy only, no I/O, no clock, no per-sample Python loops.
"""

from __future__ import annotations

from pycc.dsp.energy import VoiceActivity, rms_dbov, silence_ratio
from pycc.dsp.goertzel import DtmfDetector
from pycc.dsp.mixer import apply_gain, interleave, mix, mix_minus, mute
from pycc.dsp.pcm import Pcm, dbm0_to_peak, saturate
from pycc.dsp.resample import Resampler, resample
from pycc.dsp.tones import ToneGenerator, ToneSegment, ToneSpec, dtmf_sequence, dtmf_tone, tone

__all__ = [
    "DtmfDetector",
    "Pcm",
    "Resampler",
    "ToneGenerator",
    "ToneSegment",
    "ToneSpec",
    "VoiceActivity",
    "apply_gain",
    "dbm0_to_peak",
    "dtmf_sequence",
    "dtmf_tone",
    "interleave",
    "mix",
    "mix_minus",
    "mute",
    "resample",
    "rms_dbov",
    "saturate",
    "silence_ratio",
    "tone",
]
