"""What each importable kind of file becomes in the lake, and the checks it must pass first.

Each `prepare_*` takes a source table (already column-mapped) and returns the canonical lake tables
it produces. Nothing is written here; the importer commits the result atomically.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa
import pyarrow.compute as pc

from footfall.errors import InputFileError, InputLocation
from footfall.ingest.convert import conform, first_occurrences, refuse_rows, require_in, require_range, require_unique, require_values
from footfall.schema import (
    CHANNELS,
    EVENT_TYPES,
    EVENTS,
    ORDER_LINES,
    PRODUCTS,
    POSTCODES,
    PROMOTIONS,
    REALMS,
    RECEIPTS,
    STORES,
    EventName,
    order_lines,
    promote,
    receipt_message_id,
)
from footfall.schema.tables import OFFLINE_CHANNELS


@dataclass
class Prepared:
    """Canonical tables produced from one file, and what was read but not used."""

    tables: dict[str, pa.Table]
    rows_read: int
    ignored_columns: list[str] = field(default_factory=list)


@dataclass
class PrepareContext:
    file: str
    timezone: str
    source: str
    known_store_ids: pa.Array


def _string(values: list) -> pa.Array:
    return pa.array(values, type=pa.string())


def _check_store_ids(table: pa.Table, ctx: PrepareContext) -> None:
    require_in(
        table, ctx.file, "store_id", ctx.known_store_ids.to_pylist(), "store_id",
        hint="import the stores file first (footfall import stores FILE)",
    )


# -- events --------------------------------------------------------------------------------------
def _content_message_ids(table: pa.Table) -> pa.Array:
    """Deterministic ids for rows without message_id, so re-importing the same file adds nothing."""
    keys = ("type", "event", "user_id", "anonymous_id", "timestamp", "channel", "properties")
    rows = zip(*(table[k].to_pylist() for k in keys))
    return _string(["file-" + hashlib.sha1(repr(r).encode()).hexdigest()[:24] for r in rows])


def _promote_missing(table: pa.Table, absent: list[str]) -> pa.Table:
    """Fill typed columns the file did not have from the JSON objects it did have."""
    objects = [
        [None if t is None else json.loads(t) for t in table[name].to_pylist()]
        for name in ("context", "properties", "traits")
    ]
    found = [promote({"context": c, "properties": p, "traits": t}) for c, p, t in zip(*objects)]
    for column in absent:
        index = table.column_names.index(column)
        values = pa.array([row.get(column) for row in found], type=EVENTS.field(column).type)
        table = table.set_column(index, column, values)
    return table


def _event_order_lines(events: pa.Table) -> pa.Table:
    is_order = pc.fill_null(pc.equal(events["event"], EventName.ORDER_COMPLETED), False)
    orders = events.filter(pc.and_(is_order, pc.is_valid(events["properties"])))
    rows: list[dict] = []
    for message_id, order_id, ts, properties in zip(
        *(orders[c].to_pylist() for c in ("message_id", "order_id", "timestamp", "properties"))
    ):
        for line in order_lines(json.loads(properties)):
            rows.append({"message_id": message_id, "order_id": order_id or message_id, "timestamp": ts, **line})
    return pa.Table.from_pylist(rows, schema=ORDER_LINES)


def prepare_events(source: pa.Table, ctx: PrepareContext) -> Prepared:
    file = ctx.file
    if "type" not in source.column_names and "event" in source.column_names:
        # A file of track calls often has only an event name column.
        source = source.append_column("type", pc.if_else(pc.is_valid(source["event"]), "track", None))
    table, ignored = conform(source, EVENTS, file, ctx.timezone, required=("type", "timestamp", "channel"))
    table = table.set_column(table.column_names.index("type"), "type", pc.utf8_lower(table["type"]))
    table = table.set_column(table.column_names.index("channel"), "channel", pc.utf8_lower(table["channel"]))
    require_values(table, file, ("type", "timestamp", "channel"))
    require_in(table, file, "type", EVENT_TYPES, "event type")
    require_in(table, file, "channel", CHANNELS, "channel")
    track_without_name = pc.and_(pc.equal(table["type"], "track"), pc.is_null(table["event"]))
    refuse_rows(track_without_name, file, "event", "a track event needs an event name")
    anonymous = pc.and_(pc.is_null(table["user_id"]), pc.is_null(table["anonymous_id"]))
    refuse_rows(anonymous, file, "user_id", "every event needs a user_id or an anonymous_id")
    offline = pc.is_in(table["channel"], value_set=pa.array(OFFLINE_CHANNELS))
    realm = pc.coalesce(pc.utf8_lower(table["realm"]), pc.if_else(offline, "offline", "online"))
    table = table.set_column(table.column_names.index("realm"), "realm", realm)
    require_in(table, file, "realm", REALMS, "realm")
    _check_store_ids(table, ctx)
    if "source" not in source.column_names:
        table = table.set_column(table.column_names.index("source"), "source", pa.array([ctx.source] * table.num_rows))
    if not pc.all(pc.is_valid(table["message_id"])).as_py():
        generated = _content_message_ids(table)
        table = table.set_column(0, "message_id", pc.coalesce(table["message_id"], generated))
    absent = [c for c in PROMOTIONS if c not in source.column_names]
    has_objects = any(c in source.column_names for c in ("context", "properties", "traits"))
    if absent and has_objects:
        table = _promote_missing(table, absent)
    return Prepared({"events": table, "order_lines": _event_order_lines(table)}, table.num_rows, ignored)


# -- receipts ------------------------------------------------------------------------------------
_RECEIPT_FIELDS = ("store_id", "timestamp", "total", "currency", "loyalty_id", "card_token", "email",
                   "phone", "name", "postcode", "coupon_code", "fulfilment")
_TRAIT_FIELDS = ("email", "phone", "name", "postcode", "loyalty_id")


def _json_objects(columns: dict[str, list]) -> list[str]:
    names = list(columns)
    return [
        json.dumps({k: v for k, v in zip(names, values) if v is not None}, separators=(",", ":"), default=str)
        for values in zip(*columns.values())
    ]


def prepare_receipts(source: pa.Table, ctx: PrepareContext) -> Prepared:
    file = ctx.file
    required = ("receipt_id", "store_id", "timestamp", "total")
    lines, ignored = conform(source, RECEIPTS, file, ctx.timezone, required=required)
    require_values(lines, file, required)
    require_range(lines, file, "total", 0, float("inf"))
    require_range(lines, file, "quantity", 0, float("inf"))
    _check_store_ids(lines, ctx)
    receipts = first_occurrences(lines, "receipt_id")
    n = receipts.num_rows
    message_ids = [receipt_message_id(s, r) for s, r in zip(receipts["store_id"].to_pylist(), receipts["receipt_id"].to_pylist())]
    col = {name: receipts[name] for name in _RECEIPT_FIELDS}
    properties = _json_objects(
        {"order_id": receipts["receipt_id"].to_pylist(), "total": col["total"].to_pylist(),
         "currency": col["currency"].to_pylist(), "coupon": col["coupon_code"].to_pylist()}
    )
    traits = _json_objects({k: col[k].to_pylist() for k in _TRAIT_FIELDS})
    values = {
        "message_id": _string(message_ids),
        "type": pa.array(["track"] * n),
        "event": pa.array([EventName.ORDER_COMPLETED] * n),
        "timestamp": col["timestamp"],
        "properties": _string(properties),
        "traits": _string(traits),
        "context": pa.array(['{"source":"receipt"}'] * n),
        "realm": pa.array(["offline"] * n),
        "channel": pa.array(["pos"] * n),
        "source": pa.array([ctx.source] * n),
        "order_id": receipts["receipt_id"],
        "amount": col["total"],
        "fulfilment": pc.coalesce(col["fulfilment"], "in_store"),
        **{k: col[k] for k in ("store_id", "currency", "coupon_code", "loyalty_id", "card_token", "email",
                               "phone", "name", "postcode")},
    }
    events = pa.table({f.name: values.get(f.name, pa.nulls(n, f.type)) for f in EVENTS}).cast(
        pa.schema([f.with_nullable(True) for f in EVENTS])
    )
    return Prepared({"events": events, "order_lines": _receipt_lines(lines)}, lines.num_rows, ignored)


def _receipt_lines(lines: pa.Table) -> pa.Table:
    with_sku = lines.filter(pc.is_valid(lines["sku"]))
    line_numbers: dict[str, int] = {}
    rows = []
    for store_id, receipt_id, ts, sku, quantity, unit_price in zip(
        *(with_sku[c].to_pylist() for c in ("store_id", "receipt_id", "timestamp", "sku", "quantity", "unit_price"))
    ):
        line_numbers[receipt_id] = line_numbers.get(receipt_id, 0) + 1
        quantity = 1 if quantity is None else quantity
        rows.append({
            "message_id": receipt_message_id(store_id, receipt_id), "order_id": receipt_id,
            "line_no": line_numbers[receipt_id], "timestamp": ts, "sku": sku, "quantity": quantity,
            "unit_price": unit_price, "amount": None if unit_price is None else round(unit_price * quantity, 2),
        })
    return pa.Table.from_pylist(rows, schema=ORDER_LINES)


# -- reference tables ----------------------------------------------------------------------------
def _check_timezones(table: pa.Table, file: str) -> None:
    for index, name in enumerate(table["timezone"].to_pylist()):
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputFileError(
                InputLocation(file, row=index + 1, column="timezone"),
                f"unknown timezone {name!r}", "use an IANA name such as Europe/London",
            ) from None


def prepare_stores(source: pa.Table, ctx: PrepareContext) -> Prepared:
    file = ctx.file
    required = ("store_id", "name", "lat", "lon")
    table, ignored = conform(source, STORES, file, ctx.timezone, required=required)
    require_values(table, file, required)
    require_unique(table, file, "store_id")
    require_range(table, file, "lat", -90, 90)
    require_range(table, file, "lon", -180, 180)
    require_range(table, file, "radius_m", 1, 100_000)
    table = table.set_column(table.column_names.index("radius_m"), "radius_m", pc.coalesce(table["radius_m"], 100.0))
    table = table.set_column(table.column_names.index("timezone"), "timezone", pc.coalesce(table["timezone"], ctx.timezone))
    _check_timezones(table, file)
    return Prepared({"stores": table}, table.num_rows, ignored)


def prepare_products(source: pa.Table, ctx: PrepareContext) -> Prepared:
    file = ctx.file
    required = ("sku", "name", "category", "price")
    table, ignored = conform(source, PRODUCTS, file, ctx.timezone, required=required)
    require_values(table, file, required)
    require_unique(table, file, "sku")
    require_range(table, file, "price", 0, float("inf"))
    return Prepared({"products": table}, table.num_rows, ignored)


def prepare_postcodes(source: pa.Table, ctx: PrepareContext) -> Prepared:
    file = ctx.file
    required = ("postcode", "lat", "lon")
    table, ignored = conform(source, POSTCODES, file, ctx.timezone, required=required)
    require_values(table, file, required)
    require_unique(table, file, "postcode")
    require_range(table, file, "lat", -90, 90)
    require_range(table, file, "lon", -180, 180)
    return Prepared({"postcodes": table}, table.num_rows, ignored)


PREPARERS: dict[str, Callable[[pa.Table, PrepareContext], Prepared]] = {
    "events": prepare_events,
    "receipts": prepare_receipts,
    "stores": prepare_stores,
    "products": prepare_products,
    "postcodes": prepare_postcodes,
}
