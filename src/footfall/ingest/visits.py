"""Store-visit detection: `Store Visited` events derived from location pings and beacon sightings.

A visit is a run of *in-store signals* from one device at one store in which no two consecutive
signals are more than `max_gap_s` apart, lasting at least `min_dwell_s` from the first signal to the
last. An in-store signal is a `Location Updated` ping that is accurate enough and falls inside a
store's geofence (`stores.radius_m`, plus a tolerance), or a `Beacon Sighted` event for a beacon
installed in the store (`stores.beacon_ids`). This is stay-point detection (Li et al., "Mining user
similarity based on location history", ACM SIGSPATIAL GIS 2008: a distance threshold and a time
threshold) with the distance threshold replaced by known geofences, computed as gaps-and-islands
sessionisation. The rules and the reasoning behind their defaults are in docs/visits.md.

Every step below is a small Ibis function, so the whole detection runs unchanged on DuckDB and Spark:

1. `location_pings`, `beacon_sightings` — the raw signals, keyed by device (anonymous_id, else user_id);
2. `accurate_pings` — drop pings whose reported accuracy is too coarse;
3. `pings_in_geofences` — grid-cell equi-join of pings × geofences, bounding-box check, haversine;
4. `sightings_in_stores` — beacons mapped to their store;
5. `in_store_signals` — both kinds as one table;
6. `number_visits` — lag, gap/store-change flag, running sum: a visit number per signal;
7. `visits_of_signals` — one row per visit; `long_enough` keeps those of the minimum dwell;
8. `mark_closed` — a visit is closed once the newest signal seen is more than the maximum gap (plus an
   allowance for late data) past its last signal: no later signal can extend it, so it can be emitted.

The store reference (geofence grid cells, beacon → store) is built in Python from the small `stores`
table and joined back as `ibis.memtable`s: parsing JSON arrays differs per engine, and the cells turn
the pings × stores join into an equi-join that both engines hash instead of a nested loop.
`detect_store_visits` writes the closed visits to the lake as events (`footfall.ingest.visit_events`).
"""

from __future__ import annotations

import json
import math
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.types import BooleanValue, FloatingValue, Table
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from footfall.errors import SettingsError
from footfall.ingest.dedupe import MessageIdIndex
from footfall.ingest.visit_events import store_visited_events
from footfall.schema import EventName
from footfall.warehouse import Warehouse

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180
# Side of the grid cells that pre-match pings to stores (~1.1 km north-south). Any size gives the
# same visits; this one keeps a store in 1-4 cells and a cell's candidate stores few.
GRID_DEGREES = 0.01
# Signal columns, in the order both kinds are unioned.
_SIGNAL_COLUMNS = ("device", "anonymous_id", "user_id", "device_id", "message_id", "store_id", "signal_at",
                   "is_ping", "is_sighting")


class VisitSettings(BaseModel):
    """The rules of visit detection (validated, serialisable; defaults explained in docs/visits.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    geofence_tolerance_m: float = Field(0.0, ge=0, description="metres added to every store's radius_m")
    max_accuracy_m: float | None = Field(100.0, gt=0, description="drop pings less accurate than this")
    max_accuracy_to_radius: float | None = Field(
        2.5, gt=0, description="drop pings whose accuracy circle exceeds this many geofence radii")
    keep_pings_without_accuracy: bool = Field(True, description="a ping that reports no accuracy is kept")
    max_gap_s: int = Field(12 * 60, gt=0, description="longest gap between in-store signals within one visit")
    min_dwell_s: int = Field(4 * 60, ge=0, description="shortest visit, first signal to last")
    use_beacons: bool = Field(True, description="beacon sightings count as in-store signals")
    lateness_s: int = Field(5 * 60, ge=0, description="allowance for signals that arrive late (batched apps)")


def visit_settings_from_file(path: str | Path) -> VisitSettings:
    """Visit rules from a TOML or JSON file holding `VisitSettings` fields (unset fields keep defaults)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        return VisitSettings.model_validate(raw.get("visits", raw) if isinstance(raw, dict) else raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"{path}: {problems}") from None
    except (OSError, ValueError) as exc:  # unreadable, or not valid JSON / TOML
        raise SettingsError(f"{path}: not a readable TOML or JSON file of visit settings ({exc})") from None


# -- the store reference, from the small stores table -------------------------------------------------
@dataclass(frozen=True)
class StoreReference:
    """Geofence grid cells and beacon → store pairs, as memtables to join against the events."""

    geofences: Table
    beacons: Table
    overlapping: bool  # whether any two geofences overlap (then a ping is given to the nearest store)
    warnings: list[str] = field(default_factory=list)


_GEOFENCE_SCHEMA = pa.schema({"cell_lat": pa.int64(), "cell_lon": pa.int64(), "store_id": pa.string(),
                              "store_lat": pa.float64(), "store_lon": pa.float64(), "radius_m": pa.float64(),
                              "reach_m": pa.float64(), "lat_min": pa.float64(), "lat_max": pa.float64(),
                              "lon_min": pa.float64(), "lon_max": pa.float64()})
_BEACON_SCHEMA = pa.schema({"beacon_id": pa.string(), "beacon_store_id": pa.string()})


def _cells(low: float, high: float) -> range:
    return range(math.floor(low / GRID_DEGREES), math.floor(high / GRID_DEGREES) + 1)


def _distance_m(a: dict[str, Any], b: dict[str, Any]) -> float:
    """Haversine distance between two stores' centres, in Python (for the small reference only)."""
    p1, p2 = math.radians(a["store_lat"]), math.radians(b["store_lat"])
    h = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b["store_lon"] - a["store_lon"]) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def store_reference(stores: Table | pa.Table, settings: VisitSettings) -> StoreReference:
    """Read the stores once and build (a) every grid cell each geofence's bounding box touches, with the
    store's centre, reach and box, and (b) the store of every installed beacon."""
    if isinstance(stores, Table):
        stores = stores.select("store_id", "lat", "lon", "radius_m", "beacon_ids").to_pyarrow()
    cells: list[dict[str, Any]] = []
    beacons: dict[str, str] = {}
    warnings: list[str] = []
    for store in sorted(stores.to_pylist(), key=lambda row: row["store_id"]):
        reach_m = store["radius_m"] + settings.geofence_tolerance_m
        dlat = reach_m / METRES_PER_DEGREE
        dlon = dlat / max(math.cos(math.radians(store["lat"])), 0.01)
        fence = {"store_id": store["store_id"], "store_lat": store["lat"], "store_lon": store["lon"],
                 "radius_m": store["radius_m"], "reach_m": reach_m, "lat_min": store["lat"] - dlat,
                 "lat_max": store["lat"] + dlat, "lon_min": store["lon"] - dlon, "lon_max": store["lon"] + dlon}
        cells.extend({"cell_lat": cell_lat, "cell_lon": cell_lon, **fence}
                     for cell_lat in _cells(fence["lat_min"], fence["lat_max"])
                     for cell_lon in _cells(fence["lon_min"], fence["lon_max"]))
        for beacon_id in _beacon_ids(store["store_id"], store["beacon_ids"], warnings):
            if beacons.setdefault(beacon_id, store["store_id"]) != store["store_id"]:
                warnings.append(f"beacon {beacon_id} is listed by stores {beacons[beacon_id]} and "
                                f"{store['store_id']}; its sightings count for {beacons[beacon_id]}")
    by_cell: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for cell in cells:  # geofences can only overlap where they share a grid cell
        by_cell[cell["cell_lat"], cell["cell_lon"]].append(cell)
    overlapping = any(_distance_m(a, b) < a["reach_m"] + b["reach_m"]
                      for shared in by_cell.values() for i, a in enumerate(shared) for b in shared[i + 1:])
    return StoreReference(
        geofences=ibis.memtable(pa.Table.from_pylist(cells, schema=_GEOFENCE_SCHEMA)),
        beacons=ibis.memtable(pa.table([list(beacons), list(beacons.values())], schema=_BEACON_SCHEMA)),
        overlapping=overlapping,
        warnings=warnings,
    )


def _beacon_ids(store_id: str, text: str | None, warnings: list[str]) -> list[str]:
    """The beacon ids in a store's `beacon_ids` JSON array (a malformed value is reported, not fatal)."""
    if not text:
        return []
    try:
        ids = json.loads(text)
    except json.JSONDecodeError:
        ids = None
    if not isinstance(ids, list):
        warnings.append(f"store {store_id}: beacon_ids is not a JSON array ({text[:60]!r}); its beacons are ignored")
        return []
    return [str(i) for i in ids if i not in (None, "")]


# -- signals --------------------------------------------------------------------------------------------
def _device_and_ids(events: Table) -> dict[str, Any]:
    return {"device": ibis.coalesce(events.anonymous_id, events.user_id), "anonymous_id": events.anonymous_id,
            "user_id": events.user_id, "device_id": events.device_id, "message_id": events.message_id,
            "signal_at": events.timestamp}


def _before(events: Table, until: datetime | None) -> Table:
    """Events before `until` (a naive `until` is taken as UTC, like every timestamp in the lake)."""
    if until is None:
        return events
    until = until.replace(tzinfo=timezone.utc) if until.tzinfo is None else until.astimezone(timezone.utc)
    return events.filter(events.timestamp < ibis.literal(until, "timestamp('UTC')"))


def location_pings(events: Table, until: datetime | None = None) -> Table:
    """`Location Updated` events with coordinates, keyed by device: the anonymous id of the app install
    (stable across log-ins), else the user id."""
    pings = _before(events, until)
    pings = pings.filter(pings.event == EventName.LOCATION_UPDATED, pings.lat.notnull(), pings.lon.notnull(),
                         ibis.coalesce(pings.anonymous_id, pings.user_id).notnull())
    return pings.select(**_device_and_ids(pings), lat=pings.lat, lon=pings.lon, accuracy_m=pings.accuracy_m)


def beacon_sightings(events: Table, until: datetime | None = None) -> Table:
    """`Beacon Sighted` events with a beacon id, keyed by device like pings."""
    sightings = _before(events, until)
    sightings = sightings.filter(sightings.event == EventName.BEACON_SIGHTED, sightings.beacon_id.notnull(),
                                 ibis.coalesce(sightings.anonymous_id, sightings.user_id).notnull())
    return sightings.select(**_device_and_ids(sightings), beacon_id=sightings.beacon_id)


def accurate_pings(pings: Table, settings: VisitSettings) -> Table:
    """Drop pings whose accuracy radius exceeds `max_accuracy_m`: a fix that coarse cannot tell a shop
    from the street outside. Pings without an accuracy are kept unless settings say otherwise."""
    if settings.max_accuracy_m is None:
        return pings
    accurate = pings.accuracy_m <= settings.max_accuracy_m
    if settings.keep_pings_without_accuracy:
        accurate = accurate | pings.accuracy_m.isnull()
    return pings.filter(accurate)


def haversine_m(lat1: FloatingValue, lon1: FloatingValue, lat2: FloatingValue, lon2: FloatingValue) -> FloatingValue:
    """Great-circle distance in metres between two points given in degrees (an Ibis expression)."""
    half_dlat = (lat2 - lat1).radians() / 2
    half_dlon = (lon2 - lon1).radians() / 2
    a = half_dlat.sin() ** 2 + lat1.radians().cos() * lat2.radians().cos() * half_dlon.sin() ** 2
    return 2 * EARTH_RADIUS_M * a.sqrt().asin()


def pings_in_geofences(pings: Table, reference: StoreReference, settings: VisitSettings) -> Table:
    """Each ping inside a geofence, with that store. Pings are matched to the geofences of their grid
    cell (an equi-join), checked against the geofence's bounding box (cheap) and then by haversine
    distance. A ping whose accuracy circle is much larger than the geofence (`max_accuracy_to_radius`)
    says nothing about being inside it and is dropped; a ping inside overlapping geofences counts for
    the nearest store only, so a device is never in two stores at once."""
    celled = pings.mutate(cell_lat=(pings.lat / GRID_DEGREES).floor(), cell_lon=(pings.lon / GRID_DEGREES).floor())
    joined = celled.join(reference.geofences, ["cell_lat", "cell_lon"])
    boxed = joined.filter(joined.lat.between(joined.lat_min, joined.lat_max),
                          joined.lon.between(joined.lon_min, joined.lon_max))
    measured = boxed.mutate(distance_m=haversine_m(boxed.lat, boxed.lon, boxed.store_lat, boxed.store_lon))
    inside = measured.filter(measured.distance_m <= measured.reach_m)
    if settings.max_accuracy_to_radius is not None:
        sharp = inside.accuracy_m <= settings.max_accuracy_to_radius * inside.radius_m
        if settings.keep_pings_without_accuracy:
            sharp = sharp | inside.accuracy_m.isnull()
        inside = inside.filter(sharp)
    if reference.overlapping:  # else a ping lies in one geofence at most: no ranking (and shuffle) needed
        nearest = ibis.window(group_by="message_id", order_by=["distance_m", "store_id"])
        inside = inside.mutate(rank=ibis.row_number().over(nearest))
        inside = inside.filter(inside["rank"] == 0)
    return inside.select(*_SIGNAL_COLUMNS[:5], "store_id", "signal_at")


def sightings_in_stores(sightings: Table, beacons: Table) -> Table:
    """Each sighting of a known beacon, with the store it is installed in (unknown beacons are ignored)."""
    joined = sightings.join(beacons, "beacon_id")
    return joined.select(*_SIGNAL_COLUMNS[:5], store_id=joined.beacon_store_id, signal_at=joined.signal_at)


def in_store_signals(pings: Table, sightings: Table | None) -> Table:
    """Pings and sightings as one table of in-store signals, with a 0/1 column for each kind."""
    one, zero = ibis.literal(1, "int64"), ibis.literal(0, "int64")
    signals = pings.mutate(is_ping=one, is_sighting=zero).select(*_SIGNAL_COLUMNS)
    if sightings is not None:
        signals = signals.union(sightings.mutate(is_ping=zero, is_sighting=one).select(*_SIGNAL_COLUMNS))
    return signals


# -- sessionisation -------------------------------------------------------------------------------------
def number_visits(signals: Table, settings: VisitSettings) -> Table:
    """Give every signal a visit number per device: a signal starts a new visit when it is the device's
    first, when the previous signal was at another store, or when it comes more than `max_gap_s` after
    the previous one; the running sum of those starts numbers the visits. Ordering by message id last
    makes ties (two signals in the same microsecond) break the same way on every engine."""
    order = ["signal_at", "store_id", "message_id"]
    previous = ibis.window(group_by="device", order_by=order)
    previous_at = signals.signal_at.lag().over(previous)
    previous_store = signals.store_id.lag().over(previous)
    starts: BooleanValue = (previous_at.isnull() | (previous_store != signals.store_id)
                            | (previous_at + ibis.interval(seconds=settings.max_gap_s) < signals.signal_at))
    flagged = signals.mutate(starts_visit=starts.ifelse(1, 0))
    running = ibis.cumulative_window(group_by="device", order_by=order)
    return flagged.mutate(visit_no=flagged.starts_visit.sum().over(running))


def visits_of_signals(numbered: Table) -> Table:
    """One row per visit: arrival (first signal) and departure (last signal), both to the second, dwell,
    signal counts and what observed it (pings, beacons or pings+beacons). A device keeps one anonymous
    id; when it was used logged in, the visit carries the (greatest) user id seen during it."""
    visits = numbered.group_by(["device", "visit_no", "store_id"]).aggregate(
        anonymous_id=numbered.anonymous_id.max(),
        user_id=numbered.user_id.max(),
        device_id=numbered.device_id.max(),
        arrived_at=numbered.signal_at.min(),
        left_at=numbered.signal_at.max(),
        pings=numbered.is_ping.sum(),
        beacon_sightings=numbered.is_sighting.sum(),
    )
    observed_by = ibis.cases(
        ((visits.pings > 0) & (visits.beacon_sightings > 0), "pings+beacons"),
        (visits.pings > 0, "pings"),
        else_="beacons",
    )
    # Whole seconds: precise enough for a visit, and `epoch_seconds` (used for dwell here and in the
    # derived `visits` table) is then exact on both engines (DuckDB returns fractional epochs).
    visits = visits.mutate(arrived_at=visits.arrived_at.truncate("s"), left_at=visits.left_at.truncate("s"))
    return visits.mutate(
        dwell_s=visits.left_at.epoch_seconds() - visits.arrived_at.epoch_seconds(),
        signals=visits.pings + visits.beacon_sightings,
        observed_by=observed_by,
    ).drop("visit_no")


def long_enough(visits: Table, settings: VisitSettings) -> Table:
    """Keep visits of at least `min_dwell_s` from first to last signal: walking past a shop leaves a
    few signals within a couple of minutes, a visit spans longer."""
    return visits.filter(visits.arrived_at + ibis.interval(seconds=settings.min_dwell_s) <= visits.left_at)


def signal_horizon(events: Table, until: datetime | None = None) -> ibis.Scalar:
    """The newest location or beacon signal seen (before `until`): how far the data reaches."""
    signals = _before(events, until)
    signals = signals.filter(signals.event.isin([EventName.LOCATION_UPDATED, EventName.BEACON_SIGHTED]))
    return signals.timestamp.max()


def mark_closed(visits: Table, horizon: ibis.Scalar | datetime | None, settings: VisitSettings) -> Table:
    """Add `closed`: the newest signal seen (`horizon`) lies more than `max_gap_s + lateness_s` after the
    visit's last signal, so no later signal can extend it. Only closed visits are emitted: an emitted
    visit never changes afterwards, and rerunning detection finds it again with the same message id."""
    # + 1 s: `left_at` is truncated to the second, the last signal itself may be up to a second later
    settle = ibis.interval(seconds=settings.max_gap_s + settings.lateness_s + 1)
    if horizon is None:  # no signal at all: nothing can be closed (and there are no visits either)
        return visits.mutate(closed=ibis.literal(False))
    newest = ibis.literal(horizon, "timestamp('UTC')") if isinstance(horizon, datetime) else horizon.as_scalar()
    return visits.mutate(closed=(visits.left_at + settle < newest).fill_null(False))


def store_visits(events: Table, stores: Table, settings: VisitSettings | None = None,
                 until: datetime | None = None) -> Table:
    """Store visits detected in `events` (ignoring signals from `until` on), open ones included, with
    `closed` telling which may be emitted. Runs on whatever engine `events` and `stores` come from."""
    settings = settings or VisitSettings()
    return detect_visits(events, store_reference(stores, settings), settings, until)


def detect_visits(events: Table, reference: StoreReference, settings: VisitSettings,
                  until: datetime | None = None, horizon: datetime | None = None) -> Table:
    """`store_visits` given the store reference and, optionally, the horizon computed beforehand (else a
    scalar subquery): the whole pipeline, step by step."""
    pings = pings_in_geofences(accurate_pings(location_pings(events, until), settings), reference, settings)
    sightings = sightings_in_stores(beacon_sightings(events, until), reference.beacons) if settings.use_beacons else None
    visits = long_enough(visits_of_signals(number_visits(in_store_signals(pings, sightings), settings)), settings)
    return mark_closed(visits, horizon or signal_horizon(events, until), settings)


# -- writing ------------------------------------------------------------------------------------------
@dataclass
class VisitDetectionResult:
    """What one detection run found and wrote."""

    visits_closed: int  # closed visits detected (emitted now or by an earlier run)
    visits_added: int  # `Store Visited` events new to the lake in this run
    visits_open: int  # visits that may still grow; emitted by a later run once closed
    observed_by: dict[str, int]  # closed visits by what observed them
    horizon: datetime | None  # the newest signal seen
    batch_id: str | None  # the lake batch written, None when nothing was new
    warnings: list[str] = field(default_factory=list)


def _horizon(warehouse: Warehouse, events: Table, until: datetime | None) -> datetime | None:
    newest = warehouse.to_arrow(signal_horizon(events, until).name("horizon").as_table())["horizon"][0].as_py()
    return newest if newest is None or newest.tzinfo else newest.replace(tzinfo=timezone.utc)


def detect_store_visits(warehouse: Warehouse, settings: VisitSettings | None = None,
                        until: datetime | None = None) -> VisitDetectionResult:
    """Detect store visits on the warehouse's engine and commit the closed ones to the lake as
    `Store Visited` events, deduplicated by message id under the lake's writer lock (reruns add nothing).
    """
    settings = settings or VisitSettings()
    events = warehouse.table("events")
    reference = store_reference(warehouse.lake.read("stores"), settings)  # small: read in Python, no query
    horizon = _horizon(warehouse, events, until)
    detected = warehouse.to_arrow(detect_visits(events, reference, settings, until, horizon))
    closed = detected.filter(pc.field("closed"))
    kinds = pc.value_counts(closed["observed_by"]).to_pylist() if closed.num_rows else []
    rows = store_visited_events(closed, settings.model_dump(), datetime.now(timezone.utc))
    batch_id, added = None, 0
    lake = warehouse.lake
    with lake.writer_lock():
        new = MessageIdIndex(lake).new_rows(rows)
        if new.num_rows:
            batch_id, added = lake.commit({"events": new}), new.num_rows
    if added:
        warehouse.refresh()  # the new events (and so the derived `visits` table) are visible at once
    return VisitDetectionResult(
        visits_closed=closed.num_rows,
        visits_added=added,
        visits_open=detected.num_rows - closed.num_rows,
        observed_by={k["values"]: k["counts"] for k in sorted(kinds, key=lambda k: k["values"])},
        horizon=horizon,
        batch_id=batch_id,
        warnings=reference.warnings,
    )
