"""Detected store visits as canonical `Store Visited` events (the edge between Ibis and the lake).

Each visit becomes one track event — realm offline, channel store, the visit's store, `timestamp` =
arrival, `ended_at` = departure (also `properties.left_at`, where promotion reads it from), and the
device's anonymous and user ids — so the derived `visits` table, identity resolution and journeys see
detected visits exactly like visits reported by store systems. Its message id is a function of the
device, store and arrival, so detecting the same visit again yields the same id and the lake's dedupe
stores it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pyarrow as pa

from footfall.schema import EVENTS, UTC_TIMESTAMP, EventName

SOURCE = "visit-detection"
_NULLABLE_EVENTS = pa.schema([f.with_nullable(True) for f in EVENTS])
_VISIT_TIMES = ("arrived_at", "left_at")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def visit_message_id(device: str, store_id: str, arrived_at: datetime) -> str:
    """`visit:{device}:{store_id}:{arrival in UTC microseconds}`: stable across runs and engines."""
    arrived_us = (arrived_at - _EPOCH) // timedelta(microseconds=1)
    return f"visit:{device}:{store_id}:{arrived_us}"


def utc_times(visits: pa.Table) -> pa.Table:
    """Visit times as UTC microsecond timestamps whatever the engine returned (Spark gives naive UTC)."""
    for name in _VISIT_TIMES:
        column = visits[name]
        if column.type.tz is None:
            column = column.cast(pa.timestamp("us")).cast(UTC_TIMESTAMP)
        visits = visits.set_column(visits.schema.get_field_index(name), name, column.cast(UTC_TIMESTAMP))
    return visits


def store_visited_events(visits: pa.Table, rules: Mapping[str, Any], received_at: datetime) -> pa.Table:
    """One `Store Visited` events row per visit row (columns as `footfall.ingest.visits.store_visits`).

    rules: the detection settings, kept in `context.visit_detection` so each event says how it was made.
    """
    context = orjson.dumps({"visit_detection": dict(rules)}).decode()
    rows = []
    for visit in utc_times(visits).to_pylist():
        arrived_at, left_at = visit["arrived_at"], visit["left_at"]
        properties = {
            "store_id": visit["store_id"],
            "arrived_at": arrived_at.isoformat(),
            "left_at": left_at.isoformat(),
            "dwell_s": int(visit["dwell_s"]),
            "signals": int(visit["signals"]),
            "pings": int(visit["pings"]),
            "beacon_sightings": int(visit["beacon_sightings"]),
            "observed_by": visit["observed_by"],
        }
        rows.append({
            "message_id": visit_message_id(visit["device"], visit["store_id"], arrived_at),
            "type": "track",
            "event": EventName.STORE_VISITED,
            "anonymous_id": visit["anonymous_id"],
            "user_id": visit["user_id"],
            "timestamp": arrived_at,
            "received_at": received_at,
            "context": context,
            "properties": orjson.dumps(properties).decode(),
            "realm": "offline",
            "channel": "store",
            "store_id": visit["store_id"],
            "source": SOURCE,
            "ended_at": left_at,
            "device_id": visit["device_id"],
        })
    return pa.Table.from_pylist(rows, schema=_NULLABLE_EVENTS)
