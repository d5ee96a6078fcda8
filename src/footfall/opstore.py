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
    Text,
    create_engine,
    event,
    inspect,
    text,
)

from sqlalchemy.exc import DBAPIError

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

# Keys of both APIs (see footfall.keys): write keys of the tracking API (kind NULL or "write"; `source`
# is the source their events are recorded under) and API keys of the analytics API (kind "api";
# `source` is the key's name, `scopes` what it may do). Only a SHA-256 of each key is kept.
write_keys = Table(
    "write_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # Web origins allowed to send with this key, space-separated; NULL or empty: any origin.
    # Added after the first release: `_add_missing_columns` adds it to older databases.
    Column("allowed_origins", Text, nullable=True),
    Column("kind", String(16), nullable=True),  # NULL (older databases) or "write": a write key; "api": an API key
    Column("scopes", Text, nullable=True),  # an API key's scopes, space-separated
)

# Columns added to existing tables after their first release: `create_all` creates missing tables
# but never alters existing ones, so each is added here with ALTER TABLE (SQLite and PostgreSQL).
_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("write_keys", "allowed_origins", "TEXT"),
    ("write_keys", "kind", "VARCHAR(16)"),
    ("write_keys", "scopes", "TEXT"),
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
    _add_missing_columns(engine)
    return engine


def _add_missing_columns(engine: Engine) -> None:
    """Bring a database made by an older Footfall up to date (idempotent; a no-op when current)."""
    for table, column, sql_type in _ADDED_COLUMNS:
        if _has_column(engine, table, column):
            continue
        try:
            with engine.begin() as connection:
                connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))
        except DBAPIError:
            if not _has_column(engine, table, column):  # else another process added it first
                raise


def _has_column(engine: Engine, table: str, column: str) -> bool:
    return column in {c["name"] for c in inspect(engine).get_columns(table)}


def create_operational_store(project: Project) -> None:
    """Create the operational database and its tables (idempotent)."""
    operational_engine(project).dispose()
