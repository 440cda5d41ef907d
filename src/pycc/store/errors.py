"""Errors raised by :mod:`pycc.store`.

Callers catch :class:`StoreError` for any storage failure; the subclasses name the two cases a
caller usually answers differently (a CLI prints them, the admin API maps them to 409 and 404).
"""

from __future__ import annotations


class StoreError(Exception):
    """A storage operation failed; nothing of it was written."""


class NotFound(StoreError):
    """The tenant, extension or record the operation names does not exist."""


class AlreadyExists(StoreError):
    """The operation would create something that already exists (or conflicts with it)."""
