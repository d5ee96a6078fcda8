"""Promotion: where each typed column of `events` is found inside a Segment message's JSON objects.

Segment clients put the same fact in different places (`properties.revenue` or `properties.total`,
`traits.email` or `context.traits.email`); this table lists them once, in order of preference, so the
HTTP collector and the file importer fill the typed columns identically. Values that do not convert
to the column's type are left null (the original stays in the JSON column).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

Path = tuple[str, ...]

PROMOTIONS: dict[str, tuple[Path, ...]] = {
    "order_id": (("properties", "order_id"), ("properties", "orderId"), ("properties", "checkout_id")),
    "fulfilment": (("properties", "fulfilment"), ("properties", "fulfillment")),
    "amount": (("properties", "total"), ("properties", "revenue"), ("properties", "value")),
    "currency": (("properties", "currency"),),
    "sku": (("properties", "sku"), ("properties", "product_id"), ("properties", "productId")),
    "category": (("properties", "category"),),
    "quantity": (("properties", "quantity"),),
    "coupon_code": (("properties", "coupon"), ("properties", "coupon_code"), ("properties", "coupon_id")),
    "campaign_id": (("properties", "campaign_id"), ("context", "campaign", "id")),
    "experience_id": (("properties", "experience_id"), ("properties", "event_id")),
    "lat": (("properties", "latitude"), ("properties", "lat"), ("context", "location", "latitude")),
    "lon": (("properties", "longitude"), ("properties", "lon"), ("context", "location", "longitude")),
    "accuracy_m": (("properties", "accuracy"), ("properties", "accuracy_m"), ("context", "location", "accuracy")),
    "beacon_id": (("properties", "beacon_id"), ("properties", "beaconId")),
    "ended_at": (("properties", "left_at"), ("properties", "ended_at")),
    "email": (("traits", "email"), ("context", "traits", "email"), ("properties", "email")),
    "phone": (("traits", "phone"), ("context", "traits", "phone"), ("properties", "phone")),
    "loyalty_id": (("traits", "loyalty_id"), ("context", "traits", "loyalty_id"), ("properties", "loyalty_id")),
    "card_token": (("properties", "card_token"), ("traits", "card_token")),
    "device_id": (("context", "device", "id"), ("context", "device", "advertisingId")),
    "name": (("traits", "name"), ("context", "traits", "name"), ("properties", "name")),
    "postcode": (
        ("traits", "address", "postal_code"),
        ("context", "traits", "address", "postal_code"),
        ("traits", "postcode"),
        ("properties", "postcode"),
    ),
    "page_url": (("context", "page", "url"), ("properties", "url")),
    "page_path": (("context", "page", "path"), ("properties", "path")),
    "page_referrer": (("context", "page", "referrer"), ("properties", "referrer")),
    "page_title": (("context", "page", "title"), ("properties", "title")),
    "utm_source": (("context", "campaign", "source"),),
    "utm_medium": (("context", "campaign", "medium"),),
    "utm_campaign": (("context", "campaign", "name"),),
}


def _to_str(value: Any) -> str | None:
    if isinstance(value, (dict, list)) or value is None:
        return None
    text = str(value).strip()
    return text or None


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is a missing value, not a number


def _to_int(value: Any) -> int | None:
    number = _to_float(value)
    return int(number) if number is not None and number.is_integer() else None


def parse_utc(value: Any) -> datetime | None:
    """An ISO-8601 text (or datetime) as an aware UTC datetime; naive values are taken as UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


_FLOAT_COLUMNS = {"amount", "lat", "lon", "accuracy_m"}
_INT_COLUMNS = {"quantity"}
_TIME_COLUMNS = {"ended_at"}


def _converter(column: str) -> Callable[[Any], Any]:
    if column in _FLOAT_COLUMNS:
        return _to_float
    if column in _INT_COLUMNS:
        return _to_int
    if column in _TIME_COLUMNS:
        return parse_utc
    return _to_str


_CONVERTERS = {column: _converter(column) for column in PROMOTIONS}


def _lookup(objects: Mapping[str, Any], path: Path) -> Any:
    node: Any = objects
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def promote(objects: Mapping[str, Any]) -> dict[str, Any]:
    """Typed column values found in a message's `context`, `properties` and `traits` dicts."""
    promoted: dict[str, Any] = {}
    for column, paths in PROMOTIONS.items():
        convert = _CONVERTERS[column]
        for path in paths:
            value = convert(_lookup(objects, path))
            if value is not None:
                promoted[column] = value
                break
    if "name" not in promoted:
        traits = objects.get("traits") or _lookup(objects, ("context", "traits")) or {}
        if isinstance(traits, Mapping):
            parts = [_to_str(traits.get("first_name")), _to_str(traits.get("last_name"))]
            full = " ".join(p for p in parts if p)
            if full:
                promoted["name"] = full
    return promoted


def order_lines(properties: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Order lines from the e-commerce spec's `properties.products` array (sku, quantity, price)."""
    products = properties.get("products") if isinstance(properties, Mapping) else None
    if not isinstance(products, list):
        return []
    lines = []
    for line_no, product in enumerate(products, start=1):
        if not isinstance(product, Mapping):
            continue
        quantity = _to_int(product.get("quantity")) or 1
        price = _to_float(product.get("price"))
        lines.append(
            {
                "line_no": line_no,
                "sku": _to_str(product.get("sku")) or _to_str(product.get("product_id")),
                "quantity": quantity,
                "unit_price": price,
                "amount": None if price is None else round(price * quantity, 2),
            }
        )
    return lines
