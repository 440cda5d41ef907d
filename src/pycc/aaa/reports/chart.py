"""The daily call summary as a bar chart: an SVG document, written out by hand.

For each day from the first to the last with calls, two bars side by side, all calls and the
answered ones (every direction together), over a y axis with round tick values and a label
under every day (or every few days, when there are many). Days without calls are shown empty
rather than left out, so the x axis is even. Pure: rows in, text out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Final
from xml.sax.saxutils import escape

__all__ = ["daily_chart", "nice_step"]

_BAR: Final = 9
_GAP: Final = 6
_LEFT: Final = 64
_RIGHT: Final = 24
_TOP: Final = 56
_PLOT_HEIGHT: Final = 260
_BOTTOM: Final = 72
_MIN_WIDTH: Final = 480
#: Fewest pixels between two day labels.
_LABEL_SPACE: Final = 44
_CALLS_COLOUR: Final = "#4e79a7"
_ANSWERED_COLOUR: Final = "#59a14f"


def nice_step(largest: float, ticks: int = 5) -> int:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``ticks`` ticks up
    to ``largest``."""
    if largest <= ticks:
        return 1
    raw = largest / ticks
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)


def _totals(rows: Sequence[Mapping[str, Any]]) -> dict[date, tuple[int, int]]:
    totals: dict[date, tuple[int, int]] = {}
    for row in rows:
        day = date.fromisoformat(str(row["day"]))
        calls, answered = totals.get(day, (0, 0))
        totals[day] = (calls + int(row["calls"]), answered + int(row["answered"]))
    return totals


def daily_chart(rows: Sequence[Mapping[str, Any]], title: str = "Calls per day") -> str:
    """The SVG chart of `pycc.aaa.reports.summary.summary_daily` rows."""
    totals = _totals(rows)
    days: list[date] = []
    if totals:
        first, last = min(totals), max(totals)
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    slot = 2 * _BAR + _GAP
    width = max(_MIN_WIDTH, _LEFT + _RIGHT + slot * len(days))
    height = _TOP + _PLOT_HEIGHT + _BOTTOM
    largest = max((calls for calls, _ in totals.values()), default=0)
    step = nice_step(largest)
    top = max(step, math.ceil(largest / step) * step)
    base = _TOP + _PLOT_HEIGHT

    def y(value: float) -> float:
        return base - _PLOT_HEIGHT * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{_LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        _legend(_LEFT, 40),
    ]
    for tick in range(0, top + 1, step):
        parts.append(f'<line x1="{_LEFT}" y1="{y(tick):.1f}" x2="{width - _RIGHT}" '
                     f'y2="{y(tick):.1f}" stroke="#dddddd"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                     f"{tick}</text>")
    every = max(1, math.ceil(_LABEL_SPACE / slot))
    for n, day in enumerate(days):
        calls, answered = totals.get(day, (0, 0))
        x = _LEFT + n * slot + _GAP / 2
        tip = f"{day.isoformat()}: {calls} calls, {answered} answered"
        parts.append(f"<g><title>{escape(tip)}</title>")
        parts.append(_bar(x, y(calls), base, _CALLS_COLOUR))
        parts.append(_bar(x + _BAR, y(answered), base, _ANSWERED_COLOUR))
        parts.append("</g>")
        if n % every == 0:
            centre = x + _BAR
            parts.append(f'<text x="{centre:.1f}" y="{base + 14}" text-anchor="end" '
                         f'transform="rotate(-45 {centre:.1f} {base + 14})">'
                         f"{day.isoformat()}</text>")
    parts.append(f'<line x1="{_LEFT}" y1="{_TOP}" x2="{_LEFT}" y2="{base}" stroke="#333333"/>')
    parts.append(f'<line x1="{_LEFT}" y1="{base}" x2="{width - _RIGHT}" y2="{base}" '
                 f'stroke="#333333"/>')
    parts.append(f'<text x="16" y="{_TOP + _PLOT_HEIGHT / 2:.0f}" text-anchor="middle" '
                 f'transform="rotate(-90 16 {_TOP + _PLOT_HEIGHT / 2:.0f})">calls</text>')
    if not days:
        parts.append(f'<text x="{width / 2:.0f}" y="{_TOP + _PLOT_HEIGHT / 2:.0f}" '
                     f'text-anchor="middle" fill="#666666">no calls</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _bar(x: float, top: float, base: float, colour: str) -> str:
    return (f'<rect x="{x:.1f}" y="{top:.1f}" width="{_BAR}" height="{base - top:.1f}" '
            f'fill="{colour}"/>')


def _legend(x: int, y: int) -> str:
    return (f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{_CALLS_COLOUR}"/>'
            f'<text x="{x + 14}" y="{y}">calls</text>'
            f'<rect x="{x + 64}" y="{y - 9}" width="10" height="10" fill="{_ANSWERED_COLOUR}"/>'
            f'<text x="{x + 78}" y="{y}">answered</text>')
