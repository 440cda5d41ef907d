"""Database URLs and engines: a SQLite file by default, PostgreSQL when several nodes share one.

SQLite runs in WAL mode so readers (``pycc status``, reports) never block the switch's writer,
with a busy timeout so a second process (``pycc user add`` while ``pycc serve`` runs) waits for
the lock instead of failing. Write transactions start with ``BEGIN IMMEDIATE``: a deferred
transaction that reads first and writes later fails at once, without waiting, when another
process wrote in between.

A database made by an older pycc is brought up to date when the store opens it
(`pycc.store.Store.create_all`): missing tables are created, missing columns added, and
`add_missing_indexes` creates the indexes a newer pycc declares on tables that already exist
(``CREATE TABLE`` only makes the indexes of a new table).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final

from sqlalchemy import Engine, MetaData, create_engine, event, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.engine import make_url as sa_make_url
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

# Registers the administration tables (users, API tokens, audit log) and the reports' summary
# tables in SQLModel's metadata for every program that opens a database, so
# `Store.create_all` makes them with the others.
import pycc.store.admin_models
import pycc.store.api_models
import pycc.store.desk_models
import pycc.store.files_models
import pycc.store.report_models  # noqa: F401

#: File name of the SQLite database inside the data directory.
SQLITE_FILE_NAME: Final = "pycc.db"

#: How long a SQLite connection waits for another writer's lock, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS: Final = 5000

#: Execution option that marks an engine whose transactions will write.
WRITE_OPTION: Final = "pycc_write"

_POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")


def make_url(data_dir: Path | None, db_url: str | None) -> str:
    """Return the database URL to use: ``db_url`` if given, else ``DATA_DIR/pycc.db``.

    A plain ``postgresql://`` (or ``postgres://``) URL is mapped to the psycopg 3 driver.
    """
    if db_url:
        return database_url(db_url)
    if data_dir is None:
        raise ValueError("no database URL and no data directory to put pycc.db in")
    return f"sqlite:///{data_dir.absolute() / SQLITE_FILE_NAME}"


def database_url(url: str) -> str:
    """Return ``url`` with a driverless PostgreSQL scheme mapped to ``postgresql+psycopg``."""
    for scheme in _POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    return url


def make_engine(url: str) -> Engine:
    """Create the engine for ``url`` (already passed through :func:`database_url`)."""
    parsed = sa_make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # Nodes share a PostgreSQL that may restart under them: check pooled connections.
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
    # The async side calls in from a worker thread, not the thread that opened the connection.
    connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    if in_memory:
        # Every connection to :memory: is a new empty database: share one.
        engine = create_engine(url, connect_args=connect_args, poolclass=StaticPool)
    else:
        engine = create_engine(url, connect_args=connect_args)
    event.listen(engine, "connect", _sqlite_on_connect(in_memory))
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(
    in_memory: bool,
) -> Callable[[sqlite3.Connection, ConnectionPoolEntry], None]:
    def on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (see _sqlite_on_begin); the driver's
        # own implicit BEGIN is always DEFERRED.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            # synchronous stays FULL: a CDR must survive a power cut once written (DESIGN.md).
        finally:
            cursor.close()

    return on_connect


def _sqlite_on_begin(connection: Connection) -> None:
    writing = bool(connection.get_execution_options().get(WRITE_OPTION))
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


def add_missing_indexes(engine: Engine, metadata: MetaData) -> list[str]:
    """Create every index of ``metadata``'s tables that the database lacks; their names."""
    inspector = inspect(engine)
    existing = set(inspector.get_table_names())
    made: list[str] = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue
        present = {index["name"] for index in inspector.get_indexes(table.name)}
        for index in table.indexes:
            if index.name is None or index.name in present:
                continue
            # checkfirst: another node may be upgrading the same database right now.
            index.create(engine, checkfirst=True)
            made.append(str(index.name))
    return made
