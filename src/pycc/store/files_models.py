"""The file server's catalog (`pycc.files`): one row per stored file, a call recording or an
IVR prompt, with what a client needs before it downloads the file (its SHA-256, size,
format and length) and, for a recording, the call it belongs to.

Files are named by their path relative to their kind's directory (``recordings/`` or
``prompts/`` of the data directory); a client never names a path, only a row's id or a
checked prompt name. A deleted file keeps its row with ``deleted_at`` set, so a recording
removed by retention is not catalogued again and the audit log's ids stay meaningful.

Tenants are named by ``Tenant.name``, as in the administration tables; ``node`` is the pycc
node whose disk holds the file. Timestamps are float epoch seconds (UTC).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

__all__ = ["FILE_KINDS", "StoredFile"]

#: Values of :attr:`StoredFile.kind`.
FILE_KINDS: Final = ("recording", "prompt")


class StoredFile(SQLModel, table=True):
    """One file of the file server. ``created`` is when the file was made: the call's
    answer (its start, if it has none) for a recording, the upload for a prompt."""

    __tablename__ = "stored_files"
    __table_args__ = (
        # Catalogued once, whoever (which node, which round) finds it first.
        UniqueConstraint("tenant", "kind", "path", name="uq_stored_files_tenant_kind_path"),
        # Pages by id, and retention by age, within one tenant's files of one kind.
        Index("ix_stored_files_tenant_kind_id", "tenant", "kind", "id"),
        Index("ix_stored_files_tenant_kind_created", "tenant", "kind", "created"),
        Index("ix_stored_files_tenant_call_id", "tenant", "call_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    kind: str
    #: Relative to the kind's directory, "/"-separated (``2024-05-01/abc.wav``).
    path: str
    sha256: str
    size: int = Field(sa_type=BigInteger)
    #: "wav" or "ogg".
    format: str
    #: Seconds of audio, when the file says (None: not known).
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    created: float
    #: When it was catalogued.
    indexed: float
    node: str = ""
    #: The call a recording belongs to, and that call's agent, queue and campaign.
    call_id: str | None = None
    agent: str | None = None
    queue: str | None = None
    campaign: str | None = None
    deleted_at: float | None = None
