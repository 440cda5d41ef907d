"""The tables of billing: a tenant's rate tables, their rates, and which table rates what.

``pycc apply`` writes them from the file's ``rates:`` section (`pycc.provision.sync`); the
running switch reads them back into a `pycc.routing.rating.RatePlan`. Amounts are stored as
the decimal text written (``"0.012"``), never as floats, and read back with `decimal.Decimal`;
the billing increment as its two whole numbers of seconds.

`RateAssignment` says which table rates the calls out over a trunk (``trunk`` is its name) and
which rates all the tenant's other calls out (``trunk`` is "", the tenant's default).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

#: `RateAssignment.trunk` of the tenant's default table.
TENANT_DEFAULT: Final = ""


class RateTableRow(SQLModel, table=True):
    """One named rate table of a tenant; ``position`` keeps the file's order."""

    __tablename__ = "rate_tables"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_rate_tables_tenant_name"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    name: str
    position: int = 0
    updated: float


class RateRow(SQLModel, table=True):
    """The tariff of one destination prefix in one table (see `pycc.routing.rating.Rate`)."""

    __tablename__ = "rates"
    __table_args__ = (UniqueConstraint("table_id", "prefix", name="uq_rates_table_prefix"),)

    id: int | None = Field(default=None, primary_key=True)
    table_id: int = Field(foreign_key="rate_tables.id")
    prefix: str
    #: Price per minute and connection fee, as decimal text.
    price: str
    connection: str = "0"
    first_seconds: int = 60
    next_seconds: int = 60
    name: str | None = None


class RateAssignment(SQLModel, table=True):
    """The table (by name) that rates calls out over ``trunk``, or the tenant's default."""

    __tablename__ = "rate_assignments"
    __table_args__ = (UniqueConstraint("tenant_id", "trunk", name="uq_rate_assignments"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: int = Field(foreign_key="tenants.id")
    trunk: str = TENANT_DEFAULT
    table_name: str
