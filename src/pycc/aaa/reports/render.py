"""Reports as text: a terminal table, JSON, CSV, or (for the reports that have one) an SVG
chart.

JSON keeps every value as the report gives it: epoch seconds as numbers, costs as decimal
strings, a mapping (not-ready time by reason, results by count) as an object. CSV writes the
report's columns in order, a mapping as its JSON text and nothing for None. The table shows
times as local ISO 8601 in the report's time zone, for people to read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

__all__ = ["FORMATS", "render_csv", "render_json", "render_table"]

#: The output formats, ``svg`` only for reports with a chart.
FORMATS: Final = ("table", "json", "csv", "svg")

Row = Mapping[str, Any]


def render_json(rows: Sequence[Row]) -> str:
    return json.dumps(list(rows), indent=2)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def render_csv(rows: Sequence[Row], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(row.get(column)) for column in columns])
    return buffer.getvalue()


def render_table(rows: Sequence[Row], columns: Sequence[str], *, title: str = "",
                 times: Collection[str] = (), zone: ZoneInfo | None = None,
                 width: int | None = None) -> str:
    from rich.console import Console
    from rich.table import Table

    def cell(column: str, value: Any) -> str:
        if column in times and isinstance(value, int | float) and zone is not None:
            return datetime.fromtimestamp(value, zone).isoformat(timespec="seconds")
        if isinstance(value, Mapping):
            return ", ".join(f"{key}={item}" for key, item in value.items())
        return _text(value)

    table = Table(*columns)
    for row in rows:
        table.add_row(*(cell(column, row.get(column)) for column in columns))
    buffer = io.StringIO()
    if title:
        # Above the table, not as its caption: a narrow table would wrap it.
        buffer.write(f"{title}\n")
    Console(file=buffer, width=width or 200, force_terminal=False, color_system=None,
            soft_wrap=False).print(table)
    return buffer.getvalue()


#: A report's chart: its rows (and the name of their time zone) to an SVG document.
Chart = Callable[[Sequence[Row], str], str]
