"""The dialer's two reports, campaign summary and call results, as reports of this package:
they are computed by `pycc.pds.reports` from the dialer's attempts (which know what the
dialer decided: abandoned, answering machine), limited to one campaign and to the attempts
started since a time."""

from __future__ import annotations

from typing import Any, Final

from pycc.aaa.reports.options import ReportOptions
from pycc.pds.reports import campaign_summary, result_summary
from pycc.store.repo import Store

__all__ = ["CAMPAIGN_COLUMNS", "RESULT_COLUMNS", "campaigns", "results"]

CAMPAIGN_COLUMNS: Final = ("campaign", "dialed", "in_progress", "answered", "connected",
                           "abandoned", "machine", "abandon_rate", "contacts", "done",
                           "by_result")
RESULT_COLUMNS: Final = ("campaign", "result", "attempts", "share", "mean_duration")


def campaigns(store: Store, tenant: str, options: ReportOptions) -> list[dict[str, Any]]:
    """One summary row per campaign (see `pycc.pds.reports.campaign_summary`)."""
    return campaign_summary(store, options.campaign, options.since, tenant=tenant)


def results(store: Store, tenant: str, options: ReportOptions) -> list[dict[str, Any]]:
    """One row per campaign and result (see `pycc.pds.reports.result_summary`)."""
    return result_summary(store, options.campaign, options.since, tenant=tenant)
