"""Path analysis: the most frequent sequences of steps people take across online and offline.

A step is a meaningful event labelled with its channel where the channel tells something
(`Product Viewed (web)`, `Order Completed (pos)`; a `Store Visited` is always in a store). Each
person's steps are put in time order and repeats collapsed (five product views in a row are one
step), then every run of `length` consecutive steps is counted: by how many people took it, and how
often. One Ibis query (window functions `lag`/`lead` per person), so it runs on both engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import ibis
from ibis.expr.types import Table

from footfall.errors import FootfallError
from footfall.profiles.traits import person_events
from footfall.schema.tables import EventName
from footfall.warehouse import Warehouse

# Steps by default: the milestones of an O2O journey (no pings, identifies, newsletters).
DEFAULT_STEP_EVENTS = (
    EventName.PRODUCTS_SEARCHED,
    EventName.PRODUCT_VIEWED,
    EventName.PRODUCT_ADDED,
    EventName.CHECKOUT_STARTED,
    EventName.ORDER_COMPLETED,
    EventName.STORE_VISITED,
    EventName.PICKUP_COMPLETED,
    EventName.EVENT_RSVPED,
    EventName.EVENT_CHECKED_IN,
    EventName.COUPON_REDEEMED,
    EventName.RETURN_COMPLETED,
)
# Events whose channel goes without saying: labelled by name alone.
CHANNEL_IMPLIED = frozenset({
    EventName.STORE_VISITED, EventName.PICKUP_COMPLETED, EventName.PICKUP_READY, EventName.EVENT_RSVPED,
    EventName.EVENT_CHECKED_IN, EventName.EVENT_INVITED, EventName.EMAIL_OPENED, EventName.EMAIL_LINK_CLICKED,
    EventName.LOCATION_UPDATED, EventName.BEACON_SIGHTED,
})
MAX_LENGTH = 8
ARROW = " → "


@dataclass(frozen=True)
class PathCount:
    """A sequence of steps, how many people took it and how many times it occurred in all."""

    steps: tuple[str, ...]
    persons: int
    occurrences: int

    def __str__(self) -> str:
        return ARROW.join(self.steps)

    def to_json(self) -> dict:
        return {"steps": list(self.steps), "path": str(self), "persons": self.persons, "occurrences": self.occurrences}


def step_label(event: ibis.Value, channel: ibis.Value) -> ibis.Value:
    """`Event (channel)`, or just `Event` when its channel goes without saying."""
    return ibis.cases((event.isin(sorted(CHANNEL_IMPLIED)), event), else_=event.concat(" (", channel, ")"))


def collapsed_steps(warehouse: Warehouse, events: Sequence[str] = DEFAULT_STEP_EVENTS,
                    since: datetime | None = None, until: datetime | None = None) -> Table:
    """(person_id, timestamp, message_id, step) with consecutive repeats of a step removed."""
    pe = person_events(warehouse)
    predicates = [pe.event.isin(list(events))]
    if since is not None:
        predicates.append(pe.timestamp >= ibis.literal(since, type=pe.timestamp.type()))
    if until is not None:
        predicates.append(pe.timestamp < ibis.literal(until, type=pe.timestamp.type()))
    steps = pe.filter(predicates).select("person_id", "timestamp", "message_id", step=step_label(pe.event, pe.channel))
    order = ibis.window(group_by="person_id", order_by=["timestamp", "message_id"])
    steps = steps.mutate(previous=steps.step.lag().over(order))
    return steps.filter(steps.previous.isnull() | (steps.step != steps.previous)).drop("previous")


def top_paths(warehouse: Warehouse, length: int = 3, top: int = 10, events: Sequence[str] | None = None,
              since: datetime | None = None, until: datetime | None = None) -> list[PathCount]:
    """The `top` most common runs of `length` consecutive steps, most people first."""
    if not 2 <= length <= MAX_LENGTH:
        raise FootfallError(f"path length must be between 2 and {MAX_LENGTH} steps, not {length}")
    if top < 1:
        raise FootfallError(f"top must be at least 1, not {top}")
    steps = collapsed_steps(warehouse, events or DEFAULT_STEP_EVENTS, since, until)
    order = ibis.window(group_by="person_id", order_by=["timestamp", "message_id"])
    names = [f"step_{i}" for i in range(length)]
    runs = steps.mutate(
        step_0=steps.step, **{names[i]: steps.step.lead(i).over(order) for i in range(1, length)}
    )
    runs = runs.filter(runs[names[-1]].notnull())
    counted = runs.group_by(names).aggregate(persons=runs.person_id.nunique(), occurrences=runs.count())
    ranked = counted.order_by([ibis.desc("persons"), ibis.desc("occurrences"), *names]).limit(top)
    return [
        PathCount(tuple(row[n] for n in names), row["persons"], row["occurrences"])
        for row in ranked.to_pyarrow().to_pylist()
    ]
