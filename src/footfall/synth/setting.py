"""The fixed stage every synthetic person acts on: the time window, stores, catalogue, in-store events.

It is built from the seed alone (never from the people), so each chunk of people — in this process or
a worker — sees the same stage, and a person's behaviour does not depend on how people are chunked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from footfall.synth.catalogue import Catalogue, build_catalogue
from footfall.synth.geography import METRES_PER_DEGREE, TIMEZONE, Store, build_stores, distance_m

SECOND_US = 1_000_000
MINUTE_US = 60 * SECOND_US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US


@dataclass(frozen=True)
class Window:
    """The simulated days, as microseconds since the epoch (UTC), with the stores' local clock."""

    start: date
    days: int
    start_us: int
    utc_offsets_us: tuple[int, ...]  # local (Europe/London) minus UTC, per day

    @classmethod
    def of(cls, start: date, days: int) -> Window:
        midnight = datetime.combine(start, time(), tzinfo=timezone.utc)
        zone = ZoneInfo(TIMEZONE)
        offsets = []
        for day in range(days):
            noon = datetime.combine(start + timedelta(days=day), time(12), tzinfo=zone)
            offsets.append(int(noon.utcoffset().total_seconds()) * SECOND_US)
        return cls(start, days, int(midnight.timestamp()) * SECOND_US, tuple(offsets))

    @property
    def end_us(self) -> int:
        return self.start_us + self.days * DAY_US

    def weekday(self, day: int) -> int:
        """0 = Monday."""
        return (self.start.weekday() + day) % 7

    def local(self, day: int, minute: float) -> int:
        """The UTC instant of a local wall-clock minute on a day of the window."""
        return self.start_us + day * DAY_US + int(minute * MINUTE_US) - self.utc_offsets_us[day]

    def day_of(self, ts_us: int) -> int:
        """The day of the window an instant falls on (by UTC date)."""
        return (ts_us - self.start_us) // DAY_US


@dataclass(frozen=True)
class Experience:
    """An in-store event (a tasting, a styling evening) customers are invited to and check in at."""

    experience_id: str
    name: str
    store: Store
    day: int
    starts_us: int


_EXPERIENCE_NAMES = ("Styling Evening", "Tasting Night", "Product Launch", "Workshop", "Members' Preview")


def build_experiences(seed: int, stores: list[Store], window: Window) -> list[Experience]:
    """Every store hosts an evening event about every two weeks, from the second week of the window."""
    rng = random.Random(f"{seed}:experiences")
    experiences = []
    for store in stores:
        day, number = 7 + rng.randint(0, 6), 1
        while day < window.days:
            experiences.append(
                Experience(
                    experience_id=f"EXP-{store.store_id}-{number:02d}",
                    name=rng.choice(_EXPERIENCE_NAMES),
                    store=store,
                    day=day,
                    starts_us=window.local(day, 18 * 60),
                )
            )
            day, number = day + rng.randint(12, 16), number + 1
    return experiences


@dataclass(frozen=True)
class Setting:
    """Everything shared by all people of one world (picklable, so workers get it whole)."""

    seed: int
    customers: int
    window: Window
    stores: tuple[Store, ...]
    catalogue: Catalogue
    experiences: tuple[Experience, ...]

    def stores_near(self, lat: float, lon: float, within_m: float) -> list[Store]:
        """Stores within a distance of a point, nearest first."""
        margin = within_m / METRES_PER_DEGREE
        candidates = [s for s in self.stores if abs(lat - s.lat) <= margin]
        scored = [(distance_m(lat, lon, s.lat, s.lon), s.store_id, s) for s in candidates]
        return [s for metres, _, s in sorted(scored) if metres <= within_m]

    def experiences_at(self, store_ids: set[str]) -> list[Experience]:
        return [e for e in self.experiences if e.store.store_id in store_ids]


def build_setting(seed: int, customers: int, stores: int, days: int, start: date) -> Setting:
    """The stage for a world of `customers` people, `stores` stores and `days` days from `start`."""
    store_list = build_stores(seed, stores)
    window = Window.of(start, days)
    return Setting(
        seed=seed,
        customers=customers,
        window=window,
        stores=tuple(store_list),
        catalogue=build_catalogue(seed),
        experiences=tuple(build_experiences(seed, store_list, window)),
    )
