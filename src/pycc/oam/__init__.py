"""Operations and maintenance (oam): what operators watch a running switch with.

:mod:`~pycc.oam.metrics` Prometheus metrics (a registry per switch, read at scrape time),
:mod:`~pycc.oam.health` the health report of the ``/health`` endpoint, and
:mod:`~pycc.oam.alarms` the alarm rules (trunk down, abandonment near a campaign's limit,
disk nearly full, database unreachable) with their bus events, log lines and webhook.
"""
