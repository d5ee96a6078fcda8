"""The canonical tables: one Arrow schema per table, the vocabularies their columns use.

Every writer (file import, the HTTP collector, the synthetic world) produces exactly these columns and
types, and every reader (the warehouse, on DuckDB or Spark) sees them. Timestamps are always UTC with
microsecond precision; JSON objects (context, properties, traits) are stored as JSON text so that both
engines read them the same way; the values analytics need are promoted into typed columns
(`footfall.schema.promotion`).
"""

from __future__ import annotations

import pyarrow as pa

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

EVENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
REALMS = ("online", "offline")
ONLINE_CHANNELS = ("web", "app", "email", "sms", "push", "social", "ads", "server")
OFFLINE_CHANNELS = ("pos", "store", "event", "locker", "kiosk", "call_center")
CHANNELS = ONLINE_CHANNELS + OFFLINE_CHANNELS
FULFILMENTS = ("ship", "click_collect", "locker", "in_store")


def realm_of_channel(channel: str) -> str:
    """The realm a channel belongs to when an event does not say: stores, POS, events are offline."""
    return "offline" if channel in OFFLINE_CHANNELS else "online"


class EventName:
    """Event names Footfall gives meaning to: the Segment e-commerce spec plus offline events."""

    PRODUCTS_SEARCHED = "Products Searched"
    PRODUCT_VIEWED = "Product Viewed"
    PRODUCT_ADDED = "Product Added"
    CART_VIEWED = "Cart Viewed"
    CHECKOUT_STARTED = "Checkout Started"
    ORDER_COMPLETED = "Order Completed"
    COUPON_APPLIED = "Coupon Applied"
    SIGNED_UP = "Signed Up"
    EMAIL_OPENED = "Email Opened"
    EMAIL_LINK_CLICKED = "Email Link Clicked"
    STORE_LOCATOR_SEARCHED = "Store Locator Searched"
    LOCATION_UPDATED = "Location Updated"
    BEACON_SIGHTED = "Beacon Sighted"
    STORE_VISITED = "Store Visited"
    COUPON_REDEEMED = "Coupon Redeemed"
    PICKUP_READY = "Pickup Ready"
    PICKUP_COMPLETED = "Pickup Completed"
    RETURN_COMPLETED = "Return Completed"
    EVENT_INVITED = "Event Invitation Sent"
    EVENT_RSVPED = "Event RSVP Received"
    EVENT_CHECKED_IN = "Event Checked In"


# Columns promoted from the JSON objects into typed columns, in the order they appear in `events`.
# Where each one is looked for is declared in `footfall.schema.promotion`.
PROMOTED_FIELDS: list[pa.Field] = [
    pa.field("order_id", pa.string()),
    pa.field("fulfilment", pa.string()),
    pa.field("amount", pa.float64()),
    pa.field("currency", pa.string()),
    pa.field("sku", pa.string()),
    pa.field("category", pa.string()),
    pa.field("quantity", pa.int64()),
    pa.field("coupon_code", pa.string()),
    pa.field("campaign_id", pa.string()),
    pa.field("experience_id", pa.string()),
    pa.field("lat", pa.float64()),
    pa.field("lon", pa.float64()),
    pa.field("accuracy_m", pa.float64()),
    pa.field("beacon_id", pa.string()),
    pa.field("ended_at", UTC_TIMESTAMP),
    pa.field("email", pa.string()),
    pa.field("phone", pa.string()),
    pa.field("loyalty_id", pa.string()),
    pa.field("card_token", pa.string()),
    pa.field("device_id", pa.string()),
    pa.field("name", pa.string()),
    pa.field("postcode", pa.string()),
    pa.field("page_url", pa.string()),
    pa.field("page_path", pa.string()),
    pa.field("page_referrer", pa.string()),
    pa.field("page_title", pa.string()),
    pa.field("utm_source", pa.string()),
    pa.field("utm_medium", pa.string()),
    pa.field("utm_campaign", pa.string()),
]

EVENTS = pa.schema(
    [
        # Segment spec fields
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("event", pa.string()),
        pa.field("anonymous_id", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("previous_id", pa.string()),
        pa.field("group_id", pa.string()),
        pa.field("timestamp", UTC_TIMESTAMP, nullable=False),
        pa.field("sent_at", UTC_TIMESTAMP),
        pa.field("received_at", UTC_TIMESTAMP),
        pa.field("context", pa.string()),
        pa.field("properties", pa.string()),
        pa.field("traits", pa.string()),
        # O2O fields
        pa.field("realm", pa.string(), nullable=False),
        pa.field("channel", pa.string(), nullable=False),
        pa.field("store_id", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        *PROMOTED_FIELDS,
    ]
)

ORDER_LINES = pa.schema(
    [
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("order_id", pa.string(), nullable=False),
        pa.field("line_no", pa.int32(), nullable=False),
        pa.field("timestamp", UTC_TIMESTAMP, nullable=False),
        pa.field("sku", pa.string()),
        pa.field("quantity", pa.int64()),
        pa.field("unit_price", pa.float64()),
        pa.field("amount", pa.float64()),
    ]
)

STORES = pa.schema(
    [
        pa.field("store_id", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
        pa.field("radius_m", pa.float64(), nullable=False),
        pa.field("timezone", pa.string(), nullable=False),
        # JSON object: weekday ("mon".."sun") -> "HH:MM-HH:MM" in the store's timezone; absent = closed
        pa.field("opening_hours", pa.string()),
        pa.field("city", pa.string()),
        pa.field("postcode", pa.string()),
        # JSON array of beacon ids installed in the store (for visit detection)
        pa.field("beacon_ids", pa.string()),
    ]
)

PRODUCTS = pa.schema(
    [
        pa.field("sku", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("category", pa.string(), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("currency", pa.string()),
    ]
)

# A postcode directory: where a postcode is (the centroid of its addresses). Full postcodes ("M4 6QT")
# and outward codes (districts, "M4") may both appear; lookups ignore case and spaces. Real projects
# import a national directory (e.g. ONS NSPL); profiles place people without location pings with it.
POSTCODES = pa.schema(
    [
        pa.field("postcode", pa.string(), nullable=False),
        pa.field("lat", pa.float64(), nullable=False),
        pa.field("lon", pa.float64(), nullable=False),
    ]
)

# POS receipts as exported by a till system: one row per receipt line (receipt fields repeated), or one
# row per receipt without sku when only totals are known. Imported into `events` (Order Completed,
# channel pos) and `order_lines`.
RECEIPTS = pa.schema(
    [
        pa.field("receipt_id", pa.string(), nullable=False),
        pa.field("store_id", pa.string(), nullable=False),
        pa.field("timestamp", UTC_TIMESTAMP, nullable=False),
        pa.field("total", pa.float64(), nullable=False),
        pa.field("currency", pa.string()),
        pa.field("loyalty_id", pa.string()),
        pa.field("card_token", pa.string()),
        pa.field("email", pa.string()),
        pa.field("phone", pa.string()),
        pa.field("name", pa.string()),
        pa.field("postcode", pa.string()),
        pa.field("coupon_code", pa.string()),
        pa.field("fulfilment", pa.string()),
        pa.field("sku", pa.string()),
        pa.field("quantity", pa.int64()),
        pa.field("unit_price", pa.float64()),
    ]
)

# Segment membership over time (`footfall.segments.membership`), kept in the lake so both engines read
# it and one atomic commit records an evaluation whole: a row per person entering or leaving a segment
# (`change`: entered / exited) and a row per evaluation (its size and counts). `at` is the evaluation's
# as_of, the moment the members were computed for.
SEGMENT_CHANGES = pa.schema(
    [
        pa.field("segment", pa.string(), nullable=False),
        pa.field("person_id", pa.string(), nullable=False),
        pa.field("change", pa.string(), nullable=False),
        pa.field("at", UTC_TIMESTAMP, nullable=False),
        pa.field("evaluation_id", pa.string(), nullable=False),
    ]
)
SEGMENT_EVALUATIONS = pa.schema(
    [
        pa.field("evaluation_id", pa.string(), nullable=False),
        pa.field("segment", pa.string(), nullable=False),
        pa.field("at", UTC_TIMESTAMP, nullable=False),
        pa.field("evaluated_at", UTC_TIMESTAMP, nullable=False),
        pa.field("engine", pa.string(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("entered", pa.int64(), nullable=False),
        pa.field("exited", pa.int64(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
    ]
)

# Tables stored in the lake, by name. Partitioned tables are split by UTC month of `timestamp` (or
# the column `PARTITION_COLUMNS` names).
LAKE_TABLES: dict[str, pa.Schema] = {
    "events": EVENTS,
    "order_lines": ORDER_LINES,
    "stores": STORES,
    "products": PRODUCTS,
    "postcodes": POSTCODES,
    "segment_changes": SEGMENT_CHANGES,
    "segment_evaluations": SEGMENT_EVALUATIONS,
}
PARTITIONED_TABLES = ("events", "order_lines", "segment_changes", "segment_evaluations")
PARTITION_COLUMNS = {"segment_changes": "at", "segment_evaluations": "at"}
# The key a reference table is upserted by.
REFERENCE_KEYS = {"stores": "store_id", "products": "sku", "postcodes": "postcode"}


def receipt_message_id(store_id: str, receipt_id: str) -> str:
    """The message id a POS receipt gets as an `Order Completed` event: stable, so re-imports dedupe."""
    return f"pos:{store_id}:{receipt_id}"
