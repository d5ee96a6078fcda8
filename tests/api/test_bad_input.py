"""Every kind of bad tracking request gets a JSON error naming what is wrong, and stores nothing bad."""

from __future__ import annotations

import gzip

import orjson
import pytest

from fastapi.testclient import TestClient

from footfall.api import create_app
from footfall.ingest.loader import load_spool
from footfall.keys import create_write_key, revoke_write_key
from footfall.lake import Lake
from tests.api.conftest import basic_auth

GOOD = {"userId": "u1", "event": "Product Viewed", "timestamp": "2026-03-01T10:00:00Z"}


def _error(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["message"]  # both SDKs read `code` and `message`
    if field is not None:
        assert body["field"] == field
    return body


@pytest.mark.parametrize(
    ("path", "message", "code", "field"),
    [
        ("track", {"event": "X"}, "missing_field", "userId"),
        ("track", {"userId": None, "anonymousId": None, "event": "X"}, "missing_field", "userId"),
        ("track", {"userId": "", "event": "X"}, "missing_field", "userId"),
        ("track", {"userId": "u1"}, "missing_field", "event"),
        ("track", {"userId": "u1", "event": ""}, "missing_field", "event"),
        ("track", {"userId": "u1", "event": 42}, "wrong_type", "event"),
        ("track", {"userId": {"id": 1}, "event": "X"}, "wrong_type", "userId"),
        ("track", {"anonymousId": ["a"], "event": "X"}, "wrong_type", "anonymousId"),
        ("track", {"userId": "u1", "event": "X", "properties": [1, 2]}, "wrong_type", "properties"),
        ("track", {"userId": "u1", "event": "X", "context": "web"}, "wrong_type", "context"),
        ("track", {"userId": "u1", "event": "X", "messageId": {"a": 1}}, "wrong_type", "messageId"),
        ("track", {"userId": "u1", "event": "X", "timestamp": "yesterday"}, "invalid_timestamp", "timestamp"),
        ("track", {"userId": "u1", "event": "X", "timestamp": 1767225600}, "invalid_timestamp", "timestamp"),
        ("track", {"userId": "u1", "event": "X", "sentAt": "2026-13-45T99:00:00Z"}, "invalid_timestamp", "sentAt"),
        ("track", {"type": "identify", "userId": "u1", "event": "X"}, "invalid_field", "type"),
        ("identify", {"userId": "u1", "traits": "vip"}, "wrong_type", "traits"),
        ("page", {"userId": "u1", "name": 3}, "wrong_type", "name"),
        ("group", {"userId": "u1"}, "missing_field", "groupId"),
        ("alias", {"userId": "u1"}, "missing_field", "previousId"),
    ],
)
def test_invalid_message_is_refused_with_the_field_named(client, path, message, code, field):
    _error(client.post(f"/v1/{path}", json=message), 400, code, field)


def test_malformed_json_is_refused(client):
    _error(client.post("/v1/track", content=b'{"userId": "u1", "event": '), 400, "malformed_json")
    _error(client.post("/v1/batch", content=b"not json at all"), 400, "malformed_json")


def test_body_that_is_not_an_object_is_refused(client):
    _error(client.post("/v1/track", json=["userId", "u1"]), 400, "wrong_type")


def test_batch_without_a_batch_array_is_refused(client):
    _error(client.post("/v1/batch", json={"sentAt": "2026-03-01T10:00:00Z"}), 400, "missing_field", "batch")
    _error(client.post("/v1/batch", json={"batch": {"0": GOOD}}), 400, "wrong_type", "batch")


def test_batch_with_unparseable_sent_at_is_refused(client):
    body = {"batch": [{**GOOD, "type": "track"}], "sentAt": "soon"}
    _error(client.post("/v1/batch", json=body), 400, "invalid_timestamp", "sentAt")


def test_bad_events_in_a_batch_are_rejected_by_index_and_the_good_ones_stored(client, project):
    batch = [
        {**GOOD, "type": "track", "messageId": "ok-0"},
        {"type": "track", "event": "X", "messageId": "bad-1"},  # no user
        {**GOOD, "type": "jump", "messageId": "bad-2"},  # unknown type
        "not an object",
        {**GOOD, "type": "track", "messageId": "ok-4"},
        {**GOOD, "messageId": "bad-5"},  # no type: a batch item must say what it is
    ]
    response = client.post("/v1/batch", json={"batch": batch})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["code"], r.get("field")) for r in body["rejected"]] == [
        (1, "missing_field", "userId"),
        (2, "invalid_field", "type"),
        (3, "wrong_type", None),
        (5, "missing_field", "type"),
    ]
    load_spool(project)
    assert sorted(Lake(project.lake_dir).read("events")["message_id"].to_pylist()) == ["ok-0", "ok-4"]


def test_batch_where_every_event_is_bad_is_refused_with_every_reason(client):
    batch = [{"type": "track", "userId": "u1"}, {"type": "alias", "userId": "u1"}]
    body = _error(client.post("/v1/batch", json={"batch": batch}), 400, "batch_rejected", "batch")
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(0, "event"), (1, "previousId")]


def test_event_over_32_kb_is_refused_alone_and_rejected_inside_a_batch(client):
    big = {**GOOD, "properties": {"blob": "x" * 33_000}}
    body = _error(client.post("/v1/track", json=big), 413, "event_too_large")
    assert body["limit"] == "32 KB per event" and body["limit_bytes"] == 32 * 1024
    response = client.post("/v1/batch", json={"batch": [{**big, "type": "track"}, {**GOOD, "type": "track"}]})
    assert response.status_code == 200
    assert [(r["index"], r["code"]) for r in response.json()["rejected"]] == [(0, "event_too_large")]


def test_request_over_500_kb_is_refused_naming_the_limit(client):
    batch = [{**GOOD, "type": "track", "properties": {"blob": "x" * 20_000}} for _ in range(30)]
    body = _error(client.post("/v1/batch", json={"batch": batch}), 413, "request_too_large")
    assert body["limit"] == "500 KB per batch request"


def test_gzip_body_that_inflates_past_500_kb_is_refused(client):
    bomb = gzip.compress(b'{"batch": [' + b" " * 5_000_000 + b"]}")
    assert len(bomb) < 100_000
    response = client.post("/v1/batch", content=bomb, headers={"Content-Encoding": "gzip"})
    _error(response, 413, "request_too_large")


def test_corrupt_gzip_and_unknown_encodings_are_refused(client):
    response = client.post("/v1/track", content=b"not gzip", headers={"Content-Encoding": "gzip"})
    _error(response, 400, "malformed_body", "Content-Encoding")
    response = client.post("/v1/track", content=orjson.dumps(GOOD), headers={"Content-Encoding": "br"})
    _error(response, 400, "unsupported_encoding", "Content-Encoding")


def test_missing_unknown_and_revoked_write_keys_get_401(project, write_key):
    # Write key checks are remembered for seconds by default; this app remembers them for none.
    with TestClient(create_app(project, loader_interval_s=None, key_cache_s=0), headers=basic_auth(write_key)) as client:
        _check_keys(client, project)


def _check_keys(client, project):
    _error(client.post("/v1/track", json=GOOD, headers={"Authorization": ""}), 401, "invalid_write_key")
    _error(client.post("/v1/track", json=GOOD, headers=basic_auth("ffw_made-up")), 401, "invalid_write_key")
    _error(client.post("/v1/track", json={**GOOD, "writeKey": "ffw_made-up"}, headers={"Authorization": ""}),
           401, "invalid_write_key", "writeKey")
    record, key = create_write_key(project, "pos")
    assert client.post("/v1/track", json=GOOD, headers=basic_auth(key)).status_code == 200
    revoke_write_key(project, record.key_id)
    _error(client.post("/v1/track", json=GOOD, headers=basic_auth(key)), 401, "invalid_write_key")


def test_malformed_basic_auth_header_gets_401(client):
    _error(client.post("/v1/track", json=GOOD, headers={"Authorization": "Basic %%%"}), 401, "invalid_write_key",
           "Authorization")


def test_a_bad_key_is_refused_before_the_body_is_read(client):
    _error(client.post("/v1/track", content=b"{broken", headers=basic_auth("ffw_made-up")), 401, "invalid_write_key")


def test_unknown_routes_answer_json_with_code_and_message(client):
    _error(client.post("/v1/unknown", json=GOOD), 404, "not_found")
    _error(client.get("/v1/track"), 405, "method_not_allowed")


def test_nothing_bad_reaches_the_lake(client, project):
    client.post("/v1/track", json={"event": "no user"})
    client.post("/v1/track", content=b"{")
    client.post("/v1/batch", json={"batch": [{"type": "track", "userId": "u"}]})
    result = load_spool(project)
    assert result.events_read == 0 and result.quarantined == 0
    assert Lake(project.lake_dir).read("events").num_rows == 0
