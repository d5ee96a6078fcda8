"""Where the synthetic world happens: UK cities, the stores scattered around them, distances, postcodes.

Stores sit a few km around real city centres, at least `MIN_STORE_SPACING_M` apart so that no two
geofences overlap; homes and background location pings keep `HOME_CLEARANCE_M` away from every store,
so that the only pings inside a store's radius are true visits and deliberate walk-bys.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE = math.pi * EARTH_RADIUS_M / 180
TIMEZONE = "Europe/London"
MIN_STORE_SPACING_M = 600.0
HOME_CLEARANCE_M = 400.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Letters Royal Mail uses in the inward part of a postcode (never C, I, K, M, O, V).
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


@dataclass(frozen=True)
class City:
    """A town with its centre, its postcode districts and how far its streets spread."""

    name: str
    lat: float
    lon: float
    districts: tuple[str, ...]
    spread_km: float


def _districts(area: str, first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{area}{n}" for n in range(first, last + 1))


# Cities with stores, in the order stores are opened (London first, with the widest spread).
STORE_CITIES: tuple[City, ...] = (
    City("London", 51.5074, -0.1278, ("EC1", "EC2", "WC1", "WC2", "W1", "SW1", "SE1", "N1", "E1", "NW1"), 8.0),
    City("Manchester", 53.4808, -2.2426, _districts("M", 1, 20), 5.0),
    City("Birmingham", 52.4862, -1.8904, _districts("B", 1, 30), 5.0),
    City("Leeds", 53.8008, -1.5491, _districts("LS", 1, 17), 4.0),
    City("Glasgow", 55.8642, -4.2518, _districts("G", 1, 40), 4.0),
    City("Bristol", 51.4545, -2.5879, _districts("BS", 1, 16), 4.0),
    City("Edinburgh", 55.9533, -3.1883, _districts("EH", 1, 17), 4.0),
    City("Liverpool", 53.4084, -2.9916, _districts("L", 1, 25), 4.0),
)
# Towns without stores, where far-away online-only customers live.
FAR_TOWNS: tuple[City, ...] = (
    City("Norwich", 52.6309, 1.2974, _districts("NR", 1, 14), 6.0),
    City("Exeter", 50.7184, -3.5339, _districts("EX", 1, 8), 6.0),
    City("Plymouth", 50.3755, -4.1427, _districts("PL", 1, 9), 6.0),
    City("Aberdeen", 57.1497, -2.0943, _districts("AB", 10, 25), 6.0),
    City("Inverness", 57.4778, -4.2247, _districts("IV", 1, 3), 6.0),
    City("Carlisle", 54.8925, -2.9329, _districts("CA", 1, 6), 6.0),
    City("Lincoln", 53.2307, -0.5406, _districts("LN", 1, 6), 6.0),
    City("Aberystwyth", 52.4153, -4.0829, ("SY23",), 6.0),
    City("Truro", 50.2632, -5.0510, _districts("TR", 1, 4), 6.0),
    City("Hull", 53.7676, -0.3274, _districts("HU", 1, 9), 6.0),
    City("Cambridge", 52.2053, 0.1218, _districts("CB", 1, 5), 6.0),
    City("Brighton", 50.8225, -0.1372, _districts("BN", 1, 3), 6.0),
    City("Southampton", 50.9097, -1.4044, _districts("SO", 14, 19), 6.0),
    City("Swansea", 51.6214, -3.9436, _districts("SA", 1, 7), 6.0),
    City("Newcastle", 54.9783, -1.6178, _districts("NE", 1, 8), 6.0),
)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def offset(lat: float, lon: float, distance: float, bearing_rad: float) -> tuple[float, float]:
    """The point `distance` metres from (lat, lon) along a bearing (flat-earth; fine below ~50 km)."""
    dlat = distance * math.cos(bearing_rad) / METRES_PER_DEGREE
    dlon = distance * math.sin(bearing_rad) / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def scatter(rng: random.Random, lat: float, lon: float, max_m: float, min_m: float = 0.0) -> tuple[float, float]:
    """A point uniformly distributed over the ring between min_m and max_m around (lat, lon)."""
    distance = math.sqrt(rng.uniform((min_m / max_m) ** 2, 1.0)) * max_m
    return offset(lat, lon, distance, rng.uniform(0, 2 * math.pi))


def postcode(rng: random.Random, city: City) -> str:
    """A UK-style postcode in one of the city's districts, e.g. "M4 6QT"."""
    district = rng.choice(city.districts)
    inward = f"{rng.randint(1, 9)}{rng.choice(_INWARD_LETTERS)}{rng.choice(_INWARD_LETTERS)}"
    return f"{district} {inward}"


@dataclass(frozen=True)
class Store:
    """A shop: its geofence, opening hours (minutes after local midnight, None = closed) and devices."""

    store_id: str
    name: str
    city: City
    lat: float
    lon: float
    radius_m: float
    postcode: str
    opening: tuple[tuple[int, int] | None, ...]  # one entry per weekday, Monday first
    beacon_ids: tuple[str, ...]
    kiosk_anonymous_id: str  # the in-store sign-up tablet: one anonymous id shared by every user

    def opening_hours_json(self) -> str:
        """Opening hours as the STORES table stores them: {"mon": "09:00-19:00", ...}."""
        hours = {
            day: f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}"
            for day, span in zip(WEEKDAYS, self.opening, strict=True)
            if span is not None
            for start, end in [span]
        }
        return json.dumps(hours, separators=(",", ":"))

    def beacon_ids_json(self) -> str | None:
        """Installed beacons as a JSON array, or None for a store without beacons."""
        return json.dumps(list(self.beacon_ids)) if self.beacon_ids else None


_WEEKDAY_HOURS = ((9 * 60, 19 * 60), (9 * 60, 20 * 60), (9 * 60 + 30, 18 * 60 + 30), (10 * 60, 20 * 60))
_SATURDAY_HOURS = ((9 * 60, 18 * 60), (9 * 60, 19 * 60))
_SUNDAY_HOURS = ((10 * 60, 16 * 60), (11 * 60, 17 * 60))


def _opening(rng: random.Random) -> tuple[tuple[int, int] | None, ...]:
    weekday = rng.choice(_WEEKDAY_HOURS)
    sunday = rng.choice(_SUNDAY_HOURS) if rng.random() < 0.9 else None
    return (weekday,) * 5 + (rng.choice(_SATURDAY_HOURS), sunday)


def build_stores(seed: int, count: int) -> list[Store]:
    """`count` stores spread over the store cities (every city gets one before London gets more)."""
    rng = random.Random(f"{seed}:stores")
    weights = [3.0] + [1.0] * (len(STORE_CITIES) - 1)
    stores: list[Store] = []
    per_city: dict[str, int] = {}
    for number in range(1, count + 1):
        if number <= len(STORE_CITIES):
            city = STORE_CITIES[number - 1]
        else:
            city = rng.choices(STORE_CITIES, weights)[0]
        for _ in range(100):
            lat, lon = scatter(rng, city.lat, city.lon, city.spread_km * 1000)
            if all(distance_m(lat, lon, s.lat, s.lon) >= MIN_STORE_SPACING_M for s in stores):
                break
        per_city[city.name] = per_city.get(city.name, 0) + 1
        store_id = f"S{number:03d}"
        beacons = rng.randint(2, 4) if rng.random() >= 0.2 else 0
        stores.append(
            Store(
                store_id=store_id,
                name=f"Footfall {city.name} {per_city[city.name]}",
                city=city,
                lat=round(lat, 6),
                lon=round(lon, 6),
                radius_m=float(rng.randint(40, 150)),
                postcode=postcode(rng, city),
                opening=_opening(rng),
                beacon_ids=tuple(f"bcn-{store_id}-{k}" for k in range(1, beacons + 1)),
                kiosk_anonymous_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            )
        )
    return stores


def nearest_store(stores: list[Store], lat: float, lon: float) -> tuple[Store, float]:
    """The store closest to a point and its distance in metres."""
    best, best_m = stores[0], math.inf
    for store in stores:
        metres = distance_m(lat, lon, store.lat, store.lon)
        if metres < best_m:
            best, best_m = store, metres
    return best, best_m


def clear_of_stores(stores: list[Store], lat: float, lon: float) -> bool:
    """Whether a point is far enough from every store that a ping there cannot look like a visit."""
    margin = HOME_CLEARANCE_M / METRES_PER_DEGREE  # latitude alone already rules most stores out
    return all(abs(lat - s.lat) > margin or distance_m(lat, lon, s.lat, s.lon) >= HOME_CLEARANCE_M for s in stores)
