"""Computed traits per resolved person, materialised as the `profiles` table.

Every trait is an Ibis expression over the person's events (`events` joined to `event_persons`), so
one query plan computes all of them on DuckDB or Spark. Orders are `Order Completed` events in every
channel: realm `online` (web, app checkouts, including click-and-collect and locker orders) or
`offline` (POS receipts). Location pings and beacon sightings are passive: they place a person but are
not touches, so they never count towards first/last seen or online touches.

Segment rules read these columns by name (`docs/profiles.md` lists them); renaming one is a breaking
change for saved segments.
"""

from __future__ import annotations

from datetime import datetime

import ibis
from ibis.expr.types import Table

from footfall.errors import FootfallError
from footfall.profiles.home import home_from_pings, home_from_postcode, nearest_stores
from footfall.schema.tables import EventName
from footfall.warehouse import Warehouse

PROFILES_TABLE = "profiles"
PASSIVE_EVENTS = (EventName.LOCATION_UPDATED, EventName.BEACON_SIGHTED)
TOUCH_TYPES = ("track", "page", "screen")
SECONDS_PER_DAY = 86_400
# Events whose store_id says where a person shops (visits, receipts, check-ins, pickups, redemptions).
STORE_EVENTS = (
    EventName.STORE_VISITED,
    EventName.ORDER_COMPLETED,
    EventName.EVENT_CHECKED_IN,
    EventName.PICKUP_COMPLETED,
    EventName.COUPON_REDEEMED,
)


class NotResolvedForProfilesError(FootfallError):
    """Profiles need resolved persons."""

    def __init__(self) -> None:
        super().__init__("profiles are built per resolved person; run `footfall resolve` first, then `footfall profile build`")


class ProfilesMissingError(FootfallError):
    """The `profiles` table has not been built."""

    def __init__(self) -> None:
        super().__init__("no profiles yet; run `footfall profile build` (after `footfall resolve`)")


def person_events(warehouse: Warehouse) -> Table:
    """Every event owned by a resolved person, with its person_id."""
    if "event_persons" not in warehouse.materialized_tables():
        raise NotResolvedForProfilesError()
    events = warehouse.table("events")
    owners = warehouse.table("event_persons")
    return events.join(owners, "message_id")


def default_as_of(warehouse: Warehouse) -> datetime | None:
    """The latest event time in the lake: profiles describe the data as loaded, reproducibly."""
    latest = warehouse.table("events").timestamp.max().to_pyarrow().as_py()
    return latest


def _days_between(later: ibis.Value, earlier: ibis.Value) -> ibis.Value:
    # Whole epoch seconds: interval arithmetic differs between DuckDB and Spark, and DuckDB's
    # epoch_seconds is fractional where Spark's is whole; floored, both give the same days.
    return (later.epoch_seconds().floor() - earlier.epoch_seconds().floor()) / SECONDS_PER_DAY


def _is_touch(pe: Table) -> ibis.Value:
    """Something the person did (a track, page or screen call), not a passive ping or sighting."""
    return pe.type.isin(TOUCH_TYPES) & ~pe.event.fill_null("").isin(PASSIVE_EVENTS)


def _activity(pe: Table) -> Table:
    """Orders, revenue, first/last seen, visits, events and coupons per person: one pass over events."""
    is_order = pe.event == EventName.ORDER_COMPLETED
    online_order = is_order & (pe.realm == "online")
    offline_order = is_order & (pe.realm == "offline")
    touch = _is_touch(pe)
    online_touch = touch & (pe.realm == "online")
    offline_touch = touch & (pe.realm == "offline")
    fulfilment = pe.fulfilment
    redeemed = (pe.event == EventName.COUPON_REDEEMED) | (is_order & pe.coupon_code.notnull())
    return pe.group_by("person_id").aggregate(
        events=pe.count(),
        orders_online=pe.count(where=online_order),
        orders_offline=pe.count(where=offline_order),
        orders_total=pe.count(where=is_order),
        revenue_online=pe.amount.sum(where=online_order),
        revenue_offline=pe.amount.sum(where=offline_order),
        revenue_total=pe.amount.sum(where=is_order),
        first_order_online_at=pe.timestamp.min(where=online_order),
        first_order_offline_at=pe.timestamp.min(where=offline_order),
        last_order_online_at=pe.timestamp.max(where=online_order),
        last_order_offline_at=pe.timestamp.max(where=offline_order),
        first_seen_online_at=pe.timestamp.min(where=online_touch),
        first_seen_offline_at=pe.timestamp.min(where=offline_touch),
        last_seen_online_at=pe.timestamp.max(where=online_touch),
        last_seen_offline_at=pe.timestamp.max(where=offline_touch),
        online_touches=pe.count(where=online_touch),
        offline_touches=pe.count(where=offline_touch),
        store_visits=pe.count(where=pe.event == EventName.STORE_VISITED),
        first_store_visit_at=pe.timestamp.min(where=pe.event == EventName.STORE_VISITED),
        click_collect_orders=pe.count(where=is_order & (fulfilment == "click_collect")),
        locker_orders=pe.count(where=is_order & (fulfilment == "locker")),
        store_pickups=pe.count(where=(pe.event == EventName.PICKUP_COMPLETED) & (fulfilment.fill_null("") != "locker")),
        locker_pickups=pe.count(where=(pe.event == EventName.PICKUP_COMPLETED) & (fulfilment == "locker")),
        event_invitations=pe.count(where=pe.event == EventName.EVENT_INVITED),
        event_rsvps=pe.count(where=pe.event == EventName.EVENT_RSVPED),
        event_checkins=pe.count(where=pe.event == EventName.EVENT_CHECKED_IN),
        coupons_received=pe.coupon_code.nunique(),
        coupons_redeemed=pe.coupon_code.nunique(where=redeemed),
    )


def _online_touches_before_first_store_purchase(pe: Table, activity: Table) -> Table:
    """How many online touches came before a person's first store purchase (persons who made one)."""
    firsts = activity.filter(activity.first_order_offline_at.notnull()).select(
        "person_id", first_store_purchase_at=activity.first_order_offline_at
    )
    online = pe.filter(pe.realm == "online", _is_touch(pe)).select("person_id", "timestamp")
    joined = firsts.left_join(online, "person_id")
    return joined.group_by(firsts.person_id).aggregate(
        online_touches_before_first_store_purchase=joined.timestamp.count(
            where=joined.timestamp < joined.first_store_purchase_at
        )
    )


def _favourite_stores(pe: Table) -> Table:
    """person_id, favourite_store_id: the store with most of the person's visits, receipts and check-ins."""
    at_store = pe.filter(pe.store_id.notnull(), pe.realm == "offline", pe.event.isin(STORE_EVENTS))
    counted = at_store.group_by("person_id", "store_id").aggregate(n=at_store.count())
    rank = ibis.row_number().over(group_by="person_id", order_by=[ibis.desc("n"), "store_id"])
    top = counted.mutate(_rank=rank).filter(lambda t: t._rank == 0)
    return top.select("person_id", favourite_store_id=top.store_id)


def _homes(warehouse: Warehouse, pe: Table, stores: Table) -> Table:
    """person_id, home_lat, home_lon, home_source: pings where there are any, else the postcode."""
    pinged = home_from_pings(pe, stores).mutate(home_source=ibis.literal("pings"))
    by_postcode = home_from_postcode(pe, warehouse.table("postcodes"))
    postcode_only = by_postcode.anti_join(pinged, "person_id").mutate(home_source=ibis.literal("postcode"))
    columns = ("person_id", "home_lat", "home_lon", "home_source")
    return pinged.select(*columns).union(postcode_only.select(*columns))


def build_profiles(warehouse: Warehouse, as_of: datetime | None = None) -> Table:
    """One row per resolved person with every computed trait (an Ibis expression; not yet executed).

    `as_of` is the moment recency is measured from (default: the latest event in the lake).
    """
    pe = person_events(warehouse)
    persons = warehouse.table("persons").select("person_id")
    stores = warehouse.table("stores")
    as_of = as_of or default_as_of(warehouse)
    as_of_value = ibis.literal(as_of, type="timestamp('UTC')") if as_of else ibis.null("timestamp('UTC')")
    activity = _activity(pe)
    homes = _homes(warehouse, pe, stores)
    nearest = nearest_stores(homes, stores)
    touches = _online_touches_before_first_store_purchase(pe, activity)
    favourite = _favourite_stores(pe)

    joined = (
        persons.left_join(activity, "person_id")
        .left_join(homes, "person_id")
        .left_join(nearest, "person_id")
        .left_join(touches, "person_id")
        .left_join(favourite, "person_id")
    )
    zero = ibis.literal(0)
    counts = {
        name: joined[name].fill_null(zero)
        for name in (
            "events", "orders_online", "orders_offline", "orders_total", "online_touches", "offline_touches",
            "store_visits", "click_collect_orders", "locker_orders", "store_pickups", "locker_pickups",
            "event_invitations", "event_rsvps", "event_checkins", "coupons_received", "coupons_redeemed",
        )
    }
    money = {name: joined[name].fill_null(0.0) for name in ("revenue_online", "revenue_offline", "revenue_total")}
    online, offline = counts["orders_online"], counts["orders_offline"]
    channel_mix = ibis.cases(
        ((online > 0) & (offline > 0), "both"),
        (online > 0, "online"),
        (offline > 0, "offline"),
        else_="none",
    )
    last_order_at = ibis.greatest(joined.last_order_online_at, joined.last_order_offline_at)
    return joined.select(
        joined.person_id,
        home_lat=joined.home_lat,
        home_lon=joined.home_lon,
        home_source=joined.home_source,
        nearest_store_id=joined.nearest_store_id,
        nearest_store_km=joined.nearest_store_km,
        favourite_store_id=joined.favourite_store_id,
        **counts,
        **money,
        channel_mix=channel_mix,
        online_order_share=ibis.cases((counts["orders_total"] > 0, online / counts["orders_total"]), else_=ibis.null("float64")),
        first_order_online_at=joined.first_order_online_at,
        first_order_offline_at=joined.first_order_offline_at,
        last_order_online_at=joined.last_order_online_at,
        last_order_offline_at=joined.last_order_offline_at,
        days_since_last_order_online=_days_between(as_of_value, joined.last_order_online_at),
        days_since_last_order_offline=_days_between(as_of_value, joined.last_order_offline_at),
        days_since_last_order=_days_between(as_of_value, last_order_at),
        first_seen_online_at=joined.first_seen_online_at,
        first_seen_offline_at=joined.first_seen_offline_at,
        last_seen_online_at=joined.last_seen_online_at,
        last_seen_offline_at=joined.last_seen_offline_at,
        first_store_visit_at=joined.first_store_visit_at,
        online_touches_before_first_store_purchase=joined.online_touches_before_first_store_purchase,
        days_first_online_touch_to_first_store_visit=_days_between(joined.first_store_visit_at, joined.first_seen_online_at),
        as_of=as_of_value,
    )


def materialize_profiles(warehouse: Warehouse, as_of: datetime | None = None) -> Table:
    """Build and store `profiles`, replacing the previous version; returns the stored table."""
    return warehouse.materialize(PROFILES_TABLE, build_profiles(warehouse, as_of))


def profiles_table(warehouse: Warehouse) -> Table:
    """The materialised `profiles` table, or a clear error when it has not been built."""
    if PROFILES_TABLE not in warehouse.materialized_tables():
        raise ProfilesMissingError()
    return warehouse.table(PROFILES_TABLE)


def summarise_profiles(profiles: Table) -> dict[str, object]:
    """Counts that say whether a build looks right: persons, homes by source, channel mix."""
    row = profiles.aggregate(
        persons=profiles.count(),
        homes_from_pings=profiles.count(where=profiles.home_source == "pings"),
        homes_from_postcode=profiles.count(where=profiles.home_source == "postcode"),
        median_nearest_store_km=profiles.nearest_store_km.median(),
        buyers_online_only=profiles.count(where=profiles.channel_mix == "online"),
        buyers_offline_only=profiles.count(where=profiles.channel_mix == "offline"),
        buyers_both=profiles.count(where=profiles.channel_mix == "both"),
        store_visitors=profiles.count(where=profiles.store_visits > 0),
    ).to_pyarrow().to_pylist()[0]
    return row
