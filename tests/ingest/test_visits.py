"""Store-visit detection: accuracy against a synthetic world's true visits, hand-made edge cases, reruns.

Both parts run on DuckDB and on Spark. Each engine detects once per fixture and the tests read the
recorded results, which keeps the Spark share of this module to a handful of queries.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from footfall.errors import SettingsError
from footfall.ingest import Importer, import_files
from footfall.ingest.visit_events import utc_times, visit_message_id
from footfall.ingest.visits import (
    VisitDetectionResult,
    VisitSettings,
    detect_store_visits,
    detect_visits,
    store_reference,
    store_visits,
    visit_settings_from_file,
)
from footfall.project import Project, init_project, open_project
from footfall.synth import generate
from footfall.synth.geography import offset
from footfall.warehouse import open_warehouse
from tests.conftest import ENGINES

OBSERVABLE = ("pings", "beacons", "pings+beacons")


def _new_project(root: Path) -> Project:
    project = init_project(root, timezone="UTC")
    settings = project.root / "footfall.toml"
    settings.write_text(settings.read_text().replace('master = "local[*]"', 'master = "local[2]"'))
    return open_project(project.root)


def _utc(table: pa.Table) -> pa.Table:
    """Timestamps as aware UTC (Spark returns them naive, in its UTC session time zone)."""
    fields = [pa.field(f.name, pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(f.type) else f
              for f in table.schema]
    return table.cast(pa.schema(fields))


def _sorted_visits(table: pa.Table) -> pa.Table:
    """Detected visits in a canonical order and types, so both engines' answers compare equal."""
    table = utc_times(table)
    for name in ("pings", "beacon_sightings", "signals", "dwell_s"):
        table = table.set_column(table.schema.get_field_index(name), name, table[name].cast(pa.int64()))
    return table.sort_by([("device", "ascending"), ("arrived_at", "ascending")])


# -- a synthetic world with ground truth --------------------------------------------------------------
@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Project]:
    """500 customers, 10 stores, 25 days (~280 visits seen by pings or beacons), imported once."""
    root = tmp_path_factory.mktemp("visits-world")
    generate(root / "world", customers=500, stores=10, days=25, seed=7)
    project = _new_project(root / "project")
    with Importer(project, source="synth") as importer:
        importer.import_file("stores", root / "world" / "stores.parquet")
        for part in sorted((root / "world" / "events").glob("*.parquet")):
            importer.import_file("events", part)
    return root / "world", project


@pytest.fixture(scope="module")
def detected_by_engine() -> dict[str, pa.Table]:
    return {}


def _detected(world: tuple[Path, Project], engine: str, cache: dict[str, pa.Table]) -> pa.Table:
    """The world's visits detected on `engine` (computed once per engine)."""
    if engine not in cache:
        with open_warehouse(world[1], engine=engine) as warehouse:
            settings = VisitSettings()
            reference = store_reference(warehouse.lake.read("stores"), settings)  # as detect_store_visits does
            expr = detect_visits(warehouse.table("events"), reference, settings)
            cache[engine] = _sorted_visits(warehouse.to_arrow(expr))
    return cache[engine]


def _person_of_device(world_dir: Path) -> dict[str, str]:
    """The true person behind each device, from the truth records of the device's signal events."""
    events = pq.read_table(world_dir / "events", columns=["message_id", "anonymous_id", "user_id", "event"])
    events = events.filter(pc.is_in(events["event"], pa.array(["Location Updated", "Beacon Sighted"])))
    records = pq.read_table(world_dir / "truth" / "records.parquet", columns=["message_id", "person_id"])
    joined = events.join(records, "message_id").to_pylist()
    return {row["anonymous_id"] or row["user_id"]: row["person_id"] for row in joined}


def _match(detected: list[dict[str, Any]], truth: list[dict[str, Any]], person_of: dict[str, str]) -> set[tuple[int, int]]:
    """(detected index, true index) pairs of the same person and store whose time spans overlap."""
    by_person_store = defaultdict(list)
    for j, visit in enumerate(truth):
        by_person_store[visit["person_id"], visit["store_id"]].append(j)
    pairs = set()
    for i, visit in enumerate(detected):
        for j in by_person_store[person_of.get(visit["device"]), visit["store_id"]]:
            if visit["arrived_at"] <= truth[j]["left_at"] and truth[j]["arrived_at"] <= visit["left_at"]:
                pairs.add((i, j))
    return pairs


@pytest.mark.parametrize("engine", ENGINES)
def test_detected_visits_match_true_visits(world, engine, detected_by_engine):
    detected = _detected(world, engine, detected_by_engine)
    closed = detected.filter(detected["closed"]).to_pylist()
    truth = pq.read_table(world[0] / "truth" / "visits.parquet")
    truth = truth.filter(pc.is_in(truth["observed_by"], pa.array(OBSERVABLE))).to_pylist()
    pairs = _match(closed, truth, _person_of_device(world[0]))
    precision = len({i for i, _ in pairs}) / len(closed)
    recall = len({j for _, j in pairs}) / len(truth)
    assert len(truth) > 250
    assert precision >= 0.95, f"precision {precision:.3f}"
    assert recall >= 0.95, f"recall {recall:.3f}"
    for kind in OBSERVABLE:  # beacon-only visits are found too, not only the pinged majority
        of_kind = [j for j, visit in enumerate(truth) if visit["observed_by"] == kind]
        found = {j for _, j in pairs} & set(of_kind)
        assert len(found) >= 0.9 * len(of_kind), f"{kind}: {len(found)} of {len(of_kind)}"
    same_signals = sum(closed[i]["observed_by"] == truth[j]["observed_by"] for i, j in pairs)
    assert same_signals >= 0.95 * len(pairs)


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_duckdb_and_spark_detect_identical_visits(world, detected_by_engine):
    duck = _detected(world, "duckdb", detected_by_engine)
    spark = _detected(world, "spark", detected_by_engine)
    assert duck.num_rows > 250
    assert spark.cast(duck.schema).to_pylist() == duck.to_pylist()


# -- hand-made edge cases --------------------------------------------------------------------------
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
STORE_A = {"store_id": "A", "name": "Shop A", "lat": 51.5, "lon": -0.1, "radius_m": 60, "beacon_ids": '["b-A-1"]'}
STORE_B = {"store_id": "B", "name": "Shop B", "lat": 51.51, "lon": -0.1, "radius_m": 80, "beacon_ids": ""}
END = T0 + timedelta(hours=4)  # the newest signal before the late one arrives
LATE = END + timedelta(hours=1)


class Scenario:
    """Signals of several devices, each acting out one edge case, as JSONL lines for the importer."""

    def __init__(self) -> None:
        self.lines: list[dict[str, Any]] = []

    def ping(self, device: str, at: datetime, store: dict | None, metres: float = 10.0, accuracy: float = 15.0,
             bearing: float = 1.0, user_id: str | None = None) -> None:
        lat, lon = offset(store["lat"], store["lon"], metres, bearing) if store else (51.3, -0.4)
        self._add(device, at, "Location Updated", {"latitude": lat, "longitude": lon, "accuracy": accuracy}, user_id)

    def sighting(self, device: str | None, at: datetime, beacon_id: str, user_id: str | None = None) -> None:
        self._add(device, at, "Beacon Sighted", {"beacon_id": beacon_id, "rssi": -60}, user_id)

    def _add(self, device: str | None, at: datetime, event: str, properties: dict, user_id: str | None) -> None:
        line = {"message_id": f"{device or user_id}-{len(self.lines)}", "type": "track", "event": event,
                "timestamp": at.isoformat(), "channel": "app", "realm": "offline", "properties": properties}
        if device:
            line["anonymous_id"] = device
        if user_id:
            line["user_id"] = user_id
        self.lines.append(line)

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(line) + "\n" for line in self.lines))
        return path


def _minutes(start: datetime, *offsets: float) -> list[datetime]:
    return [start + timedelta(minutes=m) for m in offsets]


def _edge_cases() -> Scenario:
    s = Scenario()
    for at in _minutes(T0, 0, 1, 2.5):  # walking past shop A: three pings inside in 2.5 minutes
        s.ping("walker", at, STORE_A)
    for at in _minutes(T0, 0, 3, 6, 9, 12, 15, 35, 38, 41, 44, 47, 50):  # a 20-minute silence at B
        s.ping("splitter", at, STORE_B)
    for at in _minutes(T0 + timedelta(hours=1), 0, 4, 8, 12, 16, 20):
        s.ping("noisy", at, STORE_A, metres=40)
    s.ping("noisy", T0 + timedelta(hours=1, minutes=10), STORE_A, metres=500, accuracy=900)  # far and vague
    for at in _minutes(T0 + timedelta(hours=1), 28, 36):  # inside the fence but a 300 m circle: no evidence
        s.ping("noisy", at, STORE_A, accuracy=300)
    for at in _minutes(T0 + timedelta(hours=2), 0, 5, 11, 18):  # no location consent: beacons only
        s.sighting(None, at, "b-A-1", user_id="u-beacon")
    for at in _minutes(T0 + timedelta(hours=2), 0, 6, 12):
        s.sighting("stranger", at, "b-unknown")
    for at in _minutes(END - timedelta(minutes=10), 0, 2, 4, 6, 8):  # still in shop B when the data ends
        s.ping("lingerer", at, STORE_B)
    s.ping("clock", END, None)
    return s


@pytest.fixture(scope="module", params=ENGINES)
def edge_run(request, tmp_path_factory) -> dict[str, Any]:
    """Detect on the edge cases, let time pass (a later ping arrives), detect twice more."""
    root = tmp_path_factory.mktemp(f"visits-edges-{request.param}")
    project = _new_project(root / "project")
    with (root / "stores.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(STORE_A))
        writer.writeheader()
        writer.writerows([STORE_A, STORE_B])
    import_files(project, "stores", [root / "stores.csv"])
    import_files(project, "events", [_edge_cases().write(root / "events.jsonl")])
    late = Scenario()
    late.ping("clock", LATE, None)
    run: dict[str, Any] = {}
    with open_warehouse(project, engine=request.param) as warehouse:
        until = T0 + timedelta(minutes=40)
        expr = store_visits(warehouse.table("events"), warehouse.table("stores"), until=until)
        run["until"] = _sorted_visits(warehouse.to_arrow(expr))
        run["first"] = detect_store_visits(warehouse)
        import_files(project, "events", [late.write(root / "late.jsonl")])
        warehouse.refresh()
        run["second"] = detect_store_visits(warehouse)
        run["third"] = detect_store_visits(warehouse)
        run["visits"] = _utc(warehouse.to_arrow(warehouse.table("visits")))
        events = warehouse.table("events")
        visited = events.filter(events.event == "Store Visited").order_by("message_id")
        run["events"] = _utc(warehouse.to_arrow(visited)).to_pylist()
    return run


def _visits_of(run: dict[str, Any], device: str) -> list[tuple[str, datetime, datetime]]:
    rows = [v for v in run["visits"].to_pylist() if (v["anonymous_id"] or v["user_id"]) == device]
    return sorted((v["store_id"], v["arrived_at"], v["left_at"]) for v in rows)


def test_walking_past_a_store_is_not_a_visit(edge_run):
    assert _visits_of(edge_run, "walker") == []


def test_a_gap_longer_than_max_gap_splits_a_visit(edge_run):
    first, second = _minutes(T0, 0, 15), _minutes(T0, 35, 50)
    assert _visits_of(edge_run, "splitter") == [("B", *first), ("B", *second)]


def test_noisy_pings_are_ignored(edge_run):
    assert _visits_of(edge_run, "noisy") == [("A", *_minutes(T0 + timedelta(hours=1), 0, 20))]
    (event,) = [e for e in edge_run["events"] if e["anonymous_id"] == "noisy"]
    assert json.loads(event["properties"])["pings"] == 6


def test_beacon_sightings_alone_make_a_visit(edge_run):
    assert _visits_of(edge_run, "u-beacon") == [("A", *_minutes(T0 + timedelta(hours=2), 0, 18))]
    (event,) = [e for e in edge_run["events"] if e["user_id"] == "u-beacon"]
    properties = json.loads(event["properties"])
    assert (properties["observed_by"], properties["beacon_sightings"], properties["dwell_s"]) == ("beacons", 4, 1080)
    assert _visits_of(edge_run, "stranger") == []  # a beacon no store lists says nothing


def test_open_visit_is_emitted_only_once_closed(edge_run):
    first, second = edge_run["first"], edge_run["second"]
    assert (first.visits_closed, first.visits_open, first.horizon) == (4, 1, END)
    assert (second.visits_closed, second.visits_added, second.visits_open, second.horizon) == (5, 1, 0, LATE)
    assert _visits_of(edge_run, "lingerer") == [("B", *_minutes(END, -10, -2))]


def test_rerunning_detection_adds_nothing(edge_run):
    assert edge_run["first"].visits_added == 4
    assert edge_run["third"] == VisitDetectionResult(5, 0, 0, edge_run["second"].observed_by, LATE, None)
    ids = [e["message_id"] for e in edge_run["events"]]
    assert len(ids) == len(set(ids)) == 5


def test_visit_events_carry_the_documented_fields(edge_run):
    (event,) = [e for e in edge_run["events"] if e["anonymous_id"] == "lingerer"]
    arrived, left = _minutes(END, -10, -2)
    assert event["message_id"] == visit_message_id("lingerer", "B", arrived)
    assert (event["type"], event["realm"], event["channel"], event["store_id"], event["source"]) == (
        "track", "offline", "store", "B", "visit-detection")
    assert (event["timestamp"], event["ended_at"]) == (arrived, left)
    properties = json.loads(event["properties"])
    assert properties == {"store_id": "B", "arrived_at": arrived.isoformat(), "left_at": left.isoformat(),
                          "dwell_s": 480, "signals": 5, "pings": 5, "beacon_sightings": 0, "observed_by": "pings"}
    assert json.loads(event["context"])["visit_detection"] == VisitSettings().model_dump()


def test_signals_from_until_on_are_ignored(edge_run):
    # Before T0+40 min only the walker and the splitter have signalled; the splitter's second visit
    # has two pings (35, 38 min) so far: too short to count yet.
    rows = [(v["device"], v["arrived_at"], v["left_at"], v["closed"]) for v in edge_run["until"].to_pylist()]
    assert rows == [("splitter", *_minutes(T0, 0, 15), True)]


def test_visit_settings_file_errors_name_the_field(tmp_path):
    (tmp_path / "rules.toml").write_text("[visits]\nmax_gap_s = 600\nmin_dwell_s = -5\n")
    with pytest.raises(SettingsError, match="min_dwell_s"):
        visit_settings_from_file(tmp_path / "rules.toml")
    (tmp_path / "rules.json").write_text('{"max_gap_s": 600}')
    assert visit_settings_from_file(tmp_path / "rules.json") == VisitSettings(max_gap_s=600)


def test_cli_detects_visits_and_says_what_it_added(project, tmp_path, capsys):
    from tests.conftest import run_cli

    (tmp_path / "stores.csv").write_text("store_id,name,lat,lon,radius_m,beacon_ids\n"
                                         f"A,Shop A,{STORE_A['lat']},{STORE_A['lon']},60,\"[\"\"b-A-1\"\"]\"\n")
    import_files(project, "stores", [tmp_path / "stores.csv"])
    import_files(project, "events", [_edge_cases().write(tmp_path / "events.jsonl")])
    code, out, _ = run_cli(["visits", "detect", "--project", str(project.root)], capsys)
    assert code == 0
    assert "2 store visits detected (1 by beacons, 1 by pings); 2 new added" in " ".join(out.split())
    code, out, _ = run_cli(["visits", "detect", "--project", str(project.root)], capsys)
    assert "0 new added" in " ".join(out.split())
    (tmp_path / "rules.json").write_text('{"max_gap_s": 0}')
    code, _, err = run_cli(["visits", "detect", "--project", str(project.root), "--settings",
                            str(tmp_path / "rules.json")], capsys)
    assert code == 2 and "max_gap_s" in err
