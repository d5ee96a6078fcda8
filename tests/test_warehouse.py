"""The warehouse gives the same tables and answers on DuckDB and on PySpark."""

from __future__ import annotations

import json

import pytest

from footfall.errors import FootfallError
from footfall.ingest import import_files
from footfall.project import init_project
from footfall.status import project_status
from footfall.warehouse import UnknownTableError, open_warehouse

EVENTS = [
    {"message_id": "m1", "type": "track", "event": "Product Viewed", "anonymous_id": "a1",
     "timestamp": "2026-01-02T10:00:00Z", "channel": "web", "properties": {"sku": "A"}},
    {"message_id": "m2", "type": "track", "event": "Order Completed", "user_id": "u1",
     "timestamp": "2026-01-02T11:00:00Z", "channel": "app",
     "properties": {"order_id": "o1", "total": 20, "fulfilment": "click_collect"}},
    {"message_id": "m3", "type": "track", "event": "Pickup Completed", "user_id": "u1", "store_id": "S1",
     "timestamp": "2026-01-03T16:00:00Z", "channel": "store",
     "properties": {"order_id": "o1", "fulfilment": "click_collect"}},
    {"message_id": "m4", "type": "track", "event": "Store Visited", "anonymous_id": "a1", "store_id": "S1",
     "timestamp": "2026-01-04T10:00:00.250Z", "channel": "store", "properties": {"left_at": "2026-01-04T10:25:00.750Z"}},
    {"message_id": "m5", "type": "track", "event": "Event Checked In", "user_id": "u1", "store_id": "S1",
     "timestamp": "2026-01-05T18:00:00Z", "channel": "event", "properties": {"experience_id": "tasting-1"}},
]


@pytest.fixture
def loaded(project, tmp_path):
    (tmp_path / "stores.csv").write_text("store_id,name,lat,lon\nS1,Oxford Street,51.5154,-0.1410\n")
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    (tmp_path / "receipts.csv").write_text(
        "receipt_id,store_id,timestamp,total,sku,quantity,unit_price\nR1,S1,2026-01-04T10:20:00Z,15,A,1,15\n"
    )
    import_files(project, "stores", [tmp_path / "stores.csv"])
    import_files(project, "events", [tmp_path / "events.jsonl"])
    import_files(project, "receipts", [tmp_path / "receipts.csv"])
    return project


def test_derived_tables_hold_the_right_rows(loaded, engine):
    with open_warehouse(loaded, engine=engine) as warehouse:
        orders = warehouse.to_arrow(warehouse.table("orders").order_by("order_id")).to_pylist()
        visits = warehouse.to_arrow(warehouse.table("visits")).to_pylist()
        checkins = warehouse.to_arrow(warehouse.table("checkins")).to_pylist()
        pickups = warehouse.to_arrow(warehouse.table("pickups")).to_pylist()
    assert [(o["order_id"], o["realm"], o["channel"], o["fulfilment"], o["amount"]) for o in orders] == [
        ("R1", "offline", "pos", "in_store", 15.0),
        ("o1", "online", "app", "click_collect", 20.0),
    ]
    assert [(v["store_id"], v["dwell_s"]) for v in visits] == [("S1", 1500)]
    assert [(c["experience_id"], c["store_id"]) for c in checkins] == [("tasting-1", "S1")]
    assert [(p["order_id"], p["fulfilment"]) for p in pickups] == [("o1", "click_collect")]


def test_status_counts_per_table_realm_and_channel(loaded, engine):
    with open_warehouse(loaded, engine=engine) as warehouse:
        status = project_status(warehouse)
    assert status.table_rows["events"] == 6 and status.table_rows["order_lines"] == 1
    assert status.table_rows["stores"] == 1 and status.table_rows["orders"] == 2
    assert status.events_by_realm_channel == [
        ("offline", "event", 1), ("offline", "pos", 1), ("offline", "store", 2),
        ("online", "app", 1), ("online", "web", 1),
    ]
    assert (status.first_event, status.last_event) == ("2026-01-02 10:00", "2026-01-05 18:00")


def test_materialize_stores_a_computed_table(loaded, engine):
    with open_warehouse(loaded, engine=engine) as warehouse:
        events = warehouse.table("events")
        per_channel = events.group_by("channel").aggregate(n=events.count())
        warehouse.materialize("events_per_channel", per_channel)
        again = warehouse.table("events_per_channel")
        rows = warehouse.to_arrow(again).to_pylist()
        assert {r["channel"]: r["n"] for r in rows} == {
            "web": 1, "app": 1, "store": 2, "event": 1, "pos": 1,
        }


def test_a_materialised_table_has_a_version_that_changes_when_it_is_replaced(loaded, engine):
    with open_warehouse(loaded, engine=engine) as warehouse:
        assert warehouse.version_of("channels") is None  # never materialised
        events = warehouse.table("events")
        warehouse.materialize("channels", events.select("channel").distinct())
        first = warehouse.version_of("channels")
        assert first is not None and warehouse.version_of("channels") == first
        assert "channels" in warehouse.materialized_tables()  # the versions themselves are not a table of it
        assert not any(name.startswith("_") for name in warehouse.materialized_tables())
        warehouse.materialize("channels", events.select("realm").distinct())
        assert warehouse.version_of("channels") not in (None, first)
        assert set(warehouse.to_arrow(warehouse.table("channels")).column_names) == {"realm"}


def test_new_files_are_seen_after_refresh(loaded, engine, tmp_path):
    with open_warehouse(loaded, engine=engine) as warehouse:
        before = warehouse.table("events").count().execute()
        (tmp_path / "more.jsonl").write_text(json.dumps({**EVENTS[0], "message_id": "m9"}) + "\n")
        import_files(loaded, "events", [tmp_path / "more.jsonl"])
        warehouse.refresh()
        assert warehouse.table("events").count().execute() == before + 1


def test_unknown_and_builtin_table_names_are_refused(loaded):
    with open_warehouse(loaded) as warehouse:
        with pytest.raises(UnknownTableError, match="known tables"):
            warehouse.table("nope")
        with pytest.raises(FootfallError, match="built-in"):
            warehouse.materialize("orders", warehouse.table("events"))


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_spark_finds_a_table_materialised_by_another_process(loaded):
    with open_warehouse(loaded, engine="spark") as warehouse:
        events = warehouse.table("events")
        warehouse.materialize("channels_seen", events.select("channel").distinct())
        # A new process has a session without this view: drop it to stand in for one.
        warehouse.con._session.catalog.dropTempView("channels_seen")
    with open_warehouse(loaded, engine="spark") as warehouse:
        assert warehouse.table("channels_seen").count().execute() == 5


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_spark_tables_of_two_projects_in_one_process_stay_apart(loaded, tmp_path):
    # Spark's session (and its views) is shared by every project a process opens.
    other = init_project(tmp_path / "other", timezone="Europe/London")
    (tmp_path / "other.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS[:2]))
    import_files(other, "events", [tmp_path / "other.jsonl"])
    for project in (loaded, other):
        with open_warehouse(project, engine="spark") as warehouse:
            events = warehouse.table("events")
            warehouse.materialize("event_count", events.aggregate(n=events.count()))
    with open_warehouse(loaded, engine="spark") as warehouse:
        assert warehouse.table("event_count").to_pyarrow().to_pylist() == [{"n": 6}]
