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
import pyarrow.compute as pc

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
    """One `Store Visited` events row per visit row (columns as `footfall.ingest.visits.store_visits`,
    times whole seconds), built column by column: a run can emit hundreds of thousands of visits.

    rules: the detection settings, kept in `context.visit_detection` so each event says how it was made.
    """
    visits = utc_times(visits)
    count = visits.num_rows
    arrived_us = pc.cast(visits["arrived_at"], pa.int64()).cast(pa.string())
    message_ids = pc.binary_join_element_wise(pa.repeat("visit", count), visits["device"], visits["store_id"],
                                              arrived_us, ":")
    # whole seconds by construction (the cast to seconds refuses anything finer), rendered like isoformat()
    iso = {name: pc.strftime(visits[name].cast(pa.timestamp("s", tz="UTC")), "%Y-%m-%dT%H:%M:%S+00:00").to_pylist()
           for name in _VISIT_TIMES}
    columns = {name: visits[name].to_pylist() for name in ("store_id", "dwell_s", "signals", "pings",
                                                            "beacon_sightings", "observed_by")}
    properties = [
        orjson.dumps({"store_id": store_id, "arrived_at": arrived, "left_at": left, "dwell_s": int(dwell),
                      "signals": int(signals), "pings": int(pings), "beacon_sightings": int(sightings),
                      "observed_by": observed_by}).decode()
        for store_id, arrived, left, dwell, signals, pings, sightings, observed_by in zip(
            columns["store_id"], iso["arrived_at"], iso["left_at"], columns["dwell_s"], columns["signals"],
            columns["pings"], columns["beacon_sightings"], columns["observed_by"])
    ]
    values = {
        "message_id": message_ids,
        "type": pa.repeat("track", count),
        "event": pa.repeat(EventName.STORE_VISITED, count),
        "anonymous_id": visits["anonymous_id"],
        "user_id": visits["user_id"],
        "timestamp": visits["arrived_at"],
        "received_at": pa.repeat(pa.scalar(received_at, UTC_TIMESTAMP), count),
        "context": pa.repeat(orjson.dumps({"visit_detection": dict(rules)}).decode(), count),
        "properties": pa.array(properties, pa.string()),
        "realm": pa.repeat("offline", count),
        "channel": pa.repeat("store", count),
        "store_id": visits["store_id"],
        "source": pa.repeat(SOURCE, count),
        "ended_at": visits["left_at"],
        "device_id": visits["device_id"],
    }
    return pa.table([values[f.name].cast(f.type) if f.name in values else pa.nulls(count, f.type)
                     for f in _NULLABLE_EVENTS], schema=_NULLABLE_EVENTS)
