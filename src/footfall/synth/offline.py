"""Offline behaviour: true store visits and what they leave behind — location pings, beacon sightings,
POS receipts, kiosk sign-ups, event check-ins, pickups — plus the pings that are *not* visits.

Ping cadence during a visit (app users with location consent): the first ping within a minute of
arrival, then one every 1-5 minutes until departure, 95% of them accurate (5-40 m, inside the
geofence), 5% noisy (200-1500 m accuracy, hundreds of metres off). Walk-bys are 1-3 accurate pings
inside a geofence spanning under 3 minutes; home and errand pings stay clear of every store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from footfall.schema import EventName, receipt_message_id
from footfall.synth.catalogue import CURRENCY, Product
from footfall.synth.geography import Store, clear_of_stores, offset, scatter
from footfall.synth.trail import Trail
from footfall.synth.noise import messy_email, messy_name, messy_postcode, phone_format
from footfall.synth.online import OnlineOrder, app_context, crm_sender
from footfall.synth.setting import MINUTE_US, SECOND_US, Experience

NOISY_PING_RATE = 0.05
BEACON_RATE = 0.5  # share of app users' visits to beacon stores that report sightings
KIOSK_RATE = 0.03  # share of visits where someone signs up at the kiosk (once per person)
CARD_RATE = 0.7  # receipts paid by card (the till keeps a card token)
ANONYMOUS_CASH_RATE = 0.3  # cash receipts where the customer gives nothing at all


@dataclass
class StoreVisit:
    """A planned visit: where, when, why, and what happens inside."""

    store: Store
    arrived_us: int
    left_us: int
    purpose: str  # browse | purchase | pickup | event
    basket: list[tuple[Product, int]] = field(default_factory=list)
    pickup: OnlineOrder | None = None
    experience: Experience | None = None


def _ping(trail: Trail, ts_us: int, lat: float, lon: float, accuracy_m: float) -> None:
    device = trail.person.app
    assert device is not None
    properties = {"latitude": round(lat, 6), "longitude": round(lon, 6), "accuracy": round(accuracy_m, 1)}
    trail.emit(
        ts_us,
        "app",
        event=EventName.LOCATION_UPDATED,
        realm="offline",
        anonymous_id=device.anonymous_id,
        user_id=trail.person.user_id if device.logged_in else None,
        context=app_context(trail, device),
        properties=properties,
        batched=True,
    )


def _in_store_ping(trail: Trail, ts_us: int, store: Store) -> bool:
    """One ping during a visit; returns whether it was an accurate one."""
    rng = trail.rng
    if rng.random() < NOISY_PING_RATE:
        lat, lon = offset(store.lat, store.lon, rng.uniform(200, 800), rng.uniform(0, 2 * math.pi))
        _ping(trail, ts_us, lat, lon, rng.uniform(200, 1500))
        return False
    lat, lon = scatter(rng, store.lat, store.lon, 0.7 * store.radius_m)
    _ping(trail, ts_us, lat, lon, rng.uniform(5, 40))
    return True


def _visit_pings(trail: Trail, visit: StoreVisit) -> bool:
    """Pings from arrival to departure; returns whether at least one was accurate."""
    rng, accurate = trail.rng, False
    ts = visit.arrived_us + int(rng.uniform(0, 60) * SECOND_US)
    last = visit.left_us - int(rng.uniform(0, 30) * SECOND_US)
    previous = ts
    while ts < last:
        accurate |= _in_store_ping(trail, ts, visit.store)
        previous, ts = ts, ts + int(rng.uniform(60, 300) * SECOND_US)
    if last - previous > 60 * SECOND_US:  # a last ping just before leaving marks the departure
        accurate |= _in_store_ping(trail, last, visit.store)
    return accurate


def _proximity(rssi: int) -> str:
    return "near" if rssi > -65 else "far"


def _beacons(trail: Trail, visit: StoreVisit) -> None:
    rng, device = trail.rng, trail.person.app
    assert device is not None
    context = app_context(trail, device)
    ts = visit.arrived_us + int(rng.uniform(20, 120) * SECOND_US)
    while ts < visit.left_us:
        rssi = rng.randint(-90, -45)
        trail.emit(
            ts,
            "app",
            event=EventName.BEACON_SIGHTED,
            realm="offline",
            anonymous_id=device.anonymous_id,
            user_id=trail.person.user_id if device.logged_in else None,
            context=context,
            properties={"beacon_id": rng.choice(visit.store.beacon_ids), "rssi": rssi, "proximity": _proximity(rssi)},
            store_id=visit.store.store_id,
            batched=True,
        )
        ts += int(rng.uniform(180, 600) * SECOND_US)


def _receipt(trail: Trail, ts_us: int, visit: StoreVisit) -> None:
    """A POS receipt: one row per line, with whatever the till captured about the customer."""
    rng, person, store = trail.rng, trail.person, visit.store
    receipt_id = f"R{rng.getrandbits(64):016X}"
    captured: dict[str, Any] = dict.fromkeys(("loyalty_id", "card_token", "email", "phone", "name", "postcode"))
    by_card = rng.random() < CARD_RATE
    if by_card:
        captured["card_token"] = rng.choice(person.card_tokens)
        trail.know("card_token", captured["card_token"])
    if by_card or rng.random() >= ANONYMOUS_CASH_RATE:
        if person.loyalty_id and rng.random() < 0.6:
            captured["loyalty_id"] = person.loyalty_id
            trail.know("loyalty_id", person.loyalty_id)
        if rng.random() < 0.5:
            captured["email"] = messy_email(rng, person.contact_email)
        if rng.random() < 0.3:
            captured["phone"] = phone_format(rng, person.phone)
        if rng.random() < 0.35:
            captured["name"] = messy_name(rng, person.first_name, person.last_name)
        if rng.random() < 0.4:
            captured["postcode"] = messy_postcode(rng, person.postcode)
    total = round(sum(product.price * quantity for product, quantity in visit.basket), 2)
    for product, quantity in visit.basket:
        trail.receipts.append(
            {
                "receipt_id": receipt_id,
                "store_id": store.store_id,
                "timestamp": ts_us,
                "total": total,
                "currency": CURRENCY,
                **captured,
                "coupon_code": None,
                "fulfilment": "in_store",
                "sku": product.sku,
                "quantity": quantity,
                "unit_price": product.price,
            }
        )
    trail.receipt_ids.append((receipt_id, receipt_message_id(store.store_id, receipt_id)))


def _kiosk_sign_up(trail: Trail, ts_us: int, store: Store) -> None:
    """A sign-up on the store's tablet: its anonymous id is shared by everyone who signs up there."""
    trail.kiosk_signed_up = True
    trail.know("anonymous_id", store.kiosk_anonymous_id, shared=True)
    traits = trail.blob("kiosk", "traits", lambda: {"email": trail.person.contact_email})
    trail.emit(
        ts_us,
        "kiosk",
        event=EventName.SIGNED_UP,
        anonymous_id=store.kiosk_anonymous_id,
        traits=traits,
        properties={"method": "kiosk"},
        store_id=store.store_id,
    )


def _staff_event(
    trail: Trail, ts_us: int, channel: str, event: str, store: Store, properties: dict[str, Any]
) -> None:
    """A message sent by store systems about a known customer (check-in scanner, pickup desk, locker)."""
    sender = crm_sender(trail)
    if sender["user_id"] is None:
        properties = {**properties, "email": trail.person.email}
    properties = {**properties, "store_id": store.store_id}
    trail.emit(ts_us, channel, event=event, properties=properties, store_id=store.store_id, **sender)


def store_visit(trail: Trail, ts_us: int, visit: StoreVisit) -> None:
    """Act out a true visit and record it in the truth, with the signals that observed it."""
    rng, person, store = trail.rng, trail.person, visit.store
    if visit.experience:
        checked_in = visit.arrived_us + int(rng.uniform(0, 5) * MINUTE_US)
        attended = {"experience_id": visit.experience.experience_id, "experience_name": visit.experience.name}
        _staff_event(trail, checked_in, "event", EventName.EVENT_CHECKED_IN, store, attended)
    pinged = person.pings and _visit_pings(trail, visit)
    beaconed = bool(store.beacon_ids) and person.has_app and rng.random() < BEACON_RATE
    if beaconed:
        _beacons(trail, visit)
    if visit.pickup:
        collected = visit.arrived_us + int(rng.uniform(2, 6) * MINUTE_US)
        order = {"order_id": visit.pickup.order_id, "fulfilment": visit.pickup.fulfilment}
        _staff_event(trail, collected, "store", EventName.PICKUP_COMPLETED, store, order)
    if not trail.kiosk_signed_up and rng.random() < KIOSK_RATE:
        _kiosk_sign_up(trail, visit.arrived_us + int(rng.uniform(1, 5) * MINUTE_US), store)
    if visit.basket:
        paid = visit.left_us - int(rng.uniform(1, 4) * MINUTE_US)
        _receipt(trail, max(paid, visit.arrived_us + MINUTE_US), visit)
    observed = "+".join(name for name, seen in (("pings", pinged), ("beacons", beaconed)) if seen)
    trail.visits.append(
        {
            "person_id": person.person_id,
            "store_id": store.store_id,
            "arrived_at": visit.arrived_us,
            "left_at": visit.left_us,
            "observed_by": observed or ("receipt_only" if visit.basket else "none"),
            "purpose": visit.purpose,
        }
    )


def locker_pickup(trail: Trail, ts_us: int, order: OnlineOrder) -> None:
    """Collecting a locker order: a minute at the locker, not a store visit."""
    assert order.store is not None
    collected = {"order_id": order.order_id, "fulfilment": "locker", "locker_id": f"LCK-{order.store.store_id}"}
    _staff_event(trail, ts_us, "locker", EventName.PICKUP_COMPLETED, order.store, collected)


def walk_by(trail: Trail, ts_us: int, store: Store) -> None:
    """1-3 accurate pings inside a geofence within 3 minutes: passing the shop, not visiting it."""
    rng = trail.rng
    ts = ts_us
    for _ in range(rng.randint(1, 3)):
        lat, lon = scatter(rng, store.lat, store.lon, 0.9 * store.radius_m)
        _ping(trail, ts, lat, lon, rng.uniform(5, 40))
        ts += int(rng.uniform(20, 80) * SECOND_US)


def background_ping(trail: Trail, ts_us: int) -> None:
    """A ping at home or on an errand, always clear of every store's geofence."""
    rng, person = trail.rng, trail.person
    if rng.random() < 0.7:
        lat, lon = scatter(rng, person.home_lat, person.home_lon, 60.0)
        _ping(trail, ts_us, lat, lon, rng.uniform(8, 65))
        return
    stores = list(trail.setting.stores)
    for _ in range(20):
        lat, lon = scatter(rng, person.home_lat, person.home_lon, 8_000.0, 500.0)
        if clear_of_stores(stores, lat, lon):
            _ping(trail, ts_us, lat, lon, rng.uniform(5, 100))
            return

