"""The operator reports: call log and records, hourly and daily summaries (and the daily
chart), agent statistics, sessions, work log and hourly workload, wrap-up, customer and
queue service-level statistics, IVR keys, the dialer's campaign and result summaries, and
billing.

Each report is a function ``(store, tenant, options) -> rows`` (a list of dicts with the
report's fixed columns) that lets the database do the counting: grouped SQL over the call
records and agent events, never a million rows through Python. `REPORTS` names them all;
`parse_options` reads the options from text and `ReportSpec.render` writes the rows as a
table, JSON, CSV or SVG chart. One module per family: `calls`, `summary`, `agents` (with
`intervals`), `queues`, `ivr`, `campaigns`, `billing`.

Over a million records even grouped SQL takes seconds, so the reports that count them read
summary tables the database keeps as the rows are written (`pycc.store.report_models`,
read through `rollups` and `agent_summaries`), with the same rows as a count of the records
would give; `rebuild` refills or checks them.
"""

from pycc.aaa.reports.options import ReportError, ReportOptions, parse_options
from pycc.aaa.reports.registry import AGENT_REPORTS, REPORTS, ReportFunction, ReportSpec
from pycc.aaa.reports.render import FORMATS

__all__ = [
    "AGENT_REPORTS",
    "FORMATS",
    "REPORTS",
    "ReportError",
    "ReportFunction",
    "ReportOptions",
    "ReportSpec",
    "parse_options",
]
