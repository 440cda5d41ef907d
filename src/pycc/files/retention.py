"""Retention of recordings: a tenant keeps its recordings ``recordings_keep_days`` days
(``[files]`` of ``pycc.toml``, per tenant under ``[files.tenants.NAME]``; 0 keeps them
forever). A recording's age counts from its call's answer. Pure: time is passed in.
"""

from __future__ import annotations

from typing import Final

from pycc.aaa.audit import Origin

__all__ = ["RETENTION_ORIGIN", "SECONDS_PER_DAY", "cutoff", "is_expired"]

SECONDS_PER_DAY: Final = 86_400.0
#: Who the audit log names for the recordings retention deletes.
RETENTION_ORIGIN: Final = Origin("retention", "cli")


def cutoff(keep_days: float, now: float) -> float | None:
    """Recordings made before the returned time are expired at ``now``; None when
    ``keep_days`` keeps them forever (0 or less)."""
    if keep_days <= 0:
        return None
    return now - keep_days * SECONDS_PER_DAY


def is_expired(created: float, keep_days: float, now: float) -> bool:
    """Whether a recording made at ``created`` is past its ``keep_days`` at ``now``."""
    before = cutoff(keep_days, now)
    return before is not None and created < before
