"""Online behaviour: web and app sessions, logins, orders, marketing emails, invitations and RSVPs.

Every public function here is an agenda action `(trail, ts_us, ...)`: it runs when the person's clock
reaches `ts_us` and appends Segment messages the way analytics.js, the mobile SDKs and an email service
would send them (web events carry `context.page`, app events `context.device.id`, emails
`context.traits.email`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from footfall.schema import EventName
from footfall.synth.catalogue import CURRENCY, Product
from footfall.synth.geography import TIMEZONE, Store
from footfall.synth.trail import Blob, Trail
from footfall.synth.people import Device
from footfall.synth.setting import SECOND_US, Experience

SHOP_URL = "https://shop.footfall.example"
_WEB_LIBRARY = {"name": "analytics.js", "version": "next-1.70.0"}
_MAILER_LIBRARY = {"name": "footfall-mailer", "version": "2.3.0"}
ALIAS_RATE = 0.3  # share of first logins on a device that also send `alias`
RELOGIN_RATE = 0.05  # share of later sessions that log in again (another `identify`)
EMAIL_CAPTURE_RATE = 0.6  # share of a guest's extra devices where they leave their email too


@dataclass
class OnlineOrder:
    """An order placed on the web or in the app; click-and-collect and locker orders name a store."""

    order_id: str
    lines: list[tuple[Product, int]]
    fulfilment: str  # ship | click_collect | locker
    store: Store | None = None
    card_token: str | None = None

    @property
    def total(self) -> float:
        return round(sum(p.price * q for p, q in self.lines), 2)


def _item(product: Product, quantity: int | None = None) -> dict[str, Any]:
    """A product as the e-commerce spec lists it (no `name`: promotion would take it for a person's)."""
    item: dict[str, Any] = {"sku": product.sku, "product_id": product.sku, "category": product.category}
    item["price"] = product.price
    if quantity is not None:
        item["quantity"] = quantity
    return item


def _web_context(
    trail: Trail,
    device: Device,
    path: str,
    title: str,
    referrer: str | None = None,
    campaign: dict[str, str] | None = None,
) -> Blob:
    page = {"path": path, "title": title, "url": SHOP_URL + path}
    if referrer:  # analytics.js sends "" for none; leave it out, as promotion treats "" as missing
        page["referrer"] = referrer
    context: dict[str, Any] = {
        "library": _WEB_LIBRARY,
        "ip": trail.person.ip,
        "locale": "en-GB",
        "userAgent": device.user_agent,
        "page": page,
    }
    if campaign:
        context["campaign"] = campaign
    return Blob.of("context", context)


def app_context(trail: Trail, device: Device) -> Blob:
    """The mobile SDK's context for an app install (the same on every message of that install)."""

    def build() -> dict[str, Any]:
        os_name, manufacturer, model, os_version = device.platform or ("ios", "Apple", "iPhone", "17")
        return {
            "library": {"name": f"analytics-{os_name}", "version": "1.5.2"},
            "app": {"name": "Footfall", "version": "5.4.1", "build": "541", "namespace": "example.footfall"},
            "device": {"id": device.device_id, "manufacturer": manufacturer, "model": model, "type": os_name},
            "os": {"name": "iOS" if os_name == "ios" else "Android", "version": os_version},
            "locale": "en-GB",
            "timezone": TIMEZONE,
        }

    return trail.blob(("app", device.anonymous_id), "context", build)


def crm_sender(trail: Trail) -> dict[str, str | None]:
    """How systems that know the customer (email, check-in, pickup) address them.

    By user id when they have an account, else by the first device, where they left their email.
    """
    person = trail.person
    if person.user_id:
        return {"user_id": person.user_id, "anonymous_id": None}
    return {"user_id": None, "anonymous_id": person.devices[0].anonymous_id}


def _email(trail: Trail, ts_us: int, event: str, properties: dict[str, Any]) -> None:
    """A message from the email service, which knows the recipient's address."""
    person = trail.person
    context = trail.blob("mailer", "context", lambda: {"library": _MAILER_LIBRARY, "traits": {"email": person.email}})
    trail.emit(ts_us, "email", event=event, context=context, properties=properties, **crm_sender(trail))


def _account_traits(trail: Trail) -> Blob:
    person = trail.person

    def build() -> dict[str, Any]:
        traits: dict[str, Any] = {
            "email": person.email,
            "name": f"{person.first_name} {person.last_name}",
            "first_name": person.first_name,
            "last_name": person.last_name,
            "phone": person.phone,
            "address": {"postal_code": person.postcode, "country": "GB"},
        }
        if person.loyalty_id:
            traits["loyalty_id"] = person.loyalty_id
        return traits

    return trail.blob("account", "traits", build)


class Session:
    """One visit to the shop on a device: consecutive messages a few seconds to minutes apart."""

    def __init__(self, trail: Trail, ts_us: int, device: Device, campaign: dict[str, str] | None) -> None:
        self.trail, self.device, self.now = trail, device, ts_us
        self.channel = "app" if device.kind == "app" else "web"
        self.campaign = campaign  # utm parameters: on the landing page only
        self.referrer = "https://www.google.com/" if campaign is None and trail.rng.random() < 0.4 else None
        self.context: Blob | None = None

    def _emit(self, low_s: float = 5, high_s: float = 90, **message: Any) -> None:
        """Send a message from this device now, then let some seconds pass."""
        user_id = self.trail.person.user_id if self.device.logged_in else None
        message.setdefault("anonymous_id", self.device.anonymous_id)
        message.setdefault("user_id", user_id)
        self.trail.emit(self.now, self.channel, context=self.context, **message)
        self.now += int(self.trail.rng.uniform(low_s, high_s) * SECOND_US)

    def view(self, path: str, title: str) -> None:
        """A page (web) or screen (app) view; on the web it also sets the context of later events."""
        if self.channel == "web":
            self.context = _web_context(self.trail, self.device, path, title, self.referrer, self.campaign)
            self.referrer, self.campaign = SHOP_URL + path, None
            self._emit(type="page", properties={"path": path, "title": title, "url": SHOP_URL + path})
        else:
            self.context = app_context(self.trail, self.device)
            self._emit(type="screen", properties={"screen": title})

    def track(self, event: str, properties: dict[str, Any]) -> None:
        self._emit(event=event, properties=properties)

    def log_in(self) -> None:
        """Account holders log in on a new device (identify, sometimes alias); guests leave their email."""
        trail, person, device = self.trail, self.trail.person, self.device
        first_time = device.sessions == 0
        if person.has_account and (not device.logged_in or trail.rng.random() < RELOGIN_RATE):
            device.logged_in = True
            self._emit(2, 10, type="identify", traits=_account_traits(trail))
            if first_time and trail.rng.random() < ALIAS_RATE:
                self._emit(1, 5, type="alias", anonymous_id=None, previous_id=device.anonymous_id)
        elif not person.has_account and first_time:
            if device is person.devices[0] or trail.rng.random() < EMAIL_CAPTURE_RATE:
                # the newsletter pop-up: an anonymous identify that ties this device to an email address
                traits = trail.blob("newsletter", "traits", lambda: {"email": person.email})
                self._emit(2, 10, type="identify", traits=traits)


def browse(
    trail: Trail,
    ts_us: int,
    device: Device,
    views: list[Product],
    search: bool,
    add: bool,
    order: OnlineOrder | None = None,
    campaign: dict[str, str] | None = None,
) -> None:
    """A shopping session: land, log in, maybe search, view products, maybe add to cart and check out."""
    session = Session(trail, ts_us, device, campaign)
    session.view("/", "Home | Footfall")
    session.log_in()
    if search and views:
        session.track(EventName.PRODUCTS_SEARCHED, {"query": views[0].category.lower()})
    for product in views:
        session.view(f"/p/{product.sku}", product.name)
        session.track(EventName.PRODUCT_VIEWED, {**_item(product), "currency": CURRENCY})
    if (add or order) and views:
        cart = order.lines if order else [(views[-1], 1)]
        for product, quantity in cart:
            session.track(EventName.PRODUCT_ADDED, {**_item(product, quantity), "currency": CURRENCY})
        session.view("/cart", "Your basket")
        session.track(EventName.CART_VIEWED, {"products": [_item(p, q) for p, q in cart]})
    if order:
        _check_out(session, order)
    device.sessions += 1


def _check_out(session: Session, order: OnlineOrder) -> None:
    products = [_item(p, q) for p, q in order.lines]
    session.view("/checkout", "Checkout")
    started = {"order_id": order.order_id, "currency": CURRENCY, "products": products}
    session.track(EventName.CHECKOUT_STARTED, started)
    properties: dict[str, Any] = {
        "order_id": order.order_id,
        "total": order.total,
        "currency": CURRENCY,
        "fulfilment": order.fulfilment,
        "products": products,
    }
    if order.store:
        properties["store_id"] = order.store.store_id
    if order.card_token:
        properties["card_token"] = order.card_token
    if not session.device.logged_in:
        properties["email"] = session.trail.person.email  # a guest checkout
    session.track(EventName.ORDER_COMPLETED, properties)


def email_engagement(trail: Trail, ts_us: int, campaign_id: str, clicks: bool) -> None:
    """A newsletter opened (and maybe clicked, which usually starts a web session with utm tags)."""
    rng = trail.rng
    properties = {"campaign_id": campaign_id, "email_id": f"{campaign_id}:{trail.person.person_id}"}
    properties["subject"] = "New in this week"
    _email(trail, ts_us, EventName.EMAIL_OPENED, properties)
    if not clicks:
        return
    clicked_us = ts_us + int(rng.uniform(10, 600) * SECOND_US)
    link = f"{SHOP_URL}/new-in?utm_source=newsletter&utm_medium=email&utm_campaign={campaign_id}"
    _email(trail, clicked_us, EventName.EMAIL_LINK_CLICKED, {**properties, "link_url": link})
    if rng.random() < 0.7:
        campaign = {"source": "newsletter", "medium": "email", "name": campaign_id}
        views = rng.sample(trail.interests, min(len(trail.interests), rng.randint(1, 3)))
        landed_us = clicked_us + int(rng.uniform(5, 60) * SECOND_US)
        trail.at(landed_us, browse, rng.choice(trail.person.browsers), views, False, False, None, campaign)


def invitation(trail: Trail, ts_us: int, experience: Experience) -> None:
    """An email inviting the person to an in-store event."""
    properties = {
        "experience_id": experience.experience_id,
        "experience_name": experience.name,
        "store_id": experience.store.store_id,
        "campaign_id": f"INV-{experience.experience_id}",
    }
    _email(trail, ts_us, EventName.EVENT_INVITED, properties)


def rsvp(trail: Trail, ts_us: int, experience: Experience) -> None:
    """A yes on the event's web page, from the person's first browser."""
    person = trail.person
    device = person.browsers[0]
    context = _web_context(trail, device, f"/events/{experience.experience_id}", experience.name)
    properties: dict[str, Any] = {
        "experience_id": experience.experience_id,
        "store_id": experience.store.store_id,
        "response": "yes",
    }
    if not device.logged_in:
        properties["email"] = person.email
    trail.emit(
        ts_us,
        "web",
        event=EventName.EVENT_RSVPED,
        context=context,
        properties=properties,
        anonymous_id=device.anonymous_id,
        user_id=person.user_id if device.logged_in else None,
    )


def pickup_ready(trail: Trail, ts_us: int, order: OnlineOrder) -> None:
    """The email telling the customer a click-and-collect or locker order is waiting."""
    assert order.store is not None
    properties = {"order_id": order.order_id, "store_id": order.store.store_id, "fulfilment": order.fulfilment}
    _email(trail, ts_us, EventName.PICKUP_READY, properties)
