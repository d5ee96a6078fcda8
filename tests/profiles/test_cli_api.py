"""The profile and journey commands and API routes on the hand-written scenario (DuckDB)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from footfall.api.app import create_app
from footfall.keys import create_api_key

from tests.conftest import run_cli


def test_profile_build_reports_what_it_built(duckdb_scenario, capsys):
    code, out, _ = run_cli(["profile", "build", "--project", str(duckdb_scenario.project.root), "--as-of", "2026-03-31"], capsys)
    assert code == 0
    assert "persons" in out and "homes from pings" in out and "Profiles (duckdb" in out


def test_profile_show_prints_traits_and_timeline(duckdb_scenario, capsys):
    root = str(duckdb_scenario.project.root)
    code, out, _ = run_cli(["profile", "show", "alice@gmail.com", "--project", root], capsys)
    assert code == 0
    assert duckdb_scenario.persons["u_alice"] in out and "Store Visited" in out and "nearest_store_id" in out
    code, out, _ = run_cli(["profile", "show", "u_alice", "--project", root, "--json", "--limit", "3"], capsys)
    shown = json.loads(out)
    assert code == 0 and shown["total_events"] == 19 and len(shown["events"]) == 3
    assert shown["traits"]["revenue_total"] == 40.0


def test_profile_show_unknown_identifier_exits_2(duckdb_scenario, capsys):
    code, _, err = run_cli(["profile", "show", "email:nobody@gmail.com", "--project", str(duckdb_scenario.project.root)], capsys)
    assert code == 2 and "no identifier" in err


def test_journey_commands(duckdb_scenario, capsys):
    root = str(duckdb_scenario.project.root)
    code, out, _ = run_cli(["journey", "funnel", "Product Viewed", "Store Visited", "Order Completed[channel=pos]",
                            "--within", "14d", "--project", root, "--json"], capsys)
    assert code == 0 and [s["persons"] for s in json.loads(out)] == [3, 1, 1]
    code, out, _ = run_cli(["journey", "paths", "--length", "2", "--top", "1", "--project", root, "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["path"] == "Product Viewed (web) → Store Visited"
    code, _, err = run_cli(["journey", "funnel", "Product Viewed", "Store Visited", "--within", "14 days", "--project", root], capsys)
    assert code == 2 and "12h, 14d, 2w" in err


@pytest.fixture(scope="module")
def client(duckdb_scenario):
    project = duckdb_scenario.project
    _, key = create_api_key(project, "profiles-reader", ["profiles:read"])
    _, other = create_api_key(project, "segments-reader", ["segments:read"])
    with TestClient(create_app(project)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {key}"
        yield test_client, other


def test_api_profile_and_timeline(client, duckdb_scenario):
    http, _ = client
    profile = http.get("/api/profiles/email:alice@gmail.com")
    assert profile.status_code == 200
    body = profile.json()
    assert body["person_id"] == duckdb_scenario.persons["u_alice"] and body["traits"]["nearest_store_id"] == "S1"
    timeline = http.get("/api/profiles/u_bob/timeline", params={"limit": 2})
    assert timeline.status_code == 200
    assert [e["event"] for e in timeline.json()["events"]] == ["Identify", "Product Viewed"]


def test_api_paths_and_funnel(client):
    http, _ = client
    paths = http.get("/api/journeys/paths", params={"length": 2, "top": 1})
    assert paths.status_code == 200 and paths.json()["paths"][0]["persons"] == 2
    steps = {"step": ["Product Viewed", "Store Visited"], "within": "30d"}
    found = http.get("/api/journeys/funnel", params=steps)
    assert found.status_code == 200 and [s["persons"] for s in found.json()["steps"]] == [3, 2]


def test_api_refuses_bad_input_and_missing_scope(client):
    http, segments_key = client
    bad = http.get("/api/journeys/funnel", params={"step": ["Product Viewed", "Order Completed[channel=]"]})
    assert bad.status_code == 422
    assert {k: bad.json()[k] for k in ("code", "field", "position")} == {"code": "invalid_definition", "field": "step[1]", "position": 24}
    unknown = http.get("/api/profiles/email:nobody@gmail.com")
    assert unknown.status_code == 404 and "no identifier" in unknown.json()["message"]
    short = http.get("/api/journeys/paths", params={"length": 1})
    assert short.status_code == 400 and short.json()["field"] == "length"
    wrong_scope = http.get("/api/journeys/paths", headers={"Authorization": f"Bearer {segments_key}"})
    assert wrong_scope.status_code == 403 and wrong_scope.json()["code"] == "missing_scope"
    assert http.get("/api/journeys/paths", headers={"Authorization": ""}).status_code == 401


def test_demo_world_loads_its_postcodes_and_profiles_place_people(tmp_path, capsys):
    root = str(tmp_path / "demo")
    assert run_cli(["demo", "--project", root, "--customers", "60", "--stores", "3", "--days", "14"], capsys)[0] == 0
    assert run_cli(["resolve", "--project", root, "--no-probabilistic"], capsys)[0] == 0
    code, out, _ = run_cli(["profile", "build", "--project", root], capsys)
    assert code == 0
    placed = int(next(line for line in out.splitlines() if "homes from postcode" in line).split("│")[2].strip().replace(",", ""))
    assert placed > 0
