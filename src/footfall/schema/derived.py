"""Typed tables derived from `events`, as Ibis expressions: they run unchanged on DuckDB and Spark.

They are views, not copies: a table is a filter and projection of `events` (and `order_lines`), so a
newly loaded event shows up in them at once and there is nothing to keep in sync.
"""

from __future__ import annotations

import ibis
from ibis.expr.types import Table

from footfall.schema.tables import EventName

_PERSON_KEYS = ("message_id", "user_id", "anonymous_id")


def orders(events: Table) -> Table:
    """Completed orders in every channel: web and app checkouts, POS receipts, click-and-collect."""
    completed = events.filter(events.event == EventName.ORDER_COMPLETED)
    fulfilment = ibis.coalesce(
        completed.fulfilment,
        ibis.cases((completed.realm == "offline", "in_store"), else_="ship"),
    )
    return completed.select(
        *_PERSON_KEYS,
        "order_id",
        ordered_at=completed.timestamp,
        realm=completed.realm,
        channel=completed.channel,
        store_id=completed.store_id,
        fulfilment=fulfilment,
        amount=completed.amount,
        currency=completed.currency,
        coupon_code=completed.coupon_code,
        loyalty_id=completed.loyalty_id,
        email=completed.email,
    )


def visits(events: Table) -> Table:
    """Store visits: one row per `Store Visited` event, with arrival, departure and dwell time."""
    visited = events.filter(events.event == EventName.STORE_VISITED)
    return visited.select(
        *_PERSON_KEYS,
        "store_id",
        "source",
        arrived_at=visited.timestamp,
        left_at=visited.ended_at,
        # floor(): DuckDB's epoch_seconds is fractional, Spark's whole; whole seconds on both engines.
        dwell_s=(visited.ended_at.epoch_seconds().floor() - visited.timestamp.epoch_seconds().floor()),
    )


def checkins(events: Table) -> Table:
    """Check-ins at offline experiences (in-store events, pop-ups, tastings)."""
    checked_in = events.filter(events.event == EventName.EVENT_CHECKED_IN)
    return checked_in.select(
        *_PERSON_KEYS,
        "experience_id",
        "store_id",
        "channel",
        checked_in_at=checked_in.timestamp,
    )


def pickups(events: Table) -> Table:
    """Click-and-collect and locker pickups of online orders."""
    picked = events.filter(events.event == EventName.PICKUP_COMPLETED)
    return picked.select(
        *_PERSON_KEYS,
        "order_id",
        "store_id",
        "fulfilment",
        "channel",
        picked_up_at=picked.timestamp,
    )


DERIVED_TABLES = {
    "orders": orders,
    "visits": visits,
    "checkins": checkins,
    "pickups": pickups,
}
