"""Per-person rollups kept fresh from newly loaded lake batches only: what incremental refresh reads.

Everything lives under `lake/_rollups/` as Parquet, so both engines read the same files:

- `person_events/<YYYY-MM>/<part>.parquet` — the owner-stamped event log: every event that belongs to
  a person, with the typed columns conditions filter on (`LOG_COLUMNS`; not the identifiers, pages or
  JSON objects) and the `person_id` that owned it when it was rolled up. Whatever the cube cannot answer (sequences, filters on other columns, the partial
  days at the edges of a window) reads this instead of joining all events to `event_persons`.
- `cube/<YYYY-MM>/<part>.parquet` — the rollup proper: per person × UTC day × event × realm × channel × store ×
  fulfilment, `n`, `amount` (sum), `first_at`, `last_at`. Rows are additive: a day that receives late
  events gets another row in a later part, and readers sum.
- `persons-<generation>.arrow` (and `.parquet`) — the universe of this generation of rollups: every
  person id of `persons`, once; a person's *code* is its position here. Python memory-maps the Arrow
  file; Spark reads the Parquet copy (ids with their codes) natively. The log carries each event's owner as a
  code too, so a refresh sums and indexes people by code without joining their ids again.
- `manifest.json` — the watermark (which lake event files are rolled up), the parts, and the identity
  fingerprint the rows were stamped under. A change is committed by writing and fsyncing its parts,
  then replacing the manifest atomically (write, fsync, rename). A crash before the rename leaves the
  old manifest, and the orphaned parts are deleted by the next update; after it, the whole change is
  in. So a batch is never counted twice nor skipped.

What is new: the lake is append-only and each batch writes new files (`events/<YYYY-MM>/<batch>.parquet`),
so "new" is simply the event files not in the manifest — late events land in old months' folders but
in new files, and are found like any other.

Identity: rows are keyed by the person that owned the event when it was rolled up. `event_persons`
is rewritten whole by every `footfall resolve`, and finding which of its rows changed would cost a scan
of all of it, so a new identity run (`IdentityStore.last_run`) triggers a rebuild from all events — one
pass, the same order of work as the resolve that caused it. Between runs, `event_persons` may only grow
by the rows of newly loaded events (identity given by an upstream system, appending); the update
checks that its row count grew by exactly the new events it owned (and that `persons` kept its size),
and rebuilds otherwise. On DuckDB the appended rows are found by row id at the end of the table, so
an update never scans the whole mapping.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ibis.expr.types import Table

from footfall.lake import fsync_path, split_by_partition
from footfall.schema.tables import EVENTS, ORDER_LINES
from footfall.segments.conditions import NO_LINE_SKU

ROLLUP_DIR = "_rollups"
MANIFEST = "manifest.json"
FORMAT_VERSION = 6  # 4: log sorted by event, then time; 5: order lines' skus in the log; 6: owners' codes
CUBE_DIMS = ("event", "realm", "channel", "store_id", "fulfilment")
# The event columns behavioural conditions filter on; identifiers, locations, pages and campaign tags
# are left out of the log (a rule that names one is evaluated from the raw events instead).
LOG_COLUMNS = ("message_id", "timestamp", "type", "event", "realm", "channel", "store_id", "source",
               "order_id", "fulfilment", "amount", "currency", "sku", "category", "quantity", "coupon_code",
               "campaign_id", "experience_id")
# Every column nullable: parts, empty months and temporary tables then agree on one schema.
PERSON_EVENTS = pa.schema([pa.field("person_id", pa.string()),
                           *(EVENTS.field(c).with_nullable(True) for c in LOG_COLUMNS),
                           # the skus of an order's lines (null: no lines): `same sku` and sku filters
                           # read them here instead of joining every order line of the lake
                           pa.field("skus", pa.list_(pa.string())),
                           # the owner's code in the generation's universe (`universe`); null for an owner
                           # missing from `persons`, who is no one's member
                           pa.field("code", pa.int32())])
_TIMESTAMP = EVENTS.field("timestamp").type
CUBE = pa.schema(
    [pa.field("person_id", pa.string()), pa.field("day", _TIMESTAMP),
     *(pa.field(d, pa.string()) for d in CUBE_DIMS),
     pa.field("n", pa.int64()), pa.field("amount", pa.float64()),
     pa.field("first_at", _TIMESTAMP), pa.field("last_at", _TIMESTAMP)]
)
STREAM_ROWS = 1_000_000
# Columns with one value per event or person are written plain: a Parquet dictionary of them is tried,
# overflows and is thrown away, which costs more than writing the column (the rest repeat a lot).
UNIQUE_VALUES = ("person_id", "message_id", "order_id", "code")
LOG_DICTIONARY = [c for c in PERSON_EVENTS.names if c not in UNIQUE_VALUES and c != "skus"]
CUBE_DICTIONARY = [c for c in CUBE.names if c in CUBE_DIMS]
LOG_ROW_GROUP = 65_536


@dataclass
class Manifest:
    """The committed state of the rollups (see the module docstring)."""

    batches: list[str] = field(default_factory=list)  # lake event files, relative to the lake root
    cube: list[str] = field(default_factory=list)  # cube parts, relative to the rollup directory
    person_events: list[str] = field(default_factory=list)
    identity_run: str | None = None
    owned_events: int = 0  # rows of event_persons when the rows were stamped
    stamped_events: int = 0  # events stamped so far; equal to owned_events when every owner row was used
    persons: int = 0  # rows of persons (the universe of `not`): a change means identity changed
    generation: str = ""  # changes on every rebuild: segment states made before it are void
    updated_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION, **self.__dict__}


@dataclass
class RollupUpdate:
    """What one update did: `mode` is unchanged, incremental or rebuild."""

    mode: str
    batches: int  # lake event files rolled up
    events: int  # owned events added
    new_cube_parts: list[str]
    manifest: Manifest


def rollup_dir(project: Any) -> Path:
    return Path(project.lake_dir) / ROLLUP_DIR


def read_manifest(directory: Path) -> Manifest | None:
    """The committed manifest, or None before the first update (or after a format change)."""
    path = directory / MANIFEST
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.pop("format", None) != FORMAT_VERSION:
        return None
    return Manifest(**data)


def _write_manifest(directory: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically: the commit point of an update."""
    manifest.updated_at = datetime.now(timezone.utc).isoformat()
    temporary = directory / f".{MANIFEST}.{uuid.uuid4().hex}"
    temporary.write_text(json.dumps(manifest.to_json(), indent=1), encoding="utf-8")
    fsync_path(temporary)
    os.replace(temporary, directory / MANIFEST)
    fsync_path(directory)


@contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """One updater of `directory` at a time (readers take no lock: they read what its committed
    manifest or state names)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_orphans(directory: Path, manifest: Manifest | None) -> None:
    """Delete parts a crashed update wrote but never committed."""
    kept = set() if manifest is None else {*manifest.cube, *manifest.person_events}
    for kind in ("cube", "person_events"):
        for path in (directory / kind).rglob("*.parquet") if (directory / kind).is_dir() else ():
            if str(path.relative_to(directory)) not in kept:
                path.unlink()
    for path in directory.glob(f".{MANIFEST}.*"):
        path.unlink()
    _remove_universes(directory, None if manifest is None else manifest.generation)  # a rebuild that never committed


def _remove_universes(directory: Path, kept: str | None) -> None:
    """Delete the universe files of every generation but `kept` (and unfinished ones)."""
    current = () if kept is None else (universe_path(directory, kept), universe_path(directory, kept).with_suffix(".parquet"))
    for path in [*directory.glob("persons-*"), *directory.glob(".persons-*")]:
        if path not in current:
            path.unlink(missing_ok=True)


def _last_identity_run(project: Any) -> str | None:
    """The latest finished identity run, read directly: `IdentityStore` would import all of
    `footfall.identity` and create and check its tables, which costs more than a small refresh."""
    query = "SELECT run_id FROM identity_runs WHERE finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1"
    url = project.operational_url
    if url.startswith("sqlite:///"):  # the default: the standard library answers without SQLAlchemy's import
        import sqlite3

        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10)) as connection:
            try:
                found = connection.execute(query).fetchone()
            except sqlite3.OperationalError:  # no identity run yet: the table may not exist
                return None
        return found[0] if found else None
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(query)).scalar()
    except DBAPIError:  # no identity run yet: the table may not exist
        return None
    finally:
        engine.dispose()


def identity_fingerprint(warehouse: Any) -> tuple[str | None, int, int]:
    """(latest finished identity run, rows of event_persons, rows of persons): what rows were stamped under."""
    run_id = _last_identity_run(warehouse.project)
    tables = warehouse.materialized_tables()
    if "event_persons" not in tables or "persons" not in tables:
        return run_id, 0, 0
    counts = [warehouse.table(name).aggregate(name=ibis.literal(name), n=ibis._.count())
              for name in ("event_persons", "persons")]  # one query: each costs a job on Spark
    rows = {r["name"]: int(r["n"]) for r in warehouse.to_arrow(ibis.union(*counts, distinct=False)).to_pylist()}
    return run_id, rows["event_persons"], rows["persons"]


def files_table(warehouse: Any, paths: list[Path], schema: pa.Schema) -> Table:
    """Parquet files as a table of the warehouse's engine (an empty one when there are none)."""
    if not paths:
        return ibis.memtable(schema.empty_table())
    if warehouse.engine == "duckdb":
        return warehouse.con.read_parquet([str(p) for p in paths])
    session = warehouse.con._session
    name = f"footfall_rollup_{uuid.uuid4().hex}"
    session.read.parquet(*(str(p) for p in paths)).createOrReplaceTempView(name)
    return warehouse.con.table(name)


def universe_path(directory: Path, generation: str) -> Path:
    return directory / f"persons-{generation}.arrow"


def write_universe(warehouse: Any, directory: Path, generation: str) -> None:
    """Number the people of `persons` for a new generation (its files are written before any part;
    the Arrow file last, as the one `_remove_orphans` and readers go by)."""
    ids = warehouse.to_arrow(warehouse.table("persons").select("person_id"))["person_id"] \
        if "persons" in warehouse.materialized_tables() else pa.chunked_array([], pa.string())
    people = pc.unique(ids.combine_chunks()).cast(pa.string())
    path = universe_path(directory, generation)
    pq.write_table(_numbered(people), path.with_suffix(".parquet"), use_dictionary=False)
    fsync_path(path.with_suffix(".parquet"))
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    table = pa.table({"person_id": people})
    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    fsync_path(temporary)
    os.replace(temporary, path)


def read_universe(directory: Path, generation: str) -> pa.Array:
    """person_id by code for a generation (memory-mapped)."""
    return pa.ipc.open_file(pa.memory_map(str(universe_path(directory, generation)))).read_all()["person_id"].combine_chunks()


def universe_table(warehouse: Any, directory: Path, generation: str) -> Table:
    """(universe_person_id, code) as a table of the engine, for joining ids to codes: on DuckDB the
    memory-mapped Arrow ids (no copy), on Spark the Parquet copy (no trip through pandas)."""
    if warehouse.engine == "spark":
        schema = pa.schema([pa.field("universe_person_id", pa.string()), pa.field("code", pa.int32())])
        return files_table(warehouse, [universe_path(directory, generation).with_suffix(".parquet")], schema)
    return ibis.memtable(_numbered(read_universe(directory, generation)))


def _numbered(people: pa.Array) -> pa.Table:
    """(universe_person_id, code): each id with its position."""
    return pa.table({"universe_person_id": people, "code": pa.array(np.arange(len(people), dtype=np.int32))})


def stamped_events(warehouse: Any, paths: list[Path], codes: Table, appended_after: int | None = None) -> Table:
    """The owned events of some lake event files, with their person_id and its code (`codes`: the
    generation's `universe_table`), as PERSON_EVENTS columns.

    appended_after: on DuckDB, look for owners only among the rows of `event_persons` after that many
    (rows appended since the last update sit at the end of the table, and a scan skips the rest by row
    id), instead of probing all of it.
    """
    events = files_table(warehouse, paths, EVENTS)
    if appended_after is not None and warehouse.engine == "duckdb":
        owners = warehouse.con.sql(
            f"SELECT message_id, person_id FROM event_persons WHERE rowid >= {int(appended_after)}")
    else:
        owners = warehouse.table("event_persons").select("message_id", "person_id")
    owners = owners.left_join(codes, owners.person_id == codes.universe_person_id).select("message_id", "person_id", "code")
    joined = events.join(owners, "message_id")
    # An order's lines are committed in the same lake batch as the order (the loader derives them
    # from it), so the new batches' line files hold every line of the new orders.
    line_files = [f for path in paths for f in path.parents[2].glob(f"order_lines/*/{path.name}")]
    if line_files:
        lines = files_table(warehouse, line_files, ORDER_LINES)
        # a line without an sku stands for the order's own sku: kept as a marker (Spark's collect drops nulls)
        skus = lines.group_by(line_message_id=lines.message_id).aggregate(
            skus=lines.sku.fill_null(NO_LINE_SKU).collect())
        joined = joined.left_join(skus, joined.message_id == skus.line_message_id)
    else:
        joined = joined.mutate(skus=ibis.null(dt.Array(dt.string)))
    return joined.select(*PERSON_EVENTS.names)


class _PartWriter:
    """Writes one update's event-log parts, one file per UTC month (so a reader interested in a few days
    opens only their months), rows sorted by event, then time; `_cube_of_log` aggregates them after."""

    def __init__(self, directory: Path, part: str) -> None:
        self.directory, self.part = directory, part
        self.writers: dict[str, pq.ParquetWriter] = {}  # by month
        self.rows = 0

    def _writer(self, month: str) -> pq.ParquetWriter:
        if month not in self.writers:
            path = self.directory / "person_events" / month / f"{self.part}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            self.writers[month] = pq.ParquetWriter(path, PERSON_EVENTS, compression="zstd", use_dictionary=LOG_DICTIONARY)
        return self.writers[month]

    def add(self, rows: pa.Table, ordered: bool = False) -> None:
        """ordered: the rows come sorted by month, event and time already (the engine sorted them)."""
        rows = rows.select(PERSON_EVENTS.names).cast(PERSON_EVENTS)
        if rows.num_rows == 0:
            return
        self.rows += rows.num_rows
        for month, part in split_by_partition(rows):
            # by event, then time, in small row groups: a read that names an event (every condition
            # does) skips the other events' row groups by their min/max statistics
            in_order = part if ordered else part.sort_by([("event", "ascending"), ("timestamp", "ascending")])
            self._writer(month).write_table(in_order, row_group_size=LOG_ROW_GROUP)

    def close(self) -> list[str]:
        """Close and fsync the files; the person_events parts, relative to the directory."""
        for writer in self.writers.values():
            writer.close()
        parts = [f"person_events/{month}/{self.part}.parquet" for month in sorted(self.writers)]
        for relative in parts:
            fsync_path(self.directory / relative)
        return parts


def _cube_of_log(warehouse: Any, directory: Path, person_parts: list[str], together: bool = False) -> list[str]:
    """The cube of freshly written event-log parts, aggregated by the engine one month at a time (a
    streamed rebuild meets each person-day in many batches, a month's GROUP BY makes it one row), or
    all in one query (`together`: an update's few new events, where a query per month costs more)."""
    written = []
    for group in ([person_parts] if together and person_parts else [[p] for p in person_parts]):
        events = files_table(warehouse, [directory / relative for relative in group], PERSON_EVENTS)
        # whole UTC days since the epoch: independent of any session time zone
        day = (events.timestamp.epoch_seconds() // 86_400).cast("int64")
        grouped = events.group_by([events.person_id, day.name("day_number"), *CUBE_DIMS]).aggregate(
            n=events.count(), amount=events.amount.sum(), first_at=events.timestamp.min(),
            last_at=events.timestamp.max())
        rows = warehouse.to_arrow(grouped)
        day_start = pc.multiply(rows["day_number"].cast(pa.int64()), 86_400_000_000).cast(pa.timestamp("us"))
        rows = rows.append_column("day", day_start.cast(_TIMESTAMP))
        # by day (row groups then prune by day); sorting people's ids as well would cost as much as the query
        rows = rows.select(CUBE.names).cast(CUBE).sort_by([("day", "ascending")])
        for month, part in split_by_partition(rows, "day"):
            target = f"cube/{month}/{Path(group[0]).stem}.parquet"  # the log part's id, in the cube
            (directory / target).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(part, directory / target, compression="zstd", use_dictionary=CUBE_DICTIONARY)
            fsync_path(directory / target)
            written.append(target)
    return written


def part_month(relative: str) -> str:
    """The UTC month (YYYY-MM) a part's rows fall in, from its path."""
    return relative.split("/")[1]


def _new_part_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


def _stream_into(writer: _PartWriter, expr: Table, ordered: bool = False) -> None:
    """ordered: let the engine sort the rows (month, event, time) — for an update's few new events; a
    rebuild's chunks are sorted one at a time instead."""
    if ordered:
        expr = expr.order_by([expr.timestamp.truncate("M"), expr.event, expr.timestamp])
    for batch in expr.to_pyarrow_batches(chunk_size=STREAM_ROWS):
        writer.add(pa.Table.from_batches([batch]), ordered)


def update_rollups(warehouse: Any, progress: Callable[[str], None] | None = None) -> RollupUpdate:
    """Roll up the lake event files not yet in the manifest (or rebuild after an identity run)."""
    directory = rollup_dir(warehouse.project)
    lake_root = Path(warehouse.project.lake_dir)
    with exclusive(directory):
        manifest = read_manifest(directory)
        _remove_orphans(directory, manifest)
        files = [str(p.relative_to(lake_root)) for p in warehouse.lake.files("events")]
        run, owned, persons = identity_fingerprint(warehouse)
        if manifest is None or manifest.identity_run != run or manifest.persons != persons:
            return _rebuild(warehouse, directory, files, run, owned, persons, progress)
        new = [f for f in files if f not in set(manifest.batches)]
        if not new:
            if owned != manifest.owned_events:
                return _rebuild(warehouse, directory, files, run, owned, persons, progress)
            return RollupUpdate("unchanged", 0, 0, [], manifest)
        if progress:
            progress(f"rolling up {len(new)} new lake files")
        paths = [lake_root / f for f in new]
        # Every owner row was used so far: the new events' owners can only be rows appended since.
        tail = manifest.owned_events if manifest.stamped_events == manifest.owned_events else None
        codes = universe_table(warehouse, directory, manifest.generation)
        for appended_after in ([tail, None] if tail is not None else [None]):
            writer = _PartWriter(directory, _new_part_id())
            _stream_into(writer, stamped_events(warehouse, paths, codes, appended_after), ordered=True)
            person_parts = writer.close()
            if owned == manifest.owned_events + writer.rows:
                break
            _discard(directory, person_parts)
        else:
            # event_persons changed otherwise than by owning the new events: stamp everything again
            return _rebuild(warehouse, directory, files, run, owned, persons, progress)
        cube_parts = _cube_of_log(warehouse, directory, person_parts, together=True)
        updated = Manifest(
            batches=[*manifest.batches, *new], cube=[*manifest.cube, *cube_parts],
            person_events=[*manifest.person_events, *person_parts], identity_run=run, owned_events=owned,
            stamped_events=manifest.stamped_events + writer.rows, persons=persons, generation=manifest.generation)
        _write_manifest(directory, updated)
        return RollupUpdate("incremental", len(new), writer.rows, cube_parts, updated)


def _discard(directory: Path, parts: list[str]) -> None:
    for relative in parts:
        (directory / relative).unlink(missing_ok=True)


def _rebuild(warehouse: Any, directory: Path, files: list[str], run: str | None, owned: int, persons: int,
             progress: Callable[[str], None] | None) -> RollupUpdate:
    """Stamp every lake event file again: a new generation of parts replaces the old one."""
    if progress:
        progress(f"rebuilding rollups from {len(files)} lake files")
    lake_root = Path(warehouse.project.lake_dir)
    generation = uuid.uuid4().hex
    write_universe(warehouse, directory, generation)
    writer = _PartWriter(directory, _new_part_id())
    if files and "event_persons" in warehouse.materialized_tables():
        _stream_into(writer, stamped_events(warehouse, [lake_root / f for f in files], universe_table(warehouse, directory, generation)))
    person_parts = writer.close()
    cube_parts = _cube_of_log(warehouse, directory, person_parts)
    previous = read_manifest(directory)
    updated = Manifest(batches=files, cube=cube_parts, person_events=person_parts, identity_run=run,
                       owned_events=owned, stamped_events=writer.rows, persons=persons, generation=generation)
    _write_manifest(directory, updated)
    if previous is not None:  # the old generation's parts are unreferenced now
        _discard(directory, [p for p in [*previous.cube, *previous.person_events]
                             if p not in {*cube_parts, *person_parts}])
    _remove_universes(directory, generation)  # other generations' codes are void
    return RollupUpdate("rebuild", len(files), writer.rows, cube_parts, updated)

