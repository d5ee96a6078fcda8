"""Where a person lives, and the store nearest to it: Ibis expressions that run on both engines.

A home comes from the person's own location pings where there are any: pings near a store are visits
or walk-bys, not home, so they are left out; the rest are binned into cells of about 200 m and the
cell with most pings wins (home pings cluster within metres, errands scatter over kilometres). Without
pings, the postcode the person gave (identify traits, receipts) is looked up in the `postcodes`
reference table: the full postcode first, then its outward code (district, e.g. `M4` of `M4 6QT`).
"""

from __future__ import annotations

import ibis
from ibis.expr.types import FloatingValue, Table

from footfall.schema.tables import EventName

EARTH_RADIUS_KM = 6371.0088
# Homes are never this close to a store in the synthetic world (400 m clearance) and rarely in life:
# a ping this close to a store is a visit or a walk-by.
STORE_PING_EXCLUSION_KM = 0.3
# Pings less accurate than this say little about a doorstep.
MAX_PING_ACCURACY_M = 150.0
# Cell size for the most-visited place: about 220 m north-south, 200 m east-west at UK latitudes.
CELL_LAT_DEG = 0.002
CELL_LON_DEG = 0.003


def haversine_km(lat1: FloatingValue, lon1: FloatingValue, lat2: FloatingValue, lon2: FloatingValue) -> FloatingValue:
    """Great-circle distance in kilometres between two points given in degrees."""
    phi1, phi2 = lat1.radians(), lat2.radians()
    half_dphi = (lat2 - lat1).radians() / 2
    half_dlambda = (lon2 - lon1).radians() / 2
    a = half_dphi.sin() ** 2 + phi1.cos() * phi2.cos() * half_dlambda.sin() ** 2
    # least(1, a): rounding can push a hair above 1 for antipodal points, and asin(>1) is NaN.
    return 2 * EARTH_RADIUS_KM * ibis.least(a, 1.0).sqrt().asin()


def _top_per_person(counted: Table, *tie_breakers: str) -> Table:
    """The row with the largest `n` per person (ties broken by the given columns, ascending)."""
    rank = ibis.row_number().over(group_by="person_id", order_by=[ibis.desc("n"), *tie_breakers])
    return counted.mutate(_rank=rank).filter(lambda t: t._rank == 0).drop("_rank")


def home_from_pings(person_events: Table, stores: Table) -> Table:
    """person_id, home_lat, home_lon: the centre of the cell holding most of a person's non-store pings."""
    pings = person_events.filter(
        person_events.event == EventName.LOCATION_UPDATED,
        person_events.lat.notnull(),
        person_events.lon.notnull(),
        person_events.accuracy_m.isnull() | (person_events.accuracy_m <= MAX_PING_ACCURACY_M),
    ).select("message_id", "person_id", "lat", "lon")
    near = stores.select(store_lat=stores.lat, store_lon=stores.lon)
    away = pings.anti_join(
        near, haversine_km(pings.lat, pings.lon, near.store_lat, near.store_lon) < STORE_PING_EXCLUSION_KM
    )
    cells = away.mutate(
        cell_lat=(away.lat / CELL_LAT_DEG).floor(),
        cell_lon=(away.lon / CELL_LON_DEG).floor(),
    )
    counted = cells.group_by("person_id", "cell_lat", "cell_lon").aggregate(
        n=cells.count(), home_lat=cells.lat.mean(), home_lon=cells.lon.mean()
    )
    top = _top_per_person(counted, "cell_lat", "cell_lon")
    return top.select("person_id", "home_lat", "home_lon", home_pings="n")


def _postcode_key(value: ibis.Value) -> ibis.Value:
    """A postcode as a lookup key: upper case, no spaces (`m4 6qt`, `M46QT` → `M46QT`)."""
    return value.upper().replace(" ", "")


def home_from_postcode(person_events: Table, postcodes: Table) -> Table:
    """person_id, home_lat, home_lon: the person's most often given postcode, looked up in `postcodes`."""
    given = person_events.filter(person_events.postcode.notnull()).select(
        "person_id", key=_postcode_key(person_events.postcode)
    )
    given = given.filter(given.key.length() >= 2)
    counted = given.group_by("person_id", "key").aggregate(n=given.count())
    top = _top_per_person(counted, "key")
    # The outward code is everything before the 3-character inward code ("M46QT" → "M4").
    top = top.mutate(district=ibis.cases((top.key.length() > 4, top.key.substr(0, top.key.length() - 3)), else_=top.key))
    directory = postcodes.select(ref_key=_postcode_key(postcodes.postcode), ref_lat=postcodes.lat, ref_lon=postcodes.lon)
    full = directory.view()
    district = directory.view()
    joined = top.left_join(full, top.key == full.ref_key).left_join(district, top.district == district.ref_key)
    located = joined.select(
        "person_id",
        home_lat=ibis.coalesce(full.ref_lat, district.ref_lat),
        home_lon=ibis.coalesce(full.ref_lon, district.ref_lon),
    )
    return located.filter(located.home_lat.notnull())


def nearest_stores(homes: Table, stores: Table) -> Table:
    """person_id, nearest_store_id, nearest_store_km for every person with a home."""
    candidates = stores.select(store_id=stores.store_id, store_lat=stores.lat, store_lon=stores.lon)
    pairs = homes.cross_join(candidates)
    pairs = pairs.mutate(km=haversine_km(pairs.home_lat, pairs.home_lon, pairs.store_lat, pairs.store_lon))
    return pairs.group_by("person_id").aggregate(
        nearest_store_id=pairs.store_id.argmin(pairs.km), nearest_store_km=pairs.km.min()
    )
