"""The operational store: transactional state (import log, write keys; coupons and campaigns later).

SQLAlchemy 2 Core over SQLite in WAL mode by default, so the same code runs on PostgreSQL when
`paths.operational` is a PostgreSQL URL. Exactly-once guarantees live here, in real transactions and
constraints, never in Python locks.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    event,
)

from footfall.project import Project

metadata = MetaData()

imports = Table(
    "imports",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("file", String(1024), nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    Column("rows_read", Integer, nullable=False),
    Column("rows_added", Integer, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)

# Write keys of the tracking API: only a SHA-256 of each key is kept (see footfall.keys).
write_keys = Table(
    "write_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the dashboard, the CLI) work while a writer (the server) commits.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def operational_engine(project: Project) -> Engine:
    """A SQLAlchemy engine for the project's operational database, with its tables created."""
    engine = create_engine(project.operational_url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    metadata.create_all(engine)
    return engine


def create_operational_store(project: Project) -> None:
    """Create the operational database and its tables (idempotent)."""
    operational_engine(project).dispose()
