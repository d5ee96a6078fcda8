"""Fixtures for profiles and journeys: a hand-written scenario whose every trait is known exactly,
resolved and profiled once per engine, and a small synthetic world (with its postcode directory and
detected store visits) for accuracy against ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from footfall.identity.store import IdentityStore
from footfall.ingest import Importer, import_files
from footfall.ingest.visits import detect_store_visits
from footfall.profiles import materialize_profiles
from footfall.project import Project, init_project, open_project
from footfall.synth import WorldManifest, generate, world_files
from footfall.warehouse import open_warehouse

from tests.conftest import ENGINES
from tests.identity.conftest import event, identify, load, resolve

AS_OF = datetime(2026, 3, 31, tzinfo=timezone.utc)
STORES_CSV = "store_id,name,lat,lon\nS1,Leeds Briggate,53.7974,-1.5437\nS2,York Coppergate,53.9576,-1.0803\n"
POSTCODES_CSV = 'postcode,lat,lon\nLS1 4AP,53.7960,-1.5470\nLS2,53.8030,-1.5500\n'
HOME = (53.8200, -1.5800)
SMALL_WORLD = {"customers": 150, "stores": 6, "days": 30, "seed": 11}


def _ping(mid: str, ts: str, lat: float, lon: float, user: str) -> dict:
    return event(mid, ts, event="Location Updated", channel="app", user_id=user,
                 properties={"latitude": lat, "longitude": lon, "accuracy": 10})


def scenario_events() -> tuple[list[dict], list[dict]]:
    """(events, receipts) of Alice (omnichannel, pings), Bob (online, postcode), Carol (district
    postcode only), Dave (unknown postcode) and Erin (viewed, visited a store 19 days later)."""
    events = [
        identify("a01", "2026-03-01T10:00:00Z", user_id="u_alice", email="alice@gmail.com"),
        event("a02", "2026-03-01T10:05:00Z", user_id="u_alice", properties={"sku": "A"}),
        event("a03", "2026-03-01T10:06:00Z", user_id="u_alice", properties={"sku": "A"}),
        event("a04", "2026-03-02T12:00:00Z", event="Store Visited", channel="store", user_id="u_alice",
              store_id="S1", properties={"left_at": "2026-03-02T12:30:00Z"}),
        event("a06", "2026-03-05T09:00:00Z", channel="app", user_id="u_alice", properties={"sku": "B"}),
        event("a07", "2026-03-05T09:10:00Z", event="Order Completed", user_id="u_alice",
              properties={"order_id": "W1", "total": 30.0, "fulfilment": "click_collect", "coupon": "SPRING"}),
        event("a08", "2026-03-06T15:00:00Z", event="Pickup Completed", channel="store", user_id="u_alice",
              store_id="S1", properties={"order_id": "W1", "fulfilment": "click_collect"}),
        event("a09", "2026-03-07T08:00:00Z", event="Event Invitation Sent", channel="email", user_id="u_alice"),
        event("a10", "2026-03-08T19:00:00Z", event="Event RSVP Received", channel="web", user_id="u_alice"),
        event("a11", "2026-03-10T18:00:00Z", event="Event Checked In", channel="event", user_id="u_alice", store_id="S2"),
        _ping("p1", "2026-03-01T21:00:00Z", *HOME, "u_alice"),
        _ping("p2", "2026-03-03T22:00:00Z", *HOME, "u_alice"),
        _ping("p3", "2026-03-04T23:00:00Z", *HOME, "u_alice"),
        _ping("p4", "2026-03-04T13:00:00Z", 53.8500, -1.5000, "u_alice"),  # an errand
        *(_ping(f"p{5 + i}", f"2026-03-02T12:0{i}:00Z", 53.7974, -1.5437, "u_alice") for i in range(4)),  # in S1
        identify("b01", "2026-03-01T09:00:00Z", user_id="u_bob", address={"postal_code": "ls1 4ap"}),
        event("b02", "2026-03-03T20:00:00Z", user_id="u_bob"),
        event("b03", "2026-03-04T20:00:00Z", event="Order Completed", user_id="u_bob",
              properties={"order_id": "W2", "total": 20.0}),
        identify("c01", "2026-03-02T09:00:00Z", user_id="u_carol", address={"postal_code": "LS2 9ZZ"}),
        identify("d01", "2026-03-02T09:00:00Z", user_id="u_dave", address={"postal_code": "ZZ9 9ZZ"}),
        event("e01", "2026-03-01T08:00:00Z", user_id="u_erin"),
        event("e02", "2026-03-20T11:00:00Z", event="Store Visited", channel="store", user_id="u_erin",
              store_id="S2", properties={"left_at": "2026-03-20T11:20:00Z"}),
    ]
    receipts = [{"receipt_id": "R1", "timestamp": "2026-03-02T12:20:00Z", "email": "alice@gmail.com", "total": 10}]
    return events, receipts


@dataclass
class Scenario:
    project: Project
    engine: str
    persons: dict[str, str]  # user id → person id

    def warehouse(self):
        return open_warehouse(self.project, engine=self.engine)


def build_scenario(directory: Path, engine: str) -> Scenario:
    project = init_project(directory / "project", timezone="Europe/London")
    settings_file = project.root / "footfall.toml"
    settings_file.write_text(settings_file.read_text().replace('master = "local[*]"', 'master = "local[2]"')
                             .replace("shuffle_partitions = 8", "shuffle_partitions = 2"))
    project = open_project(project.root)
    (directory / "stores.csv").write_text(STORES_CSV)
    import_files(project, "stores", [directory / "stores.csv"])
    (directory / "postcodes.csv").write_text(POSTCODES_CSV)
    import_files(project, "postcodes", [directory / "postcodes.csv"])
    events, receipts = scenario_events()
    load(project, directory, events, receipts)
    _, id_map = resolve(project, engine=engine)
    with open_warehouse(project, engine=engine) as warehouse:
        materialize_profiles(warehouse, AS_OF)
    persons = {key.split(":", 1)[1]: person for key, person in id_map.items() if key.startswith("user_id:")}
    return Scenario(project, engine, persons)


@pytest.fixture(scope="module", params=ENGINES)
def scenario(request, tmp_path_factory) -> Scenario:
    """The hand-written scenario resolved and profiled on each engine (once per module)."""
    return build_scenario(tmp_path_factory.mktemp(f"scenario-{request.param}"), request.param)


@pytest.fixture(scope="module")
def duckdb_scenario(tmp_path_factory) -> Scenario:
    return build_scenario(tmp_path_factory.mktemp("scenario"), "duckdb")


def import_world(project: Project, manifest: WorldManifest) -> None:
    world = Path(manifest.out_dir)
    with Importer(project, source="synth") as importer:
        for kind, paths in world_files(world):
            for path in paths:
                importer.import_file(kind, path)


@pytest.fixture(scope="session")
def profiled_world(tmp_path_factory) -> tuple[Path, WorldManifest]:
    """(project template, manifest): a small world imported, visits detected and resolved on DuckDB."""
    base = tmp_path_factory.mktemp("profiled-world")
    manifest = generate(base / "world", **SMALL_WORLD)
    project = init_project(base / "project", timezone="Europe/London")
    settings_file = project.root / "footfall.toml"
    settings_file.write_text(settings_file.read_text().replace('master = "local[*]"', 'master = "local[2]"')
                             .replace("shuffle_partitions = 8", "shuffle_partitions = 2"))
    project = open_project(project.root)
    import_world(project, manifest)
    with open_warehouse(project) as warehouse:
        detect_store_visits(warehouse)
    with IdentityStore(project) as store:
        store.id_salt()
    return project.root, manifest
