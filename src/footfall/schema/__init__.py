"""The canonical data model: lake tables, their vocabularies and promotion rules.

The derived tables (Ibis expressions) live in `footfall.schema.derived`, imported on demand, so that
the collector and the importer start without loading Ibis.
"""

from footfall.schema.promotion import PROMOTIONS, order_lines, parse_utc, promote
from footfall.schema.tables import (
    CHANNELS,
    EVENT_TYPES,
    EVENTS,
    FULFILMENTS,
    LAKE_TABLES,
    OFFLINE_CHANNELS,
    ONLINE_CHANNELS,
    ORDER_LINES,
    PARTITIONED_TABLES,
    POSTCODES,
    PRODUCTS,
    REALMS,
    RECEIPTS,
    REFERENCE_KEYS,
    STORES,
    UTC_TIMESTAMP,
    EventName,
    realm_of_channel,
    receipt_message_id,
)

__all__ = [
    "CHANNELS",
    "EVENTS",
    "EVENT_TYPES",
    "FULFILMENTS",
    "LAKE_TABLES",
    "OFFLINE_CHANNELS",
    "ONLINE_CHANNELS",
    "ORDER_LINES",
    "PARTITIONED_TABLES",
    "POSTCODES",
    "PRODUCTS",
    "PROMOTIONS",
    "REALMS",
    "RECEIPTS",
    "REFERENCE_KEYS",
    "STORES",
    "UTC_TIMESTAMP",
    "EventName",
    "order_lines",
    "parse_utc",
    "promote",
    "realm_of_channel",
    "receipt_message_id",
]
