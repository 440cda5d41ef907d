"""The admin API's own table: the answers to POST requests that carried an
``Idempotency-Key``, so that a client retrying after a lost answer gets the same answer
instead of a second effect. Rows expire after a day (`pycc.api.idempotency`)."""

from __future__ import annotations

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Column, Field, SQLModel

__all__ = ["ApiIdempotency"]


class ApiIdempotency(SQLModel, table=True):
    """One key of one user: the request it was first used with and the answer given."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("tenant", "user", "key",
                                       name="uq_api_idempotency_tenant_user_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    user: str
    key: str
    #: SHA-256 of the method, path and body of the first request with this key.
    request_hash: str
    #: 0 while the first request is being handled.
    status: int = 0
    response: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created: float = Field(index=True)
