"""File import: read, validate, dedupe and commit one file at a time, all-or-nothing.

Nothing from a file is written unless every row passed validation; the rows that survive dedupe are
committed to the lake in one atomic batch (`Lake.commit`). Re-importing a file adds nothing: events
are deduplicated by message_id (receipts get a stable message_id from store and receipt id), and
reference tables (stores, products, postcodes) are upserted by key.

An `Importer` holds the lake's writer lock for its lifetime, so the message ids it caches for
deduplication stay true while it imports many files (the chunks of a large world, for instance).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import insert

from footfall.ingest.dedupe import MessageIdIndex
from footfall.ingest.kinds import PREPARERS, PrepareContext, Prepared
from footfall.ingest.readers import read_table
from footfall.ingest.convert import apply_mapping
from footfall.lake import Lake, new_batch_id
from footfall.opstore import imports, operational_engine
from footfall.project import Project
from footfall.schema import REFERENCE_KEYS

Kind = Literal["events", "receipts", "stores", "products", "postcodes"]
KINDS: tuple[Kind, ...] = ("events", "receipts", "stores", "products", "postcodes")


@dataclass
class ImportResult:
    """What one file import did."""

    kind: str
    file: str
    rows_read: int
    rows_added: int
    batch_id: str | None
    added_by_table: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.rows_read - self.rows_added if self.kind == "events" else 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Importer:
    """Imports files into a project; use as a context manager (it holds the lake's writer lock)."""

    def __init__(self, project: Project, source: str = "import") -> None:
        self.project = project
        self.source = source
        self.lake = Lake(project.lake_dir)
        self._ids = MessageIdIndex(self.lake)
        self._lock = None
        self._engine = operational_engine(project)

    def __enter__(self) -> Importer:
        self._lock = self.lake.writer_lock()
        self._lock.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.__exit__(*exc)
            self._lock = None
        self._engine.dispose()

    def import_file(
        self,
        kind: Kind,
        path: str | Path,
        mapping: Mapping[str, str] | None = None,
        constants: Mapping[str, str] | None = None,
        fmt: str | None = None,
    ) -> ImportResult:
        """Validate `path` as `kind` and commit its new rows; raises `InputFileError` and writes nothing
        when any row is invalid."""
        path = Path(path)
        source = read_table(path, fmt)
        source = apply_mapping(source, str(path), mapping or {}, constants or {})
        stores = self.lake.read("stores", columns=["store_id"])["store_id"].combine_chunks()
        ctx = PrepareContext(str(path), self.project.settings.timezone, self.source, stores)
        prepared = PREPARERS[kind](source, ctx)
        to_commit = self._new_rows(prepared)
        added = {name: table.num_rows for name, table in to_commit.items()}
        batch_id = None
        if any(added.values()):
            batch_id = self.lake.commit(to_commit, new_batch_id())
            if "events" in to_commit:
                self._ids.remember(to_commit["events"], batch_id)
        rows_added = added.get("events", added.get(kind, 0))
        self._log(kind, path, batch_id, prepared.rows_read, rows_added)
        return ImportResult(kind, str(path), prepared.rows_read, rows_added, batch_id, added, prepared.ignored_columns)

    def _new_rows(self, prepared: Prepared) -> dict[str, pa.Table]:
        tables = dict(prepared.tables)
        if "events" in tables:
            events = self._ids.new_rows(tables["events"])
            tables["events"] = events
            if "order_lines" in tables:
                lines = tables["order_lines"]
                tables["order_lines"] = lines.filter(pc.is_in(lines["message_id"], value_set=events["message_id"].combine_chunks()))
        for name, key in REFERENCE_KEYS.items():
            if name in tables:
                tables[name] = self._upserted(name, key, tables[name])
        return {name: table for name, table in tables.items() if table.num_rows}

    def _upserted(self, name: str, key: str, incoming: pa.Table) -> pa.Table:
        """The whole reference table after upserting `incoming`, or no rows when nothing changes."""
        current = self.lake.read(name).cast(incoming.schema)
        if current.num_rows and _same_rows(current, incoming, key):
            return incoming.slice(0, 0)
        kept = current.filter(pc.invert(pc.is_in(current[key], value_set=incoming[key].combine_chunks())))
        return pa.concat_tables([kept, incoming])

    def _log(self, kind: str, path: Path, batch_id: str | None, rows_read: int, rows_added: int) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                insert(imports).values(
                    batch_id=batch_id or new_batch_id(),
                    kind=kind,
                    file=str(path.resolve()),
                    sha256=_sha256(path),
                    rows_read=rows_read,
                    rows_added=rows_added,
                    imported_at=datetime.now(timezone.utc),
                )
            )


def _same_rows(current: pa.Table, incoming: pa.Table, key: str) -> bool:
    """Whether every incoming row is already present, identical, in `current`."""
    joined = incoming.join(current, key, right_suffix="__current", join_type="left outer")
    for column in incoming.column_names:
        if column == key:
            continue
        left, right = joined[column], joined[f"{column}__current"]
        same = pc.or_kleene(pc.equal(left, right), pc.and_(pc.is_null(left), pc.is_null(right)))
        if not pc.all(pc.fill_null(same, False)).as_py():
            return False
    return True


def import_files(
    project: Project,
    kind: Kind,
    paths: list[str | Path],
    mapping: Mapping[str, str] | None = None,
    constants: Mapping[str, str] | None = None,
    fmt: str | None = None,
    source: str = "import",
) -> list[ImportResult]:
    """Import several files of one kind; each file is its own all-or-nothing unit."""
    with Importer(project, source=source) as importer:
        return [importer.import_file(kind, p, mapping, constants, fmt) for p in paths]
