"""Every operator report by name: what it shows, its columns, the function that computes it,
the options it takes, which of its columns are times and, for the daily summary, its chart.

The command line (``pycc report NAME``) and the API (``GET /v1/reports/{name}``) both go
through `REPORTS`: `ReportSpec.run` refuses an option the report does not take (naming it)
rather than ignore it, and gives rows with exactly the report's columns;
`ReportSpec.render` turns them into the asked format.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from pycc.aaa.reports import agents, billing, calls, campaigns, ivr, queues, summary
from pycc.aaa.reports.chart import daily_chart
from pycc.aaa.reports.options import ReportError, ReportOptions
from pycc.aaa.reports.render import (
    FORMATS,
    Chart,
    render_csv,
    render_json,
    render_table,
)
from pycc.store.repo import Store

__all__ = ["AGENT_REPORTS", "REPORTS", "ReportFunction", "ReportSpec"]

Row = dict[str, Any]
#: A report: (store, tenant name, options) -> rows.
ReportFunction = Callable[[Store, str, ReportOptions], list[Row]]


@dataclass(frozen=True, slots=True)
class ReportSpec:
    """One report: ``name`` as the CLI and API call it, a one-line ``title``, its
    ``columns`` in order, the ``function`` computing it, the ``options`` it takes, the
    ``times`` among its columns (epoch seconds) and its ``chart``, if any."""

    name: str
    title: str
    columns: tuple[str, ...]
    function: ReportFunction
    options: frozenset[str]
    times: frozenset[str] = frozenset()
    chart: Chart | None = None

    def check(self, options: ReportOptions) -> None:
        """Refuse an option this report does not take."""
        for name in options.given():
            if name not in self.options:
                takes = ", ".join(sorted(self.options)) or "no options"
                raise ReportError(name, f"report {self.name} does not take it (it takes "
                                        f"{takes})")

    def check_format(self, fmt: str) -> None:
        """Refuse a format this report cannot be written in."""
        if fmt not in FORMATS:
            raise ReportError("format", f"unknown format {fmt!r} (use {', '.join(FORMATS)})")
        if fmt == "svg" and self.chart is None:
            charted = ", ".join(name for name, spec in REPORTS.items() if spec.chart)
            raise ReportError("format", f"report {self.name} has no chart; svg is for "
                                        f"{charted}")

    def applies(self, options: ReportOptions) -> bool:
        """Whether every option given is one this report takes."""
        return all(name in self.options for name in options.given())

    def run(self, store: Store, tenant: str, options: ReportOptions) -> list[Row]:
        """The report's rows for ``tenant`` (each with exactly its columns)."""
        self.check(options)
        return self.function(store, tenant, options)

    def render(self, rows: Sequence[Mapping[str, Any]], fmt: str,
               options: ReportOptions) -> str:
        """``rows`` as ``fmt`` (see `pycc.aaa.reports.render.FORMATS`)."""
        self.check_format(fmt)
        if fmt == "json":
            return render_json(rows) + "\n"
        if fmt == "csv":
            return render_csv(rows, self.columns)
        if fmt == "table":
            return render_table(rows, self.columns, title=self.title, times=self.times,
                                zone=options.zone)
        assert self.chart is not None  # check_format let only a charted svg through
        return self.chart(rows, options.tz)


_RANGE: Final = frozenset({"since", "until"})
_FILTERS: Final = _RANGE | {"agent", "queue", "campaign"}
_LIST: Final = frozenset({"limit", "tz"})


def _daily_chart(rows: Sequence[Mapping[str, Any]], zone: str) -> str:
    return daily_chart(rows, f"Calls and answered calls per day ({zone})")


_SPECS: Final = (
    ReportSpec("calls", "Call log, newest first", calls.CALL_COLUMNS, calls.calls,
               _FILTERS | _LIST, frozenset({"start"})),
    ReportSpec("records", "Call records with every column, newest first",
               calls.RECORD_COLUMNS, calls.records, _FILTERS | _LIST,
               frozenset({"start", "ring", "answer", "end", "queue_enter", "queue_exit",
                          "agent_answer"})),
    ReportSpec("summary-hourly", "Calls per hour and direction", summary.HOURLY_COLUMNS,
               summary.summary_hourly, _FILTERS | {"tz"}),
    ReportSpec("summary-daily", "Calls per day and direction", summary.DAILY_COLUMNS,
               summary.summary_daily, _FILTERS | {"tz"}, chart=_daily_chart),
    ReportSpec("agents", "Agent statistics", agents.AGENT_COLUMNS, agents.agents,
               _RANGE | {"agent"}),
    ReportSpec("agent-sessions", "Agent log-in and log-out, newest first",
               agents.SESSION_COLUMNS, agents.agent_sessions, _RANGE | {"agent"} | _LIST,
               frozenset({"login", "logout"})),
    ReportSpec("agent-work", "Agent work log: status and state intervals, newest first",
               agents.WORK_COLUMNS, agents.agent_work, _RANGE | {"agent"} | _LIST,
               frozenset({"start", "end"})),
    ReportSpec("agent-hourly", "Agent hourly workload", agents.HOURLY_COLUMNS,
               agents.agent_hourly, _RANGE | {"agent", "tz"}),
    ReportSpec("wrapup", "Wrap-up statistics: calls per disposition and hang-up cause",
               summary.WRAPUP_COLUMNS, summary.wrapup, _FILTERS),
    ReportSpec("customers", "Customer call statistics, most calls first",
               calls.CUSTOMER_COLUMNS, calls.customers, _FILTERS | _LIST,
               frozenset({"first_call", "last_call"})),
    ReportSpec("service-level", "Queue service level, speed of answer and abandonment",
               queues.SERVICE_LEVEL_COLUMNS, queues.service_level,
               _RANGE | {"queue", "campaign", "threshold"}),
    ReportSpec("ivr-keys", "IVR key statistics", ivr.IVR_COLUMNS, ivr.ivr_keys,
               frozenset()),
    ReportSpec("campaign", "Campaign summary: dialed, answered, abandoned, connected",
               campaigns.CAMPAIGN_COLUMNS, campaigns.campaigns,
               frozenset({"since", "campaign"})),
    ReportSpec("results", "Call results of the campaigns' attempts",
               campaigns.RESULT_COLUMNS, campaigns.results, frozenset({"since", "campaign"})),
    ReportSpec("billing", "Cost of the calls out per day and trunk",
               billing.BILLING_COLUMNS, billing.billing, _RANGE | {"campaign", "tz"}),
)

#: Every report by name.
REPORTS: Final[Mapping[str, ReportSpec]] = MappingProxyType({spec.name: spec
                                                              for spec in _SPECS})
#: The reports an agent may read (of its own figures only).
AGENT_REPORTS: Final = frozenset(name for name in REPORTS
                                 if name == "agents" or name.startswith("agent-"))
