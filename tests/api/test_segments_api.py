"""`/api/segments`: define (422 with the text position), list, show, count, members (JSON pages, CSV,
Parquet), evaluate and history, changes since T; scopes enforced; 503 while another process holds DuckDB."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from footfall.api import create_app
from footfall.keys import create_api_key
from tests.identity.conftest import event, load, resolve

VIEWS = [("u1", 1), ("u2", 5), ("u3", 12), ("u1", 13)]


@pytest.fixture
def people(project, tmp_path) -> dict[str, str]:
    """A resolved project: u1 browses on the 1st and 13th of January, u2 on the 5th, u3 on the 12th."""
    events = [event(f"v{i}", f"2026-01-{day:02d}T10:00:00Z", user_id=user) for i, (user, day) in enumerate(VIEWS)]
    load(project, tmp_path, events)
    _, id_map = resolve(project)
    return {user: id_map[f"user_id:{user}"] for user in ("u1", "u2", "u3")}


@pytest.fixture
def api(project, people):
    """The real app with a key that may read and write segments."""
    _, key = create_api_key(project, "marketing", ["segments:read", "segments:write"])
    with TestClient(create_app(project, loader_interval_s=None), headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def _browsers(api) -> None:
    response = api.post("/api/segments", json={"name": "browsers", "text": 'did  "Product Viewed"  in 7d'})
    assert response.status_code == 201, response.text


def test_create_answers_the_canonical_definition(api):
    response = api.post("/api/segments", json={"name": "browsers", "text": 'did  "Product Viewed"  in 7d',
                                               "description": "recent browsers"})
    assert response.status_code == 201
    body = response.json()
    assert body["text"] == 'did "Product Viewed" in 7d' and body["builtin"] is False
    assert body["rule"]["kind"] == "did" and body["rule"]["event"] == "Product Viewed"
    assert api.post("/api/segments", json={"name": "browsers", "text": 'did "Signed Up"'}).status_code == 409
    replaced = api.post("/api/segments", json={"name": "browsers", "text": 'did "Signed Up"', "replace": True})
    assert replaced.status_code == 201 and replaced.json()["text"] == 'did "Signed Up"'


def test_a_syntax_error_is_422_with_the_position(api):
    text = 'did "Product Viewed" >= in 7d'
    response = api.post("/api/segments", json={"name": "broken", "text": text})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_definition" and body["field"] == "text"
    assert body["position"] == text.index("in 7d")
    assert "number" in body["expected"] and body["message"].startswith("expected")


def test_other_invalid_definitions_are_refused_naming_the_field(api):
    unknown = api.post("/api/segments", json={"name": "vip", "text": 'in segment "whales"'})
    assert unknown.status_code == 422 and unknown.json()["field"] == "text" and "whales" in unknown.json()["message"]
    bad_name = api.post("/api/segments", json={"name": "Big Spenders", "text": 'did "Signed Up"'})
    assert bad_name.status_code == 422 and bad_name.json()["field"] == "name"
    builtin = api.post("/api/segments", json={"name": "ropo", "text": 'did "Signed Up"'})
    assert builtin.status_code == 403
    missing = api.post("/api/segments", json={"name": "x"})
    assert missing.status_code == 400 and missing.json()["field"] == "text"


def test_list_and_show(api):
    _browsers(api)
    listing = api.get("/api/segments").json()["segments"]
    names = [s["name"] for s in listing]
    assert "ropo" in names and "browsers" in names
    assert next(s for s in listing if s["name"] == "ropo")["builtin"] is True
    shown = api.get("/api/segments/browsers").json()
    assert shown["text"] == 'did "Product Viewed" in 7d' and shown["last_evaluation"] is None
    missing = api.get("/api/segments/nobody")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_count_and_members_pages_csv_and_parquet(api, people):
    _browsers(api)
    as_of = "2026-01-13T12:00:00Z"
    assert api.get("/api/segments/browsers/count", params={"as_of": as_of}).json()["count"] == 2
    expected = sorted([people["u1"], people["u3"]])
    first = api.get("/api/segments/browsers/members", params={"as_of": as_of, "limit": 1}).json()
    second = api.get("/api/segments/browsers/members", params={"as_of": as_of, "limit": 1, "offset": 1}).json()
    assert first["total"] == 2 and first["members"] + second["members"] == expected
    as_csv = api.get("/api/segments/browsers/members", params={"as_of": as_of, "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    assert [row["person_id"] for row in csv.DictReader(io.StringIO(as_csv.text))] == expected
    as_parquet = api.get("/api/segments/browsers/members", params={"as_of": as_of, "format": "parquet"})
    assert pq.read_table(io.BytesIO(as_parquet.content))["person_id"].to_pylist() == expected


def test_evaluate_history_and_changes_since(api, people):
    _browsers(api)
    for day, expected in (("06", (2, 2, 0)), ("10", (1, 0, 1)), ("13", (2, 2, 1))):
        response = api.post("/api/segments/browsers/evaluate", json={"as_of": f"2026-01-{day}T12:00:00Z"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["size"], body["entered"], body["exited"]) == expected
    history = api.get("/api/segments/browsers/history").json()["evaluations"]
    assert [(e["size"], e["entered"], e["exited"]) for e in history] == [(2, 2, 0), (1, 0, 1), (2, 2, 1)]
    entered = api.get("/api/segments/browsers/changes", params={"since": "2026-01-07T00:00:00Z"}).json()["changes"]
    assert sorted(c["person_id"] for c in entered) == sorted([people["u1"], people["u3"]])
    exited = api.get("/api/segments/browsers/changes",
                     params={"since": "2026-01-01T00:00:00Z", "change": "exited"}).json()["changes"]
    assert sorted(c["person_id"] for c in exited) == sorted([people["u1"], people["u2"]])
    assert api.get("/api/segments/browsers").json()["last_evaluation"]["size"] == 2
    backwards = api.post("/api/segments/browsers/evaluate", json={"as_of": "2026-01-02T00:00:00Z"})
    assert backwards.status_code == 400 and "forward in time" in backwards.json()["message"]


def test_scopes_are_enforced(project, api):
    _, reader = create_api_key(project, "dashboard", ["segments:read"])
    _, profiles = create_api_key(project, "crm", ["profiles:read"])
    read_only = {"Authorization": f"Bearer {reader}"}
    assert api.get("/api/segments", headers=read_only).status_code == 200
    refused = api.post("/api/segments", json={"name": "x", "text": 'did "Signed Up"'}, headers=read_only)
    assert refused.status_code == 403 and refused.json()["scope"] == "segments:write"
    assert api.post("/api/segments/ropo/evaluate", headers=read_only).status_code == 403
    assert api.get("/api/segments", headers={"Authorization": f"Bearer {profiles}"}).status_code == 403
    assert api.get("/api/segments", headers={"Authorization": ""}).status_code == 401


def test_busy_warehouse_is_a_503_with_retry_after(project, api):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True);"
         " time.sleep(60)", str(project.warehouse_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        response = api.get("/api/segments")
        assert response.status_code == 503 and response.json()["code"] == "busy"
        assert response.headers["retry-after"] == "5"
    finally:
        holder.kill()
        holder.wait()
    assert api.get("/api/segments").status_code == 200


def test_openapi_lists_the_routes_with_the_bearer_scheme(api):
    schema = api.get("/openapi.json").json()
    assert {"/api/segments", "/api/segments/{name}", "/api/segments/{name}/members",
            "/api/segments/{name}/history", "/api/segments/{name}/evaluate"} <= set(schema["paths"])
    assert schema["paths"]["/api/segments"]["post"]["security"] == [{"ApiKey": []}]
