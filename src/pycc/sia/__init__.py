"""pycc's IVR: declarative flows from the ``pycc apply`` file, and flows written in Python.

A declarative flow (``ivr: [{name, steps}]``) is parsed and validated by
:func:`pycc.sia.flow.parse_flow` and run on a caller's channel by
:func:`pycc.sia.runner.run_flow`. A developer writes a flow as a coroutine over
:class:`pycc.sia.call.IvrCall`::

    async def flow(call: IvrCall) -> Target | None:
        if await call.collect(1, prompt="tts:Press 1 for sales") == "1":
            return call.transfer("queue", "sales")
        return None

Either way a flow ends by transferring the call (a :class:`~pycc.sia.flow.Target`) or by
hanging up. :class:`pycc.sia.keys.KeyTally` counts what callers press at each menu, and
:class:`pycc.sia.tts.Tts` renders ``tts:`` prompts with espeak-ng.
"""

from __future__ import annotations

from pycc.sia.call import IvrCall
from pycc.sia.fetch import FetchError
from pycc.sia.flow import Flow, FlowError, Target, parse_flow, validate_flow
from pycc.sia.keys import KeyTally
from pycc.sia.runner import FlowOutcome, run_coroutine, run_flow
from pycc.sia.tts import Tts, TtsError, TtsUnavailable

__all__ = [
    "FetchError",
    "Flow",
    "FlowError",
    "FlowOutcome",
    "IvrCall",
    "KeyTally",
    "Target",
    "Tts",
    "TtsError",
    "TtsUnavailable",
    "parse_flow",
    "run_coroutine",
    "run_flow",
    "validate_flow",
]
