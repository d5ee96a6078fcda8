"""What each archetype does over the window, planned onto the person's agenda.

Behaviour is deliberately clear-cut so that segment rules can recover the archetypes from events:

- online_only: web/app sessions and shipped online orders; never in a store, no receipts.
- store_only: store visits with receipts; no online message at all (kiosk sign-ups are offline).
- ropo: views a product online 1-14 days before buying that product in a store; no online orders.
- showroomer: browses a store (almost always with pings), then orders online within 7 days; no receipts.
- omnichannel: online orders (ship, click-and-collect with a pickup visit, locker) and store receipts.
- event_goer: invited, RSVPs, checks in at an in-store event, often buys there; some browsing.
- lapsed: store receipts only in the first 40% of the window; online activity only in the last 30 days.

Online views come from a person's *interests*; store baskets of everyone but ropo avoid them, so
"viewed, then bought in a store" happens only to ropo.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import timedelta

from footfall.synth.catalogue import Product
from footfall.synth.geography import Store
from footfall.synth.trail import Trail
from footfall.synth.offline import StoreVisit, background_ping, locker_pickup, store_visit, walk_by
from footfall.synth.online import OnlineOrder, browse, email_engagement, invitation, pickup_ready, rsvp
from footfall.synth.people import Device
from footfall.synth.setting import DAY_US, HOUR_US, MINUTE_US

INVITE_RATE = 0.2  # people (other than event-goers) invited to one event
STRAY_RSVP_RATE = 0.02  # of those, how many RSVP (none check in)
BACKGROUND_PINGS_PER_DAY = 0.08
WALK_BYS_PER_DAY = 0.04


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; means here are small)."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


# -- building blocks ----------------------------------------------------------------------------
def _online_moment(trail: Trail, day: int) -> int:
    """When people shop online: mostly evenings, some daytime, rarely late at night."""
    rng = trail.rng
    minute = rng.choices(((18, 22), (8, 18), (22, 23.5), (6, 8)), (55, 33, 8, 4))[0]
    return trail.setting.window.local(day, rng.uniform(*minute) * 60)


def _device(trail: Trail) -> Device:
    person, rng = trail.person, trail.rng
    app = person.app
    return app if app and rng.random() < 0.5 else rng.choice(person.browsers)


def _interesting(trail: Trail, count: int) -> list[Product]:
    return trail.rng.sample(trail.interests, min(count, len(trail.interests)))


def _session(
    trail: Trail,
    ts_us: int,
    views: list[Product],
    add: float = 0.3,
    order: OnlineOrder | None = None,
    device: Device | None = None,
) -> None:
    rng = trail.rng
    latest = trail.setting.window.end_us - HOUR_US
    search, add_to_cart = rng.random() < 0.4, rng.random() < add
    trail.at(min(ts_us, latest), browse, device or _device(trail), views, search, add_to_cart, order)


def _browsing(trail: Trail, count: int, first_day: int = 0, add: float = 0.3) -> None:
    days = trail.setting.window.days
    for _ in range(count):
        day = trail.rng.randrange(first_day, days)
        _session(trail, _online_moment(trail, day), _interesting(trail, trail.rng.randint(1, 3)), add)


def _order(
    trail: Trail, products: list[Product], fulfilment: str = "ship", store: Store | None = None
) -> OnlineOrder:
    rng = trail.rng
    lines = [(p, 2 if rng.random() < 0.1 else 1) for p in products]
    token = rng.choice(trail.person.card_tokens) if rng.random() < 0.85 else None
    return OnlineOrder(f"W{rng.getrandbits(64):016X}", lines, fulfilment, store, token)


def _basket(trail: Trail) -> list[tuple[Product, int]]:
    """A store basket of 1-4 products, none of them among the person's online interests."""
    rng = trail.rng
    avoid = frozenset(p.sku for p in trail.interests)
    products = trail.setting.catalogue.basket(rng, rng.choices((1, 2, 3, 4), (40, 30, 20, 10))[0], avoid)
    return [(p, 2 if rng.random() < 0.15 else 1) for p in products]


def _usual_store(trail: Trail) -> Store:
    stores = trail.person.usual_stores
    return stores[0] if trail.rng.random() < 0.7 else trail.rng.choice(stores[:4])


def _visit(
    trail: Trail,
    purpose: str,
    first_day: int,
    last_day: int,
    dwell_min: tuple[float, float],
    basket: list[tuple[Product, int]] | None = None,
    store: Store | None = None,
    not_before_us: int = 0,
    pickup: OnlineOrder | None = None,
) -> StoreVisit | None:
    """Plan a visit on a free day in [first_day, last_day) while the store is open; None if none fits."""
    rng, window = trail.rng, trail.setting.window
    store = store or _usual_store(trail)
    last_day = min(last_day, window.days)
    for _ in range(30):
        if first_day >= last_day:
            return None
        day = rng.randrange(first_day, last_day)
        hours = store.opening[window.weekday(day)]
        if day in trail.busy_days or hours is None:
            continue
        dwell = rng.uniform(*dwell_min)
        opens = max(hours[0] + 5, (not_before_us - window.local(day, 0)) / MINUTE_US)
        closes = hours[1] - dwell - 5
        if opens >= closes:
            continue
        arrived = window.local(day, rng.uniform(opens, closes))
        visit = StoreVisit(store, arrived, arrived + int(dwell * MINUTE_US), purpose, basket or [], pickup)
        trail.busy_days.add(day)
        trail.at(arrived, store_visit, visit)
        return visit
    return None


def _purchases(trail: Trail, count: int, first_day: int = 0, last_day: int | None = None) -> None:
    for _ in range(count):
        _visit(trail, "purchase", first_day, last_day or trail.setting.window.days, (10, 45), _basket(trail))


def _newsletters(trail: Trail, first_day: int, opens: float, clicks: float) -> None:
    """Weekly newsletters (sent to everyone online on the same days): the ones this person opens."""
    rng, window = trail.rng, trail.setting.window
    for week_day in range(0, window.days, 7):
        day = week_day + rng.randint(0, 2)
        if day < first_day or day >= window.days or rng.random() >= opens:
            continue
        campaign_id = f"NL-{window.start + timedelta(days=week_day):%Y%m%d}"
        trail.at(window.local(day, rng.uniform(7, 21) * 60), email_engagement, campaign_id, rng.random() < clicks)


def _stray_invitation(trail: Trail, rsvp_from_day: int = 0) -> None:
    """Some people are invited to an event near them; very few RSVP (not before `rsvp_from_day`), none go."""
    rng, window = trail.rng, trail.setting.window
    nearby = {s.store_id for s in trail.person.usual_stores[:3]}
    experiences = [e for e in trail.setting.experiences_at(nearby) if e.day >= 4]
    if not experiences or rng.random() >= INVITE_RATE:
        return
    experience = rng.choice(experiences)
    invited = max(window.start_us + HOUR_US, experience.starts_us - int(rng.uniform(3, 10) * DAY_US))
    trail.at(invited, invitation, experience)
    if rng.random() < STRAY_RSVP_RATE and window.day_of(invited) >= rsvp_from_day:
        trail.at(invited + int(rng.uniform(2, 30) * HOUR_US), rsvp, experience)


def _location_life(trail: Trail) -> None:
    """Pings that are not visits: at home or out and about, and walking past nearby stores."""
    person, rng, window = trail.person, trail.rng, trail.setting.window
    # on days without a store visit, so that every ping during a true visit comes from that visit
    free_days = [d for d in range(window.days) if d not in trail.busy_days]
    if not person.pings or not free_days:
        return
    for _ in range(poisson(rng, BACKGROUND_PINGS_PER_DAY * window.days)):
        trail.at(window.local(rng.choice(free_days), rng.uniform(7, 23) * 60), background_ping)
    nearby = trail.setting.stores_near(person.home_lat, person.home_lon, 5_000.0)
    if not nearby:
        return
    for _ in range(poisson(rng, WALK_BYS_PER_DAY * window.days)):
        trail.at(window.local(rng.choice(free_days), rng.uniform(8, 20) * 60), walk_by, rng.choice(nearby))


def _online_extras(trail: Trail) -> None:
    """What every online archetype gets besides its own behaviour: newsletters, maybe an invitation."""
    _newsletters(trail, 0, opens=0.2, clicks=0.3)
    _stray_invitation(trail)


# -- archetypes ---------------------------------------------------------------------------------
def online_only(trail: Trail) -> None:
    """Browses and orders online (shipped); never sets foot in a store."""
    rng, days = trail.rng, trail.setting.window.days
    _browsing(trail, 1 + poisson(rng, 0.025 * days))
    for _ in range(1 + (rng.random() < 0.5) + (rng.random() < 0.2)):
        order = _order(trail, _interesting(trail, rng.randint(1, 3)))
        _session(trail, _online_moment(trail, rng.randrange(days)), [p for p, _ in order.lines], order=order)
    _online_extras(trail)


def store_only(trail: Trail) -> None:
    """Shops in stores, mostly buying; sends nothing online."""
    rng, days = trail.rng, trail.setting.window.days
    _purchases(trail, 1)
    for _ in range(1 + poisson(rng, 0.04 * days)):
        if rng.random() < 0.85:
            _purchases(trail, 1)
        else:
            _visit(trail, "browse", 0, days, (8, 30))


def ropo(trail: Trail) -> None:
    """Researches a product online, then buys it in a store 1-14 days later; never orders online."""
    rng, window = trail.rng, trail.setting.window
    for _ in range(rng.randint(1, 3)):
        wanted = rng.choice(trail.interests)
        basket = [(wanted, 1), *_basket(trail)[: rng.randint(0, 2)]]
        visit = _visit(trail, "purchase", 2, window.days, (10, 45), basket)
        if visit is None:
            continue
        lead_us = rng.uniform(DAY_US, min(14 * DAY_US, visit.arrived_us - window.start_us))
        others = [p for p in _interesting(trail, rng.randint(0, 2)) if p is not wanted]
        _session(trail, visit.arrived_us - int(lead_us), [wanted, *others], add=0.2)
    _browsing(trail, 1 + poisson(rng, 0.015 * window.days), add=0.2)
    if rng.random() < 0.3:
        _visit(trail, "browse", 0, window.days, (8, 30))
    _online_extras(trail)


def showroomer(trail: Trail) -> None:
    """Looks around a store, then orders something of that kind online within a week."""
    rng, window = trail.rng, trail.setting.window
    catalogue = trail.setting.catalogue
    for _ in range(rng.randint(1, 3)):
        visit = _visit(trail, "browse", 0, window.days - 1, (10, 40))
        if visit is None:
            continue
        category = rng.choice(list(catalogue.by_category))
        wanted = {p.sku: p for p in (catalogue.pick(rng, category) for _ in range(rng.randint(1, 2)))}
        order = _order(trail, list(wanted.values()))
        ordered = visit.left_us + int(rng.uniform(HOUR_US, 6.9 * DAY_US))  # the session takes minutes
        app = trail.person.app
        device = app if app and rng.random() < 0.7 else rng.choice(trail.person.browsers)
        _session(trail, ordered, list(wanted.values()), order=order, device=device)
    _browsing(trail, rng.randint(1, 2), add=0.0)
    _online_extras(trail)


def omnichannel(trail: Trail) -> None:
    """Orders online (shipped, collected in store, from a locker) and buys in stores."""
    rng, window = trail.rng, trail.setting.window
    for _ in range(rng.randint(2, 3)):
        fulfilment = rng.choices(("ship", "click_collect", "locker"), (40, 40, 20))[0]
        store = _usual_store(trail) if fulfilment != "ship" else None
        order = _order(trail, _interesting(trail, rng.randint(1, 3)), fulfilment, store)
        ordered = _online_moment(trail, rng.randrange(max(1, window.days - 3)))
        ready = ordered + int(rng.uniform(2, 26) * HOUR_US)
        if fulfilment == "click_collect":
            day = window.day_of(ready)
            visit = _visit(
                trail, "pickup", day, day + 4, (8, 20), store=store, not_before_us=ready + HOUR_US, pickup=order
            )
            collected = visit is not None
        else:
            collected_us = ready + int(rng.uniform(1, 48) * HOUR_US)
            collected = store is not None and collected_us < window.end_us - HOUR_US
            if collected:
                trail.at(collected_us, locker_pickup, order)
        if store is not None and not collected:
            order.fulfilment, order.store = "ship", None
        elif store is not None:
            trail.at(ready, pickup_ready, order)
        _session(trail, ordered, [p for p, _ in order.lines], order=order)
    _purchases(trail, rng.randint(2, 3))
    _browsing(trail, rng.randint(0, 2))
    _online_extras(trail)


def event_goer(trail: Trail) -> None:
    """Invited to an in-store event, RSVPs, checks in, often buys there; browses a little."""
    rng, window = trail.rng, trail.setting.window
    nearby = {s.store_id for s in trail.person.usual_stores[:3]}
    experiences = [e for e in trail.setting.experiences_at(nearby) if e.day >= 2]
    for experience in rng.sample(experiences, min(len(experiences), 1 if rng.random() < 0.7 else 2)):
        if experience.day in trail.busy_days:
            continue
        trail.busy_days.add(experience.day)
        invited = max(window.start_us + HOUR_US, experience.starts_us - int(rng.uniform(3, 12) * DAY_US))
        trail.at(invited, invitation, experience)
        latest_answer_us = min(4 * DAY_US, experience.starts_us - invited - 3 * HOUR_US)
        answered = invited + int(rng.uniform(2 * HOUR_US, latest_answer_us))
        trail.at(answered, rsvp, experience)
        arrived = experience.starts_us + int(rng.uniform(-5, 15) * MINUTE_US)
        basket = _basket(trail) if rng.random() < 0.6 else []
        left = arrived + int(rng.uniform(30, 60) * MINUTE_US)
        visit = StoreVisit(experience.store, arrived, left, "event", basket, experience=experience)
        trail.at(arrived, store_visit, visit)
    _browsing(trail, rng.randint(1, 3))
    _online_extras(trail)


def lapsed(trail: Trail) -> None:
    """Bought in stores early in the window only; browses online in its last 30 days."""
    rng, days = trail.rng, trail.setting.window.days
    last_store_day = max(1, math.floor(0.4 * days))
    _purchases(trail, rng.randint(1, 3), 0, last_store_day)
    online_from = max(math.ceil(0.4 * days), days - 30)
    _browsing(trail, rng.randint(2, 4), first_day=online_from)
    _newsletters(trail, online_from, 0.6, 0.5)
    _stray_invitation(trail, rsvp_from_day=online_from)


ARCHETYPE_BEHAVIOUR: dict[str, Callable[[Trail], None]] = {
    "online_only": online_only,
    "store_only": store_only,
    "ropo": ropo,
    "showroomer": showroomer,
    "omnichannel": omnichannel,
    "event_goer": event_goer,
    "lapsed": lapsed,
}


def plan_life(trail: Trail) -> None:
    """Choose the person's interests, plan their archetype's behaviour, then the pings around it."""
    rng, catalogue = trail.rng, trail.setting.catalogue
    categories = rng.sample(list(catalogue.by_category), 2)
    trail.interests = [catalogue.pick(rng, rng.choice(categories)) for _ in range(rng.randint(8, 12))]
    trail.interests = list({p.sku: p for p in trail.interests}.values())
    ARCHETYPE_BEHAVIOUR[trail.person.archetype](trail)
    _location_life(trail)
