"""File import: canonical columns, promotion, dedupe on re-import, upserts, mapping, all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from footfall.errors import InputFileError
from footfall.ingest import import_files
from footfall.lake import Lake

STORES = "store_id,name,lat,lon\nS1,Oxford Street,51.5154,-0.1410\nS2,Arndale,53.4831,-2.2411\n"


def _events_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def stocked(project, tmp_path):
    (tmp_path / "stores.csv").write_text(STORES)
    import_files(project, "stores", [tmp_path / "stores.csv"])
    return project


def test_stores_get_defaults_for_radius_and_timezone(stocked):
    stores = Lake(stocked.lake_dir).read("stores").to_pylist()
    assert {s["store_id"]: (s["radius_m"], s["timezone"]) for s in stores} == {
        "S1": (100.0, "Europe/London"),
        "S2": (100.0, "Europe/London"),
    }


def test_reimporting_the_same_files_adds_nothing(stocked, tmp_path):
    events = _events_jsonl(
        tmp_path / "e.jsonl",
        [
            {"message_id": "m1", "type": "track", "event": "Product Viewed", "anonymous_id": "a1",
             "timestamp": "2026-01-02T10:00:00Z", "channel": "web"},
            {"message_id": "m2", "type": "page", "anonymous_id": "a1", "timestamp": "2026-01-03T10:00:00Z",
             "channel": "web"},
        ],
    )
    first = import_files(stocked, "events", [events])[0]
    again = import_files(stocked, "events", [events])[0]
    stores_again = import_files(stocked, "stores", [tmp_path / "stores.csv"])[0]
    assert (first.rows_added, again.rows_added, again.batch_id) == (2, 0, None)
    assert stores_again.rows_added == 0 and stores_again.batch_id is None
    assert Lake(stocked.lake_dir).read("events").num_rows == 2


def test_duplicate_message_ids_inside_one_file_are_stored_once(stocked, tmp_path):
    row = {"message_id": "m1", "type": "track", "event": "X", "anonymous_id": "a", "timestamp": "2026-01-02T10:00:00Z", "channel": "web"}
    result = import_files(stocked, "events", [_events_jsonl(tmp_path / "e.jsonl", [row, row, {**row, "message_id": "m2"}])])[0]
    assert (result.rows_read, result.rows_added) == (3, 2)


def test_rows_without_message_id_get_a_stable_one(stocked, tmp_path):
    file = tmp_path / "e.csv"
    file.write_text("event,anonymous_id,timestamp,channel\nProduct Viewed,a1,2026-01-02T10:00:00Z,web\n")
    assert import_files(stocked, "events", [file])[0].rows_added == 1
    assert import_files(stocked, "events", [file])[0].rows_added == 0


def test_promoted_columns_and_order_lines_come_from_the_json_objects(stocked, tmp_path):
    file = _events_jsonl(
        tmp_path / "e.jsonl",
        [
            {"message_id": "m1", "type": "track", "event": "Order Completed", "user_id": "u1",
             "timestamp": "2026-01-02T10:00:00+01:00", "channel": "app",
             "properties": {"orderId": "o1", "revenue": "59.90", "currency": "GBP",
                            "products": [{"sku": "A", "price": 19.95, "quantity": 2}, {"sku": "B", "price": 20}]},
             "context": {"device": {"id": "dev-1"}, "page": {"url": "https://shop.example/checkout"}},
             "traits": {"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee"}},
        ],
    )
    import_files(stocked, "events", [file])
    lake = Lake(stocked.lake_dir)
    event = lake.read("events").to_pylist()[0]
    assert (event["order_id"], event["amount"], event["device_id"], event["email"], event["name"]) == (
        "o1", 59.9, "dev-1", "ann@example.com", "Ann Lee")
    assert event["realm"] == "online" and event["timestamp"].isoformat() == "2026-01-02T09:00:00+00:00"
    lines = sorted((r["line_no"], r["sku"], r["quantity"], r["amount"]) for r in lake.read("order_lines").to_pylist())
    assert lines == [(1, "A", 2, 39.9), (2, "B", 1, 20.0)]


def test_naive_timestamps_are_read_in_the_project_timezone(stocked, tmp_path):
    file = tmp_path / "e.csv"
    file.write_text("event,anonymous_id,timestamp,channel\nX,a1,2026-07-01 12:00:00,web\n")
    import_files(stocked, "events", [file])
    event = Lake(stocked.lake_dir).read("events").to_pylist()[0]
    assert event["timestamp"].isoformat() == "2026-07-01T11:00:00+00:00"  # London is UTC+1 in July


def test_receipts_become_offline_orders_with_lines(stocked, tmp_path):
    file = tmp_path / "r.csv"
    file.write_text(
        "receipt_id,store_id,timestamp,total,email,loyalty_id,sku,quantity,unit_price\n"
        "R1,S1,2026-01-04T12:00:00Z,30,Ann@Example.com ,LOY1,A,1,10\n"
        "R1,S1,2026-01-04T12:00:00Z,30,Ann@Example.com ,LOY1,B,2,10\n"
        "R2,S2,2026-01-05T12:00:00Z,5,,,,,\n"
    )
    result = import_files(stocked, "receipts", [file])[0]
    assert result.added_by_table == {"events": 2, "order_lines": 2}
    events = {e["order_id"]: e for e in Lake(stocked.lake_dir).read("events").to_pylist()}
    r1 = events["R1"]
    assert (r1["message_id"], r1["realm"], r1["channel"], r1["store_id"], r1["amount"], r1["loyalty_id"]) == (
        "pos:S1:R1", "offline", "pos", "S1", 30.0, "LOY1")
    assert r1["email"] == "Ann@Example.com"  # stored as given; identity resolution normalises
    assert json.loads(r1["traits"])["loyalty_id"] == "LOY1"
    assert import_files(stocked, "receipts", [file])[0].rows_added == 0


def test_column_mapping_and_constants(stocked, tmp_path):
    file = tmp_path / "e.csv"
    file.write_text("id,what,cookie,when\nm1,Product Viewed,a1,2026-01-02T10:00:00Z\n")
    result = import_files(
        stocked, "events", [file],
        mapping={"id": "message_id", "what": "event", "cookie": "anonymous_id", "when": "timestamp"},
        constants={"channel": "web"},
    )[0]
    event = Lake(stocked.lake_dir).read("events").to_pylist()[0]
    assert result.rows_added == 1 and (event["message_id"], event["channel"], event["anonymous_id"]) == ("m1", "web", "a1")


def test_parquet_with_typed_columns_imports(stocked, tmp_path):
    table = pa.table({
        "message_id": ["m1", "m2"],
        "type": ["track", "track"],
        "event": ["Location Updated", "Location Updated"],
        "anonymous_id": ["a1", "a1"],
        "timestamp": pa.array([1767348000000000, 1767348060000000], pa.timestamp("us", tz="UTC")),
        "channel": ["app", "app"],
        "realm": ["offline", "offline"],
        "lat": [51.5, float("nan")],
        "lon": [-0.14, -0.14],
    })
    pq.write_table(table, tmp_path / "e.parquet")
    import_files(stocked, "events", [tmp_path / "e.parquet"])
    rows = Lake(stocked.lake_dir).read("events").sort_by("message_id").to_pylist()
    assert [r["lat"] for r in rows] == [51.5, None]  # NaN becomes a real null on import


def test_a_bad_row_anywhere_leaves_the_lake_untouched(stocked, tmp_path):
    good = [{"message_id": f"m{i}", "type": "track", "event": "X", "anonymous_id": "a",
             "timestamp": f"2026-01-{i + 1:02d}T10:00:00Z", "channel": "web"} for i in range(20)]
    bad = good + [{**good[0], "message_id": "m99", "timestamp": "not a time"}]
    before = sorted(p.relative_to(stocked.lake_dir) for p in stocked.lake_dir.rglob("*.parquet"))
    with pytest.raises(InputFileError) as raised:
        import_files(stocked, "events", [_events_jsonl(tmp_path / "e.jsonl", bad)])
    assert raised.value.location.row == 21
    after = sorted(p.relative_to(stocked.lake_dir) for p in stocked.lake_dir.rglob("*.parquet"))
    assert before == after


def test_products_upsert_replaces_changed_rows(stocked, tmp_path):
    file = tmp_path / "p.csv"
    file.write_text("sku,name,category,price\nA,Shoe,shoes,10\nB,Hat,hats,5\n")
    import_files(stocked, "products", [file])
    file.write_text("sku,name,category,price\nB,Hat,hats,6\nC,Bag,bags,20\n")
    import_files(stocked, "products", [file])
    prices = {r["sku"]: r["price"] for r in Lake(stocked.lake_dir).read("products").to_pylist()}
    assert prices == {"A": 10.0, "B": 6.0, "C": 20.0}


def test_events_import_into_a_project_without_stores(project, tmp_path):
    file = _events_jsonl(tmp_path / "e.jsonl", [
        {"message_id": "m1", "type": "track", "event": "Product Viewed", "anonymous_id": "a1",
         "timestamp": "2026-01-02T10:00:00Z", "channel": "web"}])
    assert import_files(project, "events", [file])[0].rows_added == 1


def test_event_naming_a_store_in_a_project_without_stores_is_refused(project, tmp_path):
    file = _events_jsonl(tmp_path / "e.jsonl", [
        {"message_id": "m1", "type": "track", "event": "Store Visited", "anonymous_id": "a1", "store_id": "S1",
         "timestamp": "2026-01-02T10:00:00Z", "channel": "store"}])
    with pytest.raises(InputFileError, match="unknown store_id 'S1'"):
        import_files(project, "events", [file])
