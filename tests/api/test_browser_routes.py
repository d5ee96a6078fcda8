"""The browser SDK routes: each SDK's wire shape is stored once through the one collection path; CORS."""

from __future__ import annotations

import sqlite3

import orjson
import pytest
from fastapi.testclient import TestClient

from footfall.api import create_app
from footfall.ingest.loader import load_spool
from footfall.keys import create_write_key, list_write_keys
from footfall.lake import Lake
from footfall.opstore import create_operational_store

from .conftest import basic_auth

SHOP = "https://shop.example"
PAGE_CONTEXT = {
    "page": {"url": "https://shop.example/shoes?utm_campaign=spring", "path": "/shoes", "title": "Shoes — Spring",
             "referrer": "https://search.example/"},
    "campaign": {"name": "spring", "source": "newsletter", "medium": "email"},
}


def _events(project) -> list[dict]:
    load_spool(project)
    return Lake(project.lake_dir).read("events").to_pylist() if (project.lake_dir / "events").exists() else []


@pytest.fixture
def browser(project, write_key):
    """The real app, unauthenticated: each test sends the key the way its SDK does."""
    with TestClient(create_app(project, loader_interval_s=None), headers={"Origin": SHOP}) as test_client:
        yield test_client


def test_segment_single_letter_paths_store_text_plain_json_once(browser, project, write_key):
    body = {"type": "track", "event": "Product Viewed", "anonymousId": "anon-1", "messageId": "ajs-1",
            "properties": {"sku": "SKU-1", "size": {"eu": 42}}, "writeKey": write_key,
            "context": {**PAGE_CONTEXT, "library": {"name": "analytics.js", "version": "npm:next-1.84.3"}},
            "timestamp": "2026-03-01T10:00:00.000Z", "sentAt": "2026-03-01T10:00:00.100Z"}
    for _ in range(2):  # a retry after a lost answer: same messageId
        answer = browser.post("/v1/t", content=orjson.dumps(body), headers={"Content-Type": "text/plain", **basic_auth(write_key)})
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == SHOP
    [row] = _events(project)
    assert (row["type"], row["event"], row["anonymous_id"], row["channel"]) == ("track", "Product Viewed", "anon-1", "web")
    assert (row["page_url"], row["page_path"], row["page_title"], row["page_referrer"]) == (
        "https://shop.example/shoes?utm_campaign=spring", "/shoes", "Shoes — Spring", "https://search.example/")
    assert (row["utm_campaign"], row["utm_source"], row["utm_medium"]) == ("spring", "newsletter", "email")
    assert orjson.loads(row["properties"])["size"] == {"eu": 42}


@pytest.mark.parametrize(("letter", "extra", "kind"), [
    ("i", {"userId": "u1", "traits": {"email": "ann@example.com"}}, "identify"),
    ("p", {"name": "Shoes", "properties": {"url": "https://shop.example/shoes"}}, "page"),
    ("g", {"groupId": "acme"}, "group"),
    ("a", {"userId": "u1", "previousId": "anon-1"}, "alias"),
])
def test_segment_letters_map_to_call_types(browser, project, write_key, letter, extra, kind):
    body = {"anonymousId": "anon-1", "writeKey": write_key, **extra}
    assert browser.post(f"/v1/{letter}", content=orjson.dumps(body), headers={"Content-Type": "text/plain"}).status_code == 200
    [row] = _events(project)
    assert row["type"] == kind


def test_segment_batch_and_metrics(browser, project, write_key):
    batch = {"batch": [{"type": "track", "event": "A", "anonymousId": "x"}, {"type": "page", "anonymousId": "x"}],
             "writeKey": write_key, "sentAt": "2026-03-01T10:00:00Z"}
    assert browser.post("/v1/b", content=orjson.dumps(batch), headers={"Content-Type": "text/plain"}).json()["accepted"] == 2
    assert browser.post("/v1/m", content=b'{"series":[]}', headers={"Content-Type": "text/plain"}).status_code == 200
    assert sorted(row["type"] for row in _events(project)) == ["page", "track"]


def test_segment_settings_point_at_public_url_with_metrics_off(project, write_key):
    with TestClient(create_app(project, public_url="https://collect.shop.example")) as client:
        settings = client.get(f"/v1/projects/{write_key}/settings", headers={"Origin": SHOP})
    assert settings.status_code == 200
    assert settings.headers["access-control-allow-origin"] == SHOP
    segment_io = settings.json()["integrations"]["Segment.io"]
    assert (segment_io["apiHost"], segment_io["protocol"]) == ("collect.shop.example/v1", "https")
    assert settings.json()["metrics"]["sampleRate"] == 0


def test_segment_settings_refuse_unknown_key(browser):
    answer = browser.get("/v1/projects/ffw_nope/settings")
    assert answer.status_code == 401 and answer.json()["code"] == "invalid_write_key"


def test_rudder_shapes_take_original_timestamp_and_context_traits(browser, project, write_key):
    body = {"type": "identify", "userId": "u7", "anonymousId": "anon-7", "channel": "web", "messageId": "rs-1",
            "originalTimestamp": "2026-03-01T10:00:00.000Z", "sentAt": "2026-03-01T10:00:05.000Z",
            "context": {"traits": {"email": "zoë@example.com"}, "library": {"name": "RudderLabs JavaScript SDK"},
                        **PAGE_CONTEXT}}
    answer = browser.post("/v1/identify", json=body, headers={**basic_auth(write_key), "AnonymousId": "YW5vbi03"})
    assert answer.status_code == 200, answer.text
    [row] = _events(project)
    assert (row["email"], row["user_id"], row["channel"], row["utm_campaign"]) == ("zoë@example.com", "u7", "web", "spring")
    # originalTimestamp is the event time, corrected for the browser's clock by sentAt (5 s later)
    assert (row["received_at"] - row["timestamp"]).total_seconds() == pytest.approx(5, abs=0.01)
    assert orjson.loads(row["context"])["originalTimestamp"] == "2026-03-01T10:00:00.000Z"


def test_rudder_source_config_and_beacon(browser, project, write_key):
    config = browser.get("/sourceConfig/", params={"p": "npm", "v": "3.34.1", "writeKey": write_key},
                         headers=basic_auth(write_key))
    assert config.status_code == 200 and config.json()["source"]["enabled"] is True
    assert config.json()["source"]["destinations"] == []
    beacon = {"batch": [{"type": "track", "event": "Left", "anonymousId": "a", "messageId": "b-1"}],
              "sentAt": "2026-03-01T10:00:00Z"}
    answer = browser.post(f"/beacon/v1/batch?writeKey={write_key}", content=orjson.dumps(beacon),
                          headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200, answer.text
    assert [row["message_id"] for row in _events(project)] == ["b-1"]


@pytest.mark.parametrize("path", ["/api/s/track", "/api/s/s2s/track"])
def test_jitsu_key_in_header_masked_body_key_ignored(browser, project, write_key, path):
    body = {"type": "track", "event": "Reserve In Store", "anonymousId": "j-1", "messageId": "j-msg",
            "writeKey": "wk_id:***", "properties": {"store": {"id": "S1"}},
            "context": {"library": {"name": "@jitsu/js", "version": "1.11.0"}, **PAGE_CONTEXT}}
    answer = browser.post(path, json=body, headers={"X-Write-Key": write_key})
    assert answer.status_code == 200, answer.text
    assert "destinations" not in answer.json()
    [row] = _events(project)
    assert (row["event"], row["channel"], row["page_path"]) == ("Reserve In Store", "web", "/shoes")
    assert "writeKey" not in (row["context"] or "") + (row["properties"] or "")


def test_jitsu_unknown_type_is_a_json_400(browser, write_key):
    answer = browser.post("/api/s/purchase", json={"anonymousId": "a"}, headers={"X-Write-Key": write_key})
    assert answer.status_code == 400 and answer.json()["field"] == "type"


@pytest.mark.parametrize("path", ["/v1/t", "/v1/track", "/v1/batch", "/beacon/v1/batch", "/api/s/track",
                                  "/sourceConfig/", "/v1/projects/k/settings"])
def test_preflight_echoes_origin_and_requested_headers(browser, path):
    answer = browser.options(path, headers={"Access-Control-Request-Method": "POST",
                                            "Access-Control-Request-Headers": "authorization,rsa-retry-attempt"})
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == SHOP
    assert answer.headers["access-control-allow-headers"] == "authorization,rsa-retry-attempt"
    assert "POST" in answer.headers["access-control-allow-methods"]


def test_disallowed_origin_gets_json_403_naming_it(project):
    key = create_write_key(project, "web", ["https://shop.example"])[1]
    with TestClient(create_app(project)) as client:
        allowed = client.post("/v1/t", json={"event": "A", "anonymousId": "a", "writeKey": key},
                              headers={"Origin": "https://shop.example"})
        refused = client.post("/v1/t", json={"event": "A", "anonymousId": "a", "writeKey": key},
                              headers={"Origin": "https://evil.example"})
        settings = client.get(f"/v1/projects/{key}/settings", headers={"Origin": "https://evil.example"})
        server_side = client.post("/v1/track", json={"event": "A", "anonymousId": "a"}, headers=basic_auth(key))
    assert allowed.status_code == 200
    assert refused.status_code == 403 and settings.status_code == 403
    assert refused.json()["code"] == "origin_not_allowed" and refused.json()["origin"] == "https://evil.example"
    assert refused.headers["access-control-allow-origin"] == "https://evil.example"  # so the page can read why
    assert server_side.status_code == 200  # no Origin: a server SDK, not a browser


def test_allowed_origins_are_checked_and_stored(project):
    from footfall.errors import FootfallError

    record, _ = create_write_key(project, "web", ["HTTPS://Shop.Example/", "http://localhost:8080"])
    assert record.allowed_origins == ("https://shop.example", "http://localhost:8080")
    assert list_write_keys(project)[0].allowed_origins == record.allowed_origins
    with pytest.raises(FootfallError, match="not a web origin"):
        create_write_key(project, "web", ["shop.example/path"])


def test_older_operational_store_gains_the_allowed_origins_column(project):
    create_operational_store(project)
    database = project.operational_url.removeprefix("sqlite:///")
    with sqlite3.connect(database) as connection:
        connection.execute("ALTER TABLE write_keys DROP COLUMN allowed_origins")
        connection.execute("ALTER TABLE write_keys DROP COLUMN kind")
        connection.execute("ALTER TABLE write_keys DROP COLUMN scopes")
        connection.execute("INSERT INTO write_keys VALUES ('wk_old', 'pos', 'h', 'ffw_abc', '2026-01-01 00:00:00', NULL)")
    record, _ = create_write_key(project, "web", ["https://shop.example"])
    assert [key.allowed_origins for key in list_write_keys(project)] == [(), ("https://shop.example",)]


def test_keys_create_allow_origin_from_the_cli(project, capsys):
    from tests.conftest import run_cli

    code, out, err = run_cli(["keys", "create", "--source", "web", "--allow-origin", "https://shop.example",
                              "--allow-origin", "https://www.shop.example", "--project", str(project.root)], capsys)
    assert code == 0, err
    assert "https://www.shop.example" in out
    assert list_write_keys(project)[0].allowed_origins == ("https://shop.example", "https://www.shop.example")


def test_openapi_documents_the_browser_routes(browser):
    paths = browser.get("/openapi.json").json()["paths"]
    assert {"/v1/t", "/v1/b", "/v1/projects/{write_key}/settings", "/sourceConfig/", "/beacon/v1/batch",
            "/api/s/{event_type}"} <= set(paths)
