"""The official Segment and RudderStack Python clients deliver to a real `footfall serve` unchanged.

Each test starts the server as a subprocess on 127.0.0.1 (uvicorn, background loader on), sends every
call type with properties and context through the SDK, flushes, and finds every event in the lake with
the right fields, while the CLI (`footfall load`, `footfall status`) works on the same project.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest
import rudderstack.analytics as rudderstack
import segment.analytics as segment

from footfall.keys import create_write_key
from footfall.lake import Lake
from tests.api.server import Server
from tests.conftest import run_cli

SDKS = {"segment": segment.Client, "rudderstack": rudderstack.Client}
WHEN = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


def _send_everything(client, ids: dict[str, str]) -> None:
    """One call of each type, with properties, traits and context, as an instrumented shop would."""
    client.track("u1", "Order Completed", {"order_id": "o-1", "total": 42.5, "currency": "EUR",
                                           "products": [{"sku": "SKU-9", "quantity": 1, "price": 42.5}]},
                 context={"channel": "web", "campaign": {"source": "newsletter", "medium": "email"}},
                 timestamp=WHEN, message_id=ids["track"])
    client.identify("u1", {"email": "ann@example.com", "phone": "+44 20 7946 0018", "loyalty_id": "L-7"},
                    timestamp=WHEN, message_id=ids["identify"])
    client.page("u1", "Shop", "Home", {"url": "https://shop.example/", "path": "/"}, anonymous_id="anon-1",
                timestamp=WHEN, message_id=ids["page"])
    client.group("u1", "acme", {"name": "Acme Ltd"}, timestamp=WHEN, message_id=ids["group"])
    client.alias("anon-1", "u1", timestamp=WHEN, message_id=ids["alias"])
    client.track(None, "Coupon Redeemed", {"store_id": "S1", "coupon": "SAVE10"}, anonymous_id="till-3",
                 context={"channel": "pos"}, timestamp=WHEN, message_id=ids["offline"])


def _wait_for_rows(project, count: int, timeout_s: float = 60.0) -> dict[str, dict]:
    """The lake's events once the server's background loader has put `count` there."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = {r["message_id"]: r for r in Lake(project.lake_dir).read("events").to_pylist()}
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_official_client_delivers_every_call_with_its_fields(project, capsys, sdk):
    _, key = create_write_key(project, f"{sdk}-app")
    server = Server(project.root, loader_interval_s=0.2).start()
    failures: list[Exception] = []
    try:
        client = SDKS[sdk](key, host=server.url, on_error=lambda error, batch: failures.append(error))
        ids = {name: f"{sdk}-{name}" for name in ("track", "identify", "page", "group", "alias", "offline")}
        _send_everything(client, ids)
        client.flush()
        client.join()
        assert failures == []
        rows = _wait_for_rows(project, len(ids))
        # The CLI works on the project while the server runs: load (nothing left) and status.
        assert run_cli(["load", "--project", str(project.root)], capsys)[0] == 0
        code, out, _ = run_cli(["status", "--project", str(project.root)], capsys)
    finally:
        server.stop()
    assert code == 0 and re.search(r"events\W+6\b", out), out
    assert sorted(rows) == sorted(ids.values())
    for row in rows.values():
        assert row["source"] == f"{sdk}-app"
        assert abs(row["timestamp"] - WHEN) < timedelta(seconds=60)  # skew-corrected by the tiny local latency

    order = rows[ids["track"]]
    assert (order["event"], order["user_id"], order["channel"], order["realm"]) == ("Order Completed", "u1", "web", "online")
    assert (order["order_id"], order["amount"], order["currency"], order["utm_source"]) == ("o-1", 42.5, "EUR", "newsletter")
    assert orjson.loads(order["properties"])["products"][0]["sku"] == "SKU-9"
    lines = Lake(project.lake_dir).read("order_lines").to_pylist()
    assert [(l["order_id"], l["sku"], l["amount"]) for l in lines] == [("o-1", "SKU-9", 42.5)]

    person = rows[ids["identify"]]  # RudderStack sends these traits in context.traits, Segment at the top
    assert (person["type"], person["email"], person["phone"], person["loyalty_id"]) == (
        "identify", "ann@example.com", "+44 20 7946 0018", "L-7")
    assert orjson.loads(person["traits"])["email"] == "ann@example.com"

    page = rows[ids["page"]]
    assert (page["type"], page["event"], page["page_url"], page["page_path"], page["anonymous_id"]) == (
        "page", "Home", "https://shop.example/", "/", "anon-1")
    assert (rows[ids["group"]]["group_id"], rows[ids["group"]]["name"]) == ("acme", None)
    alias = rows[ids["alias"]]
    assert (alias["type"], alias["previous_id"], alias["user_id"]) == ("alias", "anon-1", "u1")
    offline = rows[ids["offline"]]
    assert (offline["realm"], offline["channel"], offline["store_id"], offline["coupon_code"], offline["user_id"]) == (
        "offline", "pos", "S1", "SAVE10", None)
    assert rows[ids["identify"]]["channel"] == "server"  # RudderStack's channel field, or the library default
