"""Storage: sqlmodel tables and the data access the services use (SQLite or PostgreSQL)."""

from __future__ import annotations

from pycc.store.async_store import AsyncStore
from pycc.store.config_models import CONFIG_KINDS, ConfigObject, ConfigVersion
from pycc.store.db import database_url, make_engine, make_url
from pycc.store.dialer_models import DialerAttempt, DialerCampaign, DialerContact, DialerDnc
from pycc.store.errors import AlreadyExists, NotFound, StoreError
from pycc.store.models import (
    DISPOSITIONS,
    HANGUP_PARTIES,
    Binding,
    BindingLike,
    BindingUpdate,
    CallRecord,
    Extension,
    Tenant,
)
from pycc.store.repo import BindingChange, Store

__all__ = [
    "CONFIG_KINDS",
    "DISPOSITIONS",
    "HANGUP_PARTIES",
    "AlreadyExists",
    "AsyncStore",
    "Binding",
    "BindingChange",
    "BindingLike",
    "BindingUpdate",
    "CallRecord",
    "ConfigObject",
    "ConfigVersion",
    "DialerAttempt",
    "DialerCampaign",
    "DialerContact",
    "DialerDnc",
    "Extension",
    "NotFound",
    "Store",
    "StoreError",
    "Tenant",
    "database_url",
    "make_engine",
    "make_url",
]
