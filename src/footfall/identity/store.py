"""Identity state in the operational store: runs, merge history, unmerge decisions, the id salt.

Small, transactional facts live here (SQLite or PostgreSQL through SQLAlchemy Core); the big tables
(edges, id map, persons) are materialised in the warehouse. Tables are declared on the shared
`footfall.opstore.metadata` and created on first use with `metadata.create_all(tables=...)`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, DateTime, Engine, Integer, String, Table, Text, insert, select, update

from footfall.opstore import metadata, operational_engine
from footfall.project import Project

identity_runs = Table(
    "identity_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("engine", String(16), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("summary", Text, nullable=True),  # JSON: counts, rule counts, garbage, timings
)

# One row per change of a person: merged (other_person_id absorbed into person_id), split
# (other_person_id separated from person_id), unmerged / reverted (a decision taken or revoked).
identity_history = Table(
    "identity_history",
    metadata,
    Column("history_id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=True, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("person_id", String(64), nullable=False, index=True),
    Column("other_person_id", String(64), nullable=True, index=True),
    Column("cause", Text, nullable=True),  # JSON: the edges or the decision behind the change
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=True),
)

# Unmerge decisions: an edge (identifier, other_identifier) or a whole identifier that must not merge.
identity_decisions = Table(
    "identity_decisions",
    metadata,
    Column("decision_id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # block_edge | block_identifier
    Column("identifier", String(512), nullable=False, index=True),
    Column("other_identifier", String(512), nullable=True),
    Column("person_id", String(64), nullable=True),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

identity_meta = Table(
    "identity_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

IDENTITY_TABLES = [identity_runs, identity_history, identity_decisions, identity_meta]


@dataclass(frozen=True)
class Decision:
    """An unmerge decision as stored."""

    decision_id: int
    kind: str
    identifier: str
    other_identifier: str | None
    person_id: str | None
    actor: str
    reason: str
    decided_at: datetime

    def describe(self) -> str:
        """One line for block lists and explanations."""
        return f"unmerged by {self.actor} on {self.decided_at:%Y-%m-%d %H:%M} UTC (decision {self.decision_id}): {self.reason}"


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


class IdentityStore:
    """Reads and writes the identity tables of a project's operational store."""

    def __init__(self, project: Project) -> None:
        self.engine: Engine = operational_engine(project)
        metadata.create_all(self.engine, tables=IDENTITY_TABLES)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> IdentityStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self.engine.begin() as connection:
            yield connection

    # -- the salt person ids are hashed with ----------------------------------------------------
    def id_salt(self) -> str:
        """A random per-project secret: person ids are keyed hashes, so they reveal no email or phone."""
        with self._transaction() as connection:
            found = connection.execute(select(identity_meta.c.value).where(identity_meta.c.key == "id_salt")).scalar()
            if found is not None:
                return str(found)
            salt = secrets.token_hex(16)
            connection.execute(insert(identity_meta).values(key="id_salt", value=salt))
            return salt

    # -- runs -----------------------------------------------------------------------------------
    def start_run(self, run_id: str, engine: str, actor: str, started_at: datetime) -> None:
        with self._transaction() as connection:
            connection.execute(insert(identity_runs).values(run_id=run_id, started_at=started_at, engine=engine, actor=actor))

    def finish_run(self, run_id: str, summary: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """Record the run's summary and its merge history in one transaction."""
        with self._transaction() as connection:
            connection.execute(
                update(identity_runs)
                .where(identity_runs.c.run_id == run_id)
                .values(finished_at=now_utc(), summary=json.dumps(summary, default=str))
            )
            if history:
                connection.execute(insert(identity_history), history)

    def last_run(self) -> dict[str, Any] | None:
        """The latest finished run: run_id, times, engine, actor and its summary (decoded)."""
        with self._transaction() as connection:
            row = connection.execute(
                select(identity_runs).where(identity_runs.c.finished_at.is_not(None)).order_by(identity_runs.c.finished_at.desc()).limit(1)
            ).mappings().first()
        if row is None:
            return None
        return {**row, "summary": json.loads(row["summary"] or "{}")}

    # -- decisions ------------------------------------------------------------------------------
    def add_decision(
        self, kind: str, identifier: str, other_identifier: str | None, person_id: str | None, actor: str, reason: str
    ) -> Decision:
        """Store an unmerge decision and its history entry together."""
        decided_at = now_utc()
        with self._transaction() as connection:
            result = connection.execute(
                insert(identity_decisions).values(
                    kind=kind, identifier=identifier, other_identifier=other_identifier, person_id=person_id,
                    actor=actor, reason=reason, decided_at=decided_at,
                )
            )
            decision_id = int(result.inserted_primary_key[0])
            cause = {"decision_id": decision_id, "kind": kind, "identifier": identifier, "other_identifier": other_identifier}
            connection.execute(
                insert(identity_history).values(
                    at=decided_at, kind="unmerged", person_id=person_id or "", cause=json.dumps(cause), actor=actor, reason=reason
                )
            )
        return Decision(decision_id, kind, identifier, other_identifier, person_id, actor, reason, decided_at)

    def active_decisions(self) -> list[Decision]:
        with self._transaction() as connection:
            rows = connection.execute(
                select(identity_decisions).where(identity_decisions.c.revoked_at.is_(None)).order_by(identity_decisions.c.decision_id)
            ).mappings().all()
        return [
            Decision(r["decision_id"], r["kind"], r["identifier"], r["other_identifier"], r["person_id"], r["actor"],
                     r["reason"], r["decided_at"].replace(tzinfo=r["decided_at"].tzinfo or timezone.utc))
            for r in rows
        ]

    # -- history --------------------------------------------------------------------------------
    def history_of(self, person_ids: list[str]) -> list[dict[str, Any]]:
        """Every history entry that names one of `person_ids`, oldest first, causes decoded."""
        if not person_ids:
            return []
        with self._transaction() as connection:
            rows = connection.execute(
                select(identity_history)
                .where(identity_history.c.person_id.in_(person_ids) | identity_history.c.other_person_id.in_(person_ids))
                .order_by(identity_history.c.history_id)
            ).mappings().all()
        return [{**r, "at": r["at"].isoformat(), "cause": json.loads(r["cause"]) if r["cause"] else None} for r in rows]
