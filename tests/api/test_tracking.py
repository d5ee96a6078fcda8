"""What the tracking API stores: every call type, both ways of sending the key, gzip, dedupe, clock skew."""

from __future__ import annotations

import gzip
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from footfall.api import create_app
from footfall.ingest.loader import load_spool
from footfall.lake import Lake

T0 = "2026-03-01T10:00:00.000Z"


def _events(project) -> dict[str, dict]:
    load_spool(project)
    return {row["message_id"]: row for row in Lake(project.lake_dir).read("events").to_pylist()}


@pytest.mark.parametrize(
    ("path", "message", "expected"),
    [
        ("track", {"userId": "u1", "event": "Product Viewed", "properties": {"sku": "SKU-1", "category": "shoes"}},
         {"type": "track", "event": "Product Viewed", "sku": "SKU-1", "category": "shoes"}),
        ("identify", {"userId": "u1", "traits": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}},
         {"type": "identify", "email": "ann@example.com", "name": "Ann Lee"}),
        ("page", {"anonymousId": "a1", "name": "Home", "properties": {"url": "https://shop.example/"}},
         {"type": "page", "event": "Home", "page_url": "https://shop.example/", "anonymous_id": "a1"}),
        ("screen", {"anonymousId": "a1", "name": "Basket", "context": {"library": {"name": "analytics-ios"}}},
         {"type": "screen", "event": "Basket", "channel": "app"}),
        ("group", {"userId": "u1", "groupId": "acme", "traits": {"name": "Acme Ltd"}},
         {"type": "group", "group_id": "acme", "name": None}),
        ("alias", {"userId": "u1", "previousId": "a1"}, {"type": "alias", "previous_id": "a1", "user_id": "u1"}),
    ],
)
def test_each_call_is_stored_with_its_fields(client, project, path, message, expected):
    response = client.post(f"/v1/{path}", json={**message, "messageId": f"m-{path}", "timestamp": T0})
    assert response.status_code == 200 and response.json() == {"success": True, "accepted": 1}
    row = _events(project)[f"m-{path}"]
    assert {key: row[key] for key in expected} == expected
    assert row["source"] == "web-shop"  # the write key's source
    assert row["timestamp"] == datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


def test_write_key_in_the_body_and_gzip_are_accepted(client, project, write_key):
    body = gzip.compress(orjson.dumps({"batch": [{"type": "track", "userId": "u", "event": "E", "messageId": "g1"}],
                                       "writeKey": write_key}))
    response = client.post("/v1/batch", content=body, headers={"Content-Encoding": "gzip", "Authorization": ""})
    assert response.status_code == 200
    assert "g1" in _events(project)


def test_pretty_printed_json_is_stored_whole(client, project):
    batch = [{"type": "track", "userId": "u", "event": "E", "messageId": f"p{n}",
              "properties": {"text": "line\nbreak"}} for n in range(2)]
    body = orjson.dumps({"batch": batch}, option=orjson.OPT_INDENT_2).replace(b"\n", b"\r\n")
    assert client.post("/v1/batch", content=body).json()["accepted"] == 2
    single = orjson.dumps({"userId": "u", "event": "E", "messageId": "p2"}, option=orjson.OPT_INDENT_2)
    assert client.post("/v1/track", content=single).status_code == 200
    rows = _events(project)
    assert sorted(rows) == ["p0", "p1", "p2"]
    assert orjson.loads(rows["p0"]["properties"]) == {"text": "line\nbreak"}


def test_import_is_a_batch(client, project):
    batch = [{"type": "track", "userId": "u", "event": "E", "messageId": f"i{n}", "timestamp": T0} for n in range(3)]
    assert client.post("/v1/import", json={"batch": batch}).json()["accepted"] == 3
    assert sorted(_events(project)) == ["i0", "i1", "i2"]


def test_duplicate_message_ids_are_stored_once(client, project):
    message = {"type": "track", "userId": "u", "event": "E", "messageId": "dup", "timestamp": T0}
    client.post("/v1/batch", json={"batch": [message, message]})
    assert len(_events(project)) == 1
    client.post("/v1/track", json=message)  # a retry after the first copy was loaded
    load_spool(project)
    assert Lake(project.lake_dir).read("events")["message_id"].to_pylist() == ["dup"]


def test_timestamp_is_corrected_for_client_clock_skew(client, project):
    # The client's clock runs 1 hour fast: it stamps and sends in its own time.
    now = datetime.now(timezone.utc)
    client_sent = now + timedelta(hours=1)
    client_event = client_sent - timedelta(minutes=5)
    batch = [{"type": "track", "userId": "u", "event": "E", "messageId": "skew", "timestamp": client_event.isoformat()}]
    client.post("/v1/batch", json={"batch": batch, "sentAt": client_sent.isoformat()})
    row = _events(project)["skew"]
    true_event_time = now - timedelta(minutes=5)
    assert abs(row["timestamp"] - true_event_time) < timedelta(seconds=30)
    assert row["sent_at"] == client_sent
    assert orjson.loads(row["context"])["originalTimestamp"] == client_event.isoformat()


def test_events_without_timestamp_happened_when_received(client, project):
    before = datetime.now(timezone.utc)
    client.post("/v1/track", json={"userId": "u", "event": "E", "messageId": "now"})
    row = _events(project)["now"]
    assert row["timestamp"] == row["received_at"] and row["received_at"] >= before.replace(microsecond=0)


def test_null_and_numeric_ids(client, project):
    client.post("/v1/track", json={"userId": 12345, "anonymousId": None, "event": "E", "messageId": "n"})
    row = _events(project)["n"]
    assert row["user_id"] == "12345" and row["anonymous_id"] is None


def test_order_completed_fills_order_lines(client, project):
    properties = {"order_id": "o-9", "total": 30.0, "currency": "GBP",
                  "products": [{"sku": "A", "quantity": 2, "price": 10.0}, {"sku": "B", "price": 10.0}]}
    client.post("/v1/track", json={"userId": "u", "event": "Order Completed", "messageId": "o", "properties": properties})
    row = _events(project)["o"]
    assert (row["order_id"], row["amount"], row["currency"]) == ("o-9", 30.0, "GBP")
    lines = Lake(project.lake_dir).read("order_lines").to_pylist()
    assert [(l["order_id"], l["line_no"], l["sku"], l["quantity"], l["amount"]) for l in lines] == [
        ("o-9", 1, "A", 2, 20.0), ("o-9", 2, "B", 1, 10.0)]


def test_a_message_without_message_id_gets_one(client, project):
    client.post("/v1/track", json={"userId": "u", "event": "E"})
    (message_id,) = _events(project)
    assert len(message_id) == 36


def test_openapi_documents_every_route(client):
    spec = client.get("/openapi.json").json()
    paths = {p for p, ops in spec["paths"].items() if "tracking" in ops.get("post", {}).get("tags", [])}
    assert paths == {f"/v1/{c}" for c in ("track", "identify", "page", "screen", "group", "alias", "batch", "import")}
    body = spec["paths"]["/v1/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"].split("/")[-1] in spec["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_an_embedded_app_can_load_in_a_thread(project, write_key):
    from fastapi.testclient import TestClient

    from tests.api.conftest import basic_auth

    with TestClient(create_app(project, loader_interval_s=0.05), headers=basic_auth(write_key)) as client:
        client.post("/v1/track", json={"userId": "u", "event": "E", "messageId": "threaded"})
        deadline = time.monotonic() + 30
        while not Lake(project.lake_dir).files("events") and time.monotonic() < deadline:
            time.sleep(0.05)
    assert Lake(project.lake_dir).read("events")["message_id"].to_pylist() == ["threaded"]
