"""Typed identifiers extracted from `events`, normalised, as Ibis expressions.

Every event (POS receipts included: they are `Order Completed` events with channel `pos`) carries
some of: user_id, anonymous_id, previous_id (alias calls), device_id, email, phone, loyalty_id,
card_token. Each becomes an *observation*: (message_id, time, source, identifier type, key), where
the key is `type:normalised value` (`email:jane.doe@gmail.com`). Identifiers seen in one event are
linked by the graph (`footfall.identity.graph`).

Values are normalised in Python (`footfall.identity.normalise`: emails, E.164 phones with the
`phonenumbers` library, trimmed opaque ids) once per *distinct* (type, raw value), and the mapping is
joined back as a memtable, so the per-event work stays in the engine and both engines normalise
identically. Values that identify nobody are dropped and counted in the garbage report.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from footfall.identity.engine import cached
from footfall.identity.normalise import NormalisationSettings, normalise_identifier

# Identifier types, strongest first: the default merge-protection priority (`protection.py`).
IDENTIFIER_TYPES: tuple[str, ...] = (
    "user_id", "loyalty_id", "card_token", "device_id", "phone", "email", "anonymous_id",
)
# A record that carries no usable identifier but was linked to a person by probabilistic matching
# (a cash receipt with only a name and postcode): keyed by its message_id.
RECORD_TYPE = "record"
# Event columns holding identifiers, and the type each holds (previous_id is typed in `_typed_previous_ids`).
_ID_COLUMNS = {
    "user_id": "user_id",
    "anonymous_id": "anonymous_id",
    "device_id": "device_id",
    "loyalty_id": "loyalty_id",
    "card_token": "card_token",
    "email": "email",
    "phone": "phone",
}
_SEPARATOR = ":"


def identifier_key(identifier_type: str, value: str) -> str:
    """The key an identifier is known by everywhere: `type:value`."""
    return f"{identifier_type}{_SEPARATOR}{value}"


def split_key(key: str) -> tuple[str, str]:
    """(type, value) of an identifier key."""
    identifier_type, _, value = key.partition(_SEPARATOR)
    return identifier_type, value


def type_of(key: ibis.Value) -> ibis.Value:
    """The identifier type of a key column, read from its `type:` prefix (no join needed)."""
    return key.substr(0, key.find(_SEPARATOR))


def edge_source(events: Table) -> ibis.Value:
    """What kind of record linked identifiers: `receipt` for POS receipts, else the Segment call type."""
    return ibis.cases((events.channel == "pos", "receipt"), else_=events.type)


@dataclass(frozen=True)
class GarbageCount:
    """Values of one identifier type ignored for one reason: how many events and distinct values."""

    identifier_type: str
    reason: str
    occurrences: int
    distinct_values: int


def _raw_observations(events: Table) -> Table:
    """One row per (event, identifier column with a value): message_id, ts, source, type, raw."""
    source = edge_source(events)
    parts = [
        events.filter(events[column].notnull()).select(
            message_id=events.message_id,
            ts=events.timestamp,
            source=source,
            identifier_type=ibis.literal(identifier_type),
            raw=events[column],
        )
        for column, identifier_type in _ID_COLUMNS.items()
    ]
    return ibis.union(*parts, distinct=False).union(_typed_previous_ids(events), distinct=False)


def _typed_previous_ids(events: Table) -> Table:
    """Alias calls' previous ids: a user_id when the value is known as one, else an anonymous_id."""
    aliases = events.filter(events.previous_id.notnull())
    user_ids = events.filter(events.user_id.notnull()).select(known=events.user_id).distinct()
    typed = aliases.left_join(user_ids, aliases.previous_id == user_ids.known)
    return typed.select(
        message_id=typed.message_id,
        ts=typed.timestamp,
        source=edge_source(typed),
        identifier_type=ibis.cases((typed.known.notnull(), "user_id"), else_="anonymous_id"),
        raw=typed.previous_id,
    )


def _normalised(raw: Table, settings: NormalisationSettings, phone_region: str) -> Table:
    """Every raw observation with its identifier key (or a garbage reason), normalised in Python once
    per distinct (type, raw value) and joined back in the engine."""
    distinct = raw.select("identifier_type", "raw").distinct().to_pyarrow()
    types, values = distinct["identifier_type"].to_pylist(), distinct["raw"].to_pylist()
    normalised = [normalise_identifier(t, v, settings, phone_region) for t, v in zip(types, values)]
    mapping = ibis.memtable(
        pa.table(
            {
                "mapped_type": pa.array(types, pa.string()),
                "mapped_raw": pa.array(values, pa.string()),
                "identifier": pa.array([identifier_key(t, n[0]) if n[0] else None for t, n in zip(types, normalised)], pa.string()),
                "reason": pa.array([n[1] for n in normalised], pa.string()),
            }
        )
    )
    joined = raw.join(mapping, [raw.identifier_type == mapping.mapped_type, raw.raw == mapping.mapped_raw])
    return joined.select("message_id", "ts", "source", "identifier_type", "raw", "identifier", "reason")


@dataclass
class ExtractedIdentifiers:
    """Observations of usable identifiers, and the garbage that was left out."""

    observations: Table  # message_id, ts, source, identifier_type, identifier (key)
    garbage: list[GarbageCount]


def extract_identifiers(events: Table, settings: NormalisationSettings, phone_region: str) -> ExtractedIdentifiers:
    """Typed, normalised identifier observations of every event, and the garbage report."""
    normalised = cached(_normalised(cached(_raw_observations(events)), settings, phone_region))
    rejected = normalised.filter(normalised.identifier.isnull())
    counts = rejected.group_by(["identifier_type", "reason"]).aggregate(
        occurrences=rejected.count(), distinct_values=rejected.raw.nunique()
    )
    garbage = [
        GarbageCount(r["identifier_type"], r["reason"], int(r["occurrences"]), int(r["distinct_values"]))
        for r in counts.order_by(["identifier_type", "reason"]).to_pyarrow().to_pylist()
    ]
    usable = normalised.filter(normalised.identifier.notnull())
    observations = usable.select("message_id", "ts", "source", "identifier_type", "identifier").distinct()
    return ExtractedIdentifiers(observations, garbage)
