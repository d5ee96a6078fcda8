"""The built-in online-to-offline segments, each written in the segment language (not hand-coded).

Each targets one archetype of the synthetic world and is checked against its ground truth
(tests/segments/test_builtin_accuracy.py; measured precision and recall in docs/segments.md).
"""

from __future__ import annotations

BUILTIN_SEGMENTS: dict[str, str] = {
    # Research online, purchase offline: viewed a product online, then bought that very sku in a store.
    "ropo": 'did "Product Viewed"[realm=online] then "Order Completed"[realm=offline] within 14d same sku',
    # Showroomers: looked around a store, then ordered online within a week; no store purchases.
    "showroomers": 'did "Store Visited" then "Order Completed"[realm=online] within 7d'
                   ' and not did "Order Completed"[realm=offline]',
    # Omnichannel: buys both online and in stores.
    "omnichannel": 'did "Order Completed"[realm=online] and did "Order Completed"[realm=offline]',
    # Online-only customers who live near a store: the cheapest people to bring into one.
    "online_only_near_store": 'did "Order Completed"[realm=online] and not did "Order Completed"[realm=offline]'
                              ' and not did "Store Visited" and nearest_store_km < 8',
    # Lapsed store customers still active online: bought in a store but not in the last 45 days, browsing
    # (not buying) online in the last 30. ROPO shoppers between purchases and event attendees are
    # engaged with the stores, not lapsed, so they are left out.
    "lapsed_store_active_online": 'did "Order Completed"[realm=offline] and not did "Order Completed"[realm=offline] in 45d'
                                  ' and did "Product Viewed" in 30d and not did "Order Completed"[realm=online]'
                                  ' and not in segment ropo and not did "Event Checked In"',
    # Event attendees: checked in at an in-store event.
    "event_attendees": 'did "Event Checked In"',
    # Store-only customers: buy in stores, nothing online.
    "store_only": 'did "Order Completed"[realm=offline] and not did any[realm=online]',
}
