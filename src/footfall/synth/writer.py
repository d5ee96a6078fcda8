"""Writing the world to Parquet: reference tables, per-chunk event and receipt parts, and the truth.

Rows are buffered and written as row groups of at most `FLUSH_ROWS`, so a chunk of any size streams
through a bounded amount of memory. Truth tables are written per chunk too (`truth/_parts/`) and
concatenated in chunk order at the end, so workers never send rows back to the parent process.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from footfall.schema import EVENTS, PRODUCTS, RECEIPTS, STORES, UTC_TIMESTAMP
from footfall.synth.catalogue import CURRENCY
from footfall.synth.geography import TIMEZONE
from footfall.synth.trail import Trail
from footfall.synth.setting import Setting

COMPRESSION = "zstd"
FLUSH_ROWS = 100_000

PERSONS = pa.schema(
    [
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("archetype", pa.string(), nullable=False),
        pa.field("household_id", pa.string(), nullable=False),
        pa.field("first_name", pa.string()),
        pa.field("last_name", pa.string()),
        pa.field("email", pa.string()),
        pa.field("phone", pa.string()),
        pa.field("postcode", pa.string()),
        pa.field("home_lat", pa.float64()),
        pa.field("home_lon", pa.float64()),
        pa.field("home_store_id", pa.string()),
        pa.field("home_store_km", pa.float64()),
        pa.field("has_app", pa.bool_()),
        pa.field("location_consent", pa.bool_()),
        pa.field("has_account", pa.bool_()),
        pa.field("loyalty_member", pa.bool_()),
    ]
)
IDENTIFIERS = pa.schema(
    [
        pa.field("identifier_type", pa.string(), nullable=False),
        pa.field("value", pa.string(), nullable=False),
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("shared", pa.bool_(), nullable=False),
    ]
)
RECORDS = pa.schema(
    [
        pa.field("record_kind", pa.string(), nullable=False),  # event | receipt
        pa.field("record_id", pa.string(), nullable=False),  # message_id, or receipt_id
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("message_id", pa.string(), nullable=False),  # for receipts: receipt_message_id(...)
    ]
)
VISITS = pa.schema(
    [
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("store_id", pa.string(), nullable=False),
        pa.field("arrived_at", UTC_TIMESTAMP, nullable=False),
        pa.field("left_at", UTC_TIMESTAMP, nullable=False),
        pa.field("observed_by", pa.string(), nullable=False),  # pings | beacons | pings+beacons | receipt_only | none
        pa.field("purpose", pa.string(), nullable=False),  # browse | purchase | pickup | event
    ]
)
TRUTH_TABLES: dict[str, pa.Schema] = {
    "persons": PERSONS,
    "identifiers": IDENTIFIERS,
    "records": RECORDS,
    "visits": VISITS,
}


def table(rows: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts keyed by column name; missing keys are nulls) as a table of exactly `schema`."""
    # Converting the dicts as one struct array runs in Arrow's C++ code: twice as fast as per column.
    structs = pa.array(rows, type=pa.struct(list(schema)))
    return pa.Table.from_struct_array(structs).cast(schema)


class PartWriter:
    """One Parquet file written in row groups as rows arrive."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.rows = 0
        self._buffer: list[dict[str, Any]] = []
        self._writer = pq.ParquetWriter(path, schema, compression=COMPRESSION)

    def extend(self, rows: Iterable[dict[str, Any]]) -> None:
        self._buffer.extend(rows)
        if len(self._buffer) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._writer.write_table(table(self._buffer, self.schema))
            self.rows += len(self._buffer)
            self._buffer = []

    def close(self) -> int:
        self.flush()
        self._writer.close()
        return self.rows


def part_name(chunk: int) -> str:
    return f"part-{chunk:05d}.parquet"


class ChunkWriter:
    """The files of one chunk of people: its events and receipts parts, and its truth parts."""

    def __init__(self, out_dir: Path, chunk: int) -> None:
        self.events = PartWriter(out_dir / "events" / part_name(chunk), EVENTS)
        self.receipts = PartWriter(out_dir / "receipts" / part_name(chunk), RECEIPTS)
        parts = out_dir / "truth" / "_parts"
        self.truth = {name: PartWriter(parts / f"{name}-{chunk:05d}.parquet", s) for name, s in TRUTH_TABLES.items()}
        self.receipt_count = 0

    def add(self, trail: Trail) -> None:
        """Everything one person left behind."""
        person = trail.person
        person_id = person.person_id
        self.events.extend(trail.events)
        self.receipts.extend(trail.receipts)
        self.receipt_count += len(trail.receipt_ids)
        truth = self.truth
        truth["records"].extend(
            {"record_kind": "event", "record_id": message_id, "person_id": person_id, "message_id": message_id}
            for message_id in (row["message_id"] for row in trail.events)
        )
        truth["records"].extend(
            {"record_kind": "receipt", "record_id": receipt_id, "person_id": person_id, "message_id": message_id}
            for receipt_id, message_id in trail.receipt_ids
        )
        truth["visits"].extend(trail.visits)
        truth["identifiers"].extend(
            {"identifier_type": kind, "value": value, "person_id": person_id, "shared": shared}
            for (kind, value), shared in trail.identifiers.items()
        )
        truth["persons"].extend(
            [
                {
                    "person_id": person_id,
                    "archetype": person.archetype,
                    "household_id": person.household_id,
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                    "email": person.email,
                    "phone": person.phone,
                    "postcode": person.postcode,
                    "home_lat": person.home_lat,
                    "home_lon": person.home_lon,
                    "home_store_id": person.home_store.store_id,
                    "home_store_km": round(person.home_store_m / 1000, 3),
                    "has_app": person.has_app,
                    "location_consent": person.location_consent,
                    "has_account": person.has_account,
                    "loyalty_member": person.loyalty_member,
                }
            ]
        )

    def close(self) -> dict[str, int]:
        """Finish every file; row counts by output name."""
        counts = {"events": self.events.close(), "receipt_lines": self.receipts.close()}
        counts["receipts"] = self.receipt_count
        counts.update({name: writer.close() for name, writer in self.truth.items()})
        return counts


def concatenate_truth_parts(out_dir: Path, chunks: int) -> None:
    """Join each truth table's per-chunk parts, in chunk order, into truth/<name>.parquet."""
    parts = out_dir / "truth" / "_parts"
    for name, schema in TRUTH_TABLES.items():
        with pq.ParquetWriter(out_dir / "truth" / f"{name}.parquet", schema, compression=COMPRESSION) as writer:
            for chunk in range(chunks):
                part = parts / f"{name}-{chunk:05d}.parquet"
                source = pq.ParquetFile(part)
                for group in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(group))
                source.close()
                part.unlink()
    parts.rmdir()


def write_reference_tables(out_dir: Path, setting: Setting) -> dict[str, int]:
    """stores.parquet and products.parquet."""
    stores = [
        {
            "store_id": s.store_id,
            "name": s.name,
            "lat": s.lat,
            "lon": s.lon,
            "radius_m": s.radius_m,
            "timezone": TIMEZONE,
            "opening_hours": s.opening_hours_json(),
            "city": s.city.name,
            "postcode": s.postcode,
            "beacon_ids": s.beacon_ids_json(),
        }
        for s in setting.stores
    ]
    products = [
        {"sku": p.sku, "name": p.name, "category": p.category, "price": p.price, "currency": CURRENCY}
        for p in setting.catalogue.products
    ]
    pq.write_table(table(stores, STORES), out_dir / "stores.parquet", compression=COMPRESSION)
    pq.write_table(table(products, PRODUCTS), out_dir / "products.parquet", compression=COMPRESSION)
    return {"stores": len(stores), "products": len(products)}


REFERENCE_KINDS = ("stores", "products", "postcodes")  # one file each; worlds written before postcodes lack it
RECORD_KINDS = ("events", "receipts")  # one file per chunk


def world_files(out_dir: Path) -> list[tuple[str, list[Path]]]:
    """(import kind, files) of a generated world, in the order to import them: reference tables
    first (visits and homes need the stores), then events and receipts chunk by chunk."""
    plan = [(kind, [out_dir / f"{kind}.parquet"]) for kind in REFERENCE_KINDS if (out_dir / f"{kind}.parquet").exists()]
    return plan + [(kind, sorted((out_dir / kind).glob("*.parquet"))) for kind in RECORD_KINDS]
