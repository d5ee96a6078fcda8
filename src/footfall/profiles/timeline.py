"""A person's unified timeline: every online and offline event, in order, with channel and store.

Anything that names a person works as the way in: an identifier as people type it (`email:...`, a raw
email, a user id, a loyalty number; normalised as identity resolution normalises it, via
`footfall.identity.find_identifier`) or a resolved person id (`p_...`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


from footfall.errors import FootfallError, NotFoundError
from footfall.identity import UnknownIdentifierError, find_identifier
from footfall.identity.lookup import identity_table
from footfall.profiles.traits import PROFILES_TABLE, build_profiles, person_events
from footfall.warehouse import Warehouse

# Typed columns worth showing next to an event, in display order (empty ones are left out).
KEY_PROPERTIES = (
    "order_id", "amount", "currency", "fulfilment", "sku", "category", "quantity", "coupon_code",
    "campaign_id", "experience_id", "page_path", "page_title", "utm_source", "utm_campaign", "lat", "lon",
)
DEFAULT_LIMIT = 200


class PersonNotFoundError(NotFoundError):
    """An identifier that names nobody: never seen, or detached by merge protection (HTTP 404)."""


@dataclass
class TimelineEntry:
    """One event of a person's timeline."""

    timestamp: datetime
    realm: str
    channel: str
    store_id: str | None
    event: str
    message_id: str
    properties: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"timestamp": self.timestamp.isoformat(), "realm": self.realm, "channel": self.channel,
                "store_id": self.store_id, "event": self.event, "message_id": self.message_id,
                "properties": self.properties}


@dataclass
class Timeline:
    """A person, their traits (None when profiles were never built) and their events, oldest first."""

    person_id: str
    identifier: str | None
    traits: dict[str, Any] | None
    entries: list[TimelineEntry]
    total_events: int

    def to_json(self) -> dict[str, Any]:
        return {"person_id": self.person_id, "identifier": self.identifier, "traits": _jsonable(self.traits),
                "total_events": self.total_events, "events": [e.to_json() for e in self.entries]}


def _jsonable(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def find_person(warehouse: Warehouse, text: str) -> tuple[str, str | None]:
    """(person_id, identifier key) for an identifier or a person id; the key is None for a person id."""
    persons = identity_table(warehouse, "persons")
    text = text.strip()
    if text.startswith("p_"):
        found = persons.filter(persons.person_id == text).count().to_pyarrow().as_py()
        if found:
            return text, None
    try:
        key = find_identifier(warehouse, text)
    except UnknownIdentifierError as exc:
        raise PersonNotFoundError(str(exc)) from None
    mapping = identity_table(warehouse, "id_map")
    rows = mapping.filter(mapping.identifier == key).select("person_id").to_pyarrow()["person_id"].to_pylist()
    if not rows or rows[0] is None:
        raise PersonNotFoundError(
            f"{key} belongs to no person (it was detached by merge protection); "
            f"see `footfall identity explain {key}`"
        )
    return rows[0], key


def person_traits(warehouse: Warehouse, person_id: str) -> dict[str, Any] | None:
    """The person's row of `profiles` (computed on the fly when the table was never built)."""
    if PROFILES_TABLE in warehouse.materialized_tables():
        profiles = warehouse.table(PROFILES_TABLE)
    else:
        profiles = build_profiles(warehouse)
    rows = profiles.filter(profiles.person_id == person_id).to_pyarrow().to_pylist()
    return rows[0] if rows else None


def _label(event: str | None, call_type: str) -> str:
    if event:
        return event
    return {"page": "Page Viewed", "screen": "Screen Viewed"}.get(call_type, call_type.capitalize())


def timeline(warehouse: Warehouse, text: str, limit: int | None = DEFAULT_LIMIT, with_traits: bool = True) -> Timeline:
    """The timeline of whoever `text` names: the first `limit` events (None: all), oldest first."""
    if limit is not None and limit < 1:
        raise FootfallError(f"limit must be at least 1, not {limit}")
    person_id, key = find_person(warehouse, text)
    events = person_events(warehouse)
    mine = events.filter(events.person_id == person_id)
    total = mine.count().to_pyarrow().as_py()
    ordered = mine.order_by(["timestamp", "message_id"])
    if limit is not None:
        ordered = ordered.limit(limit)
    columns = ["timestamp", "realm", "channel", "store_id", "event", "type", "message_id", *KEY_PROPERTIES]
    rows = ordered.select(*columns).to_pyarrow().to_pylist()
    entries = [
        TimelineEntry(
            timestamp=row["timestamp"], realm=row["realm"], channel=row["channel"], store_id=row["store_id"],
            event=_label(row["event"], row["type"]), message_id=row["message_id"],
            properties={name: row[name] for name in KEY_PROPERTIES if row[name] is not None},
        )
        for row in rows
    ]
    traits = person_traits(warehouse, person_id) if with_traits else None
    return Timeline(person_id, key, traits, entries, total)


def describe_properties(properties: dict[str, Any]) -> str:
    """Key properties as short text for a table cell: `order_id=o1 amount=25.0`."""
    return " ".join(f"{k}={v if not isinstance(v, float) else round(v, 5)}" for k, v in properties.items())

