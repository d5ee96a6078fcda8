"""A synthetic world goes through import into the warehouse and reads back the same on both engines."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from footfall.ingest import Importer
from footfall.project import init_project, open_project
from footfall.status import project_status
from footfall.synth import generate
from footfall.warehouse import open_warehouse


def _rows(paths: list[Path]) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


@pytest.fixture(scope="module")
def world_project(tmp_path_factory):
    """A 300-customer world generated and imported once for this module's tests."""
    root = tmp_path_factory.mktemp("roundtrip")
    world = root / "world"
    generate(world, customers=300, stores=8, days=45, seed=11)
    project = init_project(root / "project", timezone="Europe/London")
    settings = project.root / "footfall.toml"
    settings.write_text(settings.read_text().replace('master = "local[*]"', 'master = "local[2]"'))
    project = open_project(project.root)
    with Importer(project, source="synth") as importer:
        importer.import_file("stores", world / "stores.parquet")
        importer.import_file("products", world / "products.parquet")
        for part in sorted((world / "events").glob("*.parquet")):
            importer.import_file("events", part)
        for part in sorted((world / "receipts").glob("*.parquet")):
            importer.import_file("receipts", part)
    return world, project


def test_every_generated_event_and_receipt_is_in_the_warehouse(world_project, engine):
    world, project = world_project
    events_written = _rows(sorted((world / "events").glob("*.parquet")))
    receipts = pq.read_table(world / "receipts", columns=["receipt_id"]) if (world / "receipts").is_dir() else None
    receipts_written = len(set(receipts["receipt_id"].to_pylist())) if receipts is not None else 0
    with open_warehouse(project, engine=engine) as warehouse:
        status = project_status(warehouse)
    assert status.table_rows["events"] == events_written + receipts_written
    assert status.table_rows["stores"] == 8
    pos_orders = sum(n for realm, channel, n in status.events_by_realm_channel if channel == "pos")
    assert pos_orders == receipts_written
    assert {realm for realm, _, _ in status.events_by_realm_channel} == {"online", "offline"}


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_both_engines_agree_on_status(world_project):
    _, project = world_project
    results = []
    for engine in ("duckdb", "spark"):
        with open_warehouse(project, engine=engine) as warehouse:
            results.append(project_status(warehouse))
    duck, spark = results
    assert duck.table_rows == spark.table_rows
    assert duck.events_by_realm_channel == spark.events_by_realm_channel
    assert (duck.first_event, duck.last_event) == (spark.first_event, spark.last_event)


def test_reimporting_the_world_adds_nothing(world_project):
    world, project = world_project
    with Importer(project) as importer:
        added = sum(importer.import_file("events", p).rows_added for p in sorted((world / "events").glob("*.parquet")))
        added += sum(importer.import_file("receipts", p).rows_added for p in sorted((world / "receipts").glob("*.parquet")))
    assert added == 0
