"""The synthetic world: canonical schemas, determinism, complete ground truth, clear-cut archetypes, noise."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from footfall.schema import EVENTS, PRODUCTS, RECEIPTS, STORES, promote, realm_of_channel, receipt_message_id
from footfall.schema.tables import PROMOTED_FIELDS
from footfall.synth import ARCHETYPE_MIX, TRUTH_TABLES, WorldManifest, WorldParameterError, generate
from footfall.synth.geography import distance_m

MINUTE_US = 60_000_000
DAY_US = 1440 * MINUTE_US
START = date(2026, 1, 1)
DAYS = 90
START_US = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()) * 1_000_000
END_US = START_US + DAYS * DAY_US
ONLINE_ORDER_CHANNELS = {"web", "app"}


def _rows(path: Path) -> list[dict]:
    """A Parquet file or part directory as dicts, timestamps as microseconds since the epoch."""
    table = pq.read_table(path)
    columns = [
        column.cast(pa.int64()) if pa.types.is_timestamp(column.type) else column for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names).to_pylist()


class World:
    """A generated world loaded for assertions, with every record joined to its true person."""

    def __init__(self, manifest: WorldManifest) -> None:
        self.manifest = manifest
        self.dir = Path(manifest.out_dir)
        self.stores = {s["store_id"]: s for s in _rows(self.dir / "stores.parquet")}
        self.events = _rows(self.dir / "events")
        self.receipt_lines = _rows(self.dir / "receipts")
        self.persons = {p["person_id"]: p for p in _rows(manifest.path("persons"))}
        self.identifiers = _rows(manifest.path("identifiers"))
        self.records = _rows(manifest.path("records"))
        self.visits = _rows(manifest.path("visits"))
        person_of = {(r["record_kind"], r["record_id"]): r["person_id"] for r in self.records}
        self.events_of: dict[str, list[dict]] = defaultdict(list)
        for event in self.events:
            self.events_of[person_of[("event", event["message_id"])]].append(event)
        self.receipts_of: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
        for line in self.receipt_lines:
            self.receipts_of[person_of[("receipt", line["receipt_id"])]][line["receipt_id"]].append(line)
        self.visits_of: dict[str, list[dict]] = defaultdict(list)
        for visit in self.visits:
            self.visits_of[visit["person_id"]].append(visit)

    def people(self, archetype: str) -> list[str]:
        return [pid for pid, p in self.persons.items() if p["archetype"] == archetype]

    def online_orders(self, person_id: str) -> list[dict]:
        return [
            e
            for e in self.events_of[person_id]
            if e["event"] == "Order Completed" and e["channel"] in ONLINE_ORDER_CHANNELS
        ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    manifest = generate(tmp_path_factory.mktemp("world"), customers=600, stores=12, days=DAYS, seed=7, start=START)
    return World(manifest)


# -- format ---------------------------------------------------------------------------------------
def test_outputs_have_exactly_the_canonical_schemas(world: World) -> None:
    assert pq.read_schema(world.dir / "stores.parquet").equals(STORES)
    assert pq.read_schema(world.dir / "products.parquet").equals(PRODUCTS)
    for part in sorted((world.dir / "events").glob("part-*.parquet")):
        assert pq.read_schema(part).equals(EVENTS), part
    for part in sorted((world.dir / "receipts").glob("part-*.parquet")):
        assert pq.read_schema(part).equals(RECEIPTS), part
    for name, schema in TRUTH_TABLES.items():
        assert pq.read_schema(world.manifest.path(name)).equals(schema), name


def test_manifest_counts_rows_and_is_written_to_disk(world: World) -> None:
    counts = world.manifest.row_counts
    assert counts["events"] == len(world.events)
    assert counts["receipt_lines"] == len(world.receipt_lines)
    assert counts["receipts"] == len({line["receipt_id"] for line in world.receipt_lines})
    assert counts["persons"] == 600 == sum(world.manifest.archetypes.values())
    assert counts["stores"] == 12 and counts["products"] == 200
    assert WorldManifest.read(world.dir) == world.manifest


def test_promoted_columns_match_what_promote_finds_in_the_json(world: World) -> None:
    promoted = [f.name for f in PROMOTED_FIELDS if f.name != "ended_at"]
    for event in world.events:
        objects = {k: json.loads(event[k]) for k in ("context", "properties", "traits") if event[k] is not None}
        expected = promote(objects)
        assert {c: event[c] for c in promoted} == {c: expected.get(c) for c in promoted}, event["message_id"]


def test_messages_are_well_formed(world: World) -> None:
    assert len({e["message_id"] for e in world.events}) == len(world.events)
    for event in world.events:
        assert event["source"] == "synth"
        assert START_US <= event["timestamp"] < END_US
        assert event["timestamp"] < event["sent_at"] < event["received_at"]
        assert event["anonymous_id"] or event["user_id"]
        if event["event"] in ("Location Updated", "Beacon Sighted"):
            assert (event["realm"], event["channel"]) == ("offline", "app")
        else:
            assert event["realm"] == realm_of_channel(event["channel"])
        if event["realm"] == "offline" and event["event"] != "Location Updated":
            assert event["store_id"] in world.stores
    stores = world.stores.values()
    assert all(40 <= s["radius_m"] <= 150 and s["timezone"] == "Europe/London" for s in stores)
    assert all(re.fullmatch(r"[A-Z]{1,2}\d{1,2}[A-Z]? \d[A-Z]{2}", s["postcode"]) for s in stores)


def test_receipts_total_their_lines_and_have_unique_ids(world: World) -> None:
    by_receipt = defaultdict(list)
    for line in world.receipt_lines:
        by_receipt[line["receipt_id"]].append(line)
    for lines in by_receipt.values():
        assert len({(line["store_id"], line["timestamp"], line["total"]) for line in lines}) == 1
        assert lines[0]["total"] == pytest.approx(sum(line["unit_price"] * line["quantity"] for line in lines))


# -- determinism ----------------------------------------------------------------------------------
_SORT_KEYS = {
    "events": ["message_id"],
    "receipts": ["receipt_id", "sku"],
    "persons": ["person_id"],
    "identifiers": ["identifier_type", "value", "person_id"],
    "records": ["record_kind", "record_id"],
    "visits": ["person_id", "arrived_at"],
    "stores": ["store_id"],
    "products": ["sku"],
}


def _contents(directory: Path) -> dict[str, pa.Table]:
    """Every output's rows in a canonical order (part files split rows differently per chunking)."""
    paths = {name: directory / f"{name}.parquet" for name in ("stores", "products")}
    paths.update({name: directory / "truth" / f"{name}.parquet" for name in TRUTH_TABLES})
    paths.update(events=directory / "events", receipts=directory / "receipts")
    return {
        name: pq.read_table(path).sort_by([(key, "ascending") for key in _SORT_KEYS[name]])
        for name, path in paths.items()
    }


def test_same_seed_gives_the_same_world_whatever_the_chunking(tmp_path: Path) -> None:
    one = _contents(Path(generate(tmp_path / "a", customers=150, stores=6, days=30, seed=3).out_dir))
    again = _contents(Path(generate(tmp_path / "b", customers=150, stores=6, days=30, seed=3).out_dir))
    chunked = generate(tmp_path / "c", customers=150, stores=6, days=30, seed=3, chunk_customers=40, workers=2)
    assert len(list((tmp_path / "c" / "events").glob("part-*.parquet"))) == 4
    for name, table in one.items():
        assert table.equals(again[name]), name
        assert table.equals(_contents(Path(chunked.out_dir))[name]), name
    other = _contents(Path(generate(tmp_path / "d", customers=150, stores=6, days=30, seed=4).out_dir))
    assert not other["events"].equals(one["events"])


def test_progress_reports_customers_finished_so_far(tmp_path: Path) -> None:
    seen: list[int] = []
    generate(tmp_path, customers=25, stores=3, days=14, chunk_customers=10, progress=seen.append)
    assert seen == [10, 20, 25]


@pytest.mark.parametrize("bad", [{"customers": 0}, {"days": 6}, {"stores": -1}, {"chunk_customers": 0}])
def test_out_of_range_parameters_are_refused(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(WorldParameterError, match=next(iter(bad))):
        generate(tmp_path, **bad)


def test_visits_keep_local_opening_hours_across_the_clock_change(tmp_path: Path) -> None:
    london = ZoneInfo("Europe/London")
    manifest = generate(tmp_path, customers=200, stores=5, days=21, seed=1, start=date(2026, 3, 20))
    stores = {s["store_id"]: json.loads(s["opening_hours"]) for s in _rows(tmp_path / "stores.parquet")}
    visits = [v for v in _rows(manifest.path("visits")) if v["purpose"] != "event"]  # events run after hours
    summer = 0
    for visit in visits:
        arrived, left = (datetime.fromtimestamp(visit[k] / 1e6, london) for k in ("arrived_at", "left_at"))
        opening, closing = stores[visit["store_id"]][arrived.strftime("%a").lower()].split("-")
        assert opening <= f"{arrived:%H:%M}" and f"{left:%H:%M}" <= closing and arrived.date() == left.date()
        summer += arrived.utcoffset().total_seconds() == 3600
    assert 0 < summer < len(visits)


# -- ground truth ---------------------------------------------------------------------------------
def test_every_event_and_receipt_has_exactly_one_true_person(world: World) -> None:
    kinds = Counter(r["record_kind"] for r in world.records)
    assert kinds == {"event": len(world.events), "receipt": world.manifest.row_counts["receipts"]}
    assert len({(r["record_kind"], r["record_id"]) for r in world.records}) == len(world.records)
    assert {r["person_id"] for r in world.records} <= set(world.persons)
    for record in world.records:
        if record["record_kind"] == "receipt":
            store_id = world.receipts_of[record["person_id"]][record["record_id"]][0]["store_id"]
            assert record["message_id"] == receipt_message_id(store_id, record["record_id"])
        else:
            assert record["message_id"] == record["record_id"]


def test_identifiers_in_events_belong_to_their_true_person(world: World) -> None:
    owners = defaultdict(set)
    for row in world.identifiers:
        owners[(row["identifier_type"], row["value"])].add(row["person_id"])
    for person_id, events in world.events_of.items():
        for event in events:
            for kind in ("anonymous_id", "user_id", "device_id", "card_token", "loyalty_id"):
                if event[kind]:
                    assert person_id in owners[(kind, event[kind])], (kind, event[kind])
    used_by_several = {key for key, people in owners.items() if len(people) > 1}
    shared = {(r["identifier_type"], r["value"]) for r in world.identifiers if r["shared"]}
    assert used_by_several and used_by_several <= shared  # only household emails and kiosk ids are
    for person in world.persons.values():
        assert person["person_id"] in owners[("email", person["email"])]
        assert re.fullmatch(r"\+447\d{9}", person["phone"]) and person["email"] == person["email"].strip().lower()


def test_every_receipt_falls_inside_a_true_visit_to_its_store(world: World) -> None:
    for person_id, receipts in world.receipts_of.items():
        for lines in receipts.values():
            receipt = lines[0]
            assert any(
                v["store_id"] == receipt["store_id"] and v["arrived_at"] <= receipt["timestamp"] <= v["left_at"]
                for v in world.visits_of[person_id]
            )


def test_archetype_mix_is_close_to_the_default(world: World) -> None:
    counts = Counter(p["archetype"] for p in world.persons.values())
    for archetype, share in ARCHETYPE_MIX.items():
        assert counts[archetype] / 600 == pytest.approx(share, abs=0.05), archetype


# -- archetypes -----------------------------------------------------------------------------------
def test_store_only_people_send_no_online_message(world: World) -> None:
    for person_id in world.people("store_only"):
        assert all(e["realm"] == "offline" for e in world.events_of[person_id])
        assert world.receipts_of[person_id]


def test_online_only_people_never_visit_or_buy_in_store(world: World) -> None:
    people = world.people("online_only")
    for person_id in people:
        assert not world.receipts_of[person_id] and not world.visits_of[person_id]
        orders = world.online_orders(person_id)
        assert orders and all(o["fulfilment"] == "ship" for o in orders)
    near = [pid for pid in people if world.persons[pid]["home_store_km"] <= 10]
    assert all(world.persons[pid]["home_store_km"] > 30 for pid in people if pid not in near)
    assert len(near) / len(people) == pytest.approx(0.3, abs=0.1)


def test_ropo_people_view_online_what_they_then_buy_in_store(world: World) -> None:
    for person_id in world.people("ropo"):
        assert not world.online_orders(person_id)
        views = [(e["sku"], e["timestamp"]) for e in world.events_of[person_id] if e["event"] == "Product Viewed"]
        assert any(
            sku == line["sku"] and 0.9 * DAY_US <= line["timestamp"] - viewed <= 15 * DAY_US
            for lines in world.receipts_of[person_id].values()
            for line in lines
            for sku, viewed in views
        ), person_id


def test_nobody_but_ropo_buys_in_store_what_they_viewed_online(world: World) -> None:
    for person_id, receipts in world.receipts_of.items():
        if world.persons[person_id]["archetype"] == "ropo":
            continue
        viewed = {e["sku"] for e in world.events_of[person_id] if e["event"] == "Product Viewed"}
        assert not viewed & {line["sku"] for lines in receipts.values() for line in lines}


def test_showroomers_order_online_within_a_week_of_a_store_visit(world: World) -> None:
    for person_id in world.people("showroomer"):
        assert not world.receipts_of[person_id]
        orders = world.online_orders(person_id)
        assert orders
        for order in orders:
            assert any(0 < order["timestamp"] - v["left_at"] <= 7 * DAY_US for v in world.visits_of[person_id])
    showroomers = world.people("showroomer")
    observed = [pid for pid in showroomers if any("pings" in v["observed_by"] for v in world.visits_of[pid])]
    assert len(observed) / len(showroomers) >= 0.85


def test_omnichannel_pickups_follow_their_orders(world: World) -> None:
    pickups = 0
    for person_id in world.people("omnichannel"):
        events = world.events_of[person_id]
        assert world.online_orders(person_id) and world.receipts_of[person_id]
        for order in world.online_orders(person_id):
            if order["fulfilment"] in ("click_collect", "locker"):
                steps = {e["event"]: e for e in events if e["order_id"] == order["order_id"]}
                ready, done = steps["Pickup Ready"], steps["Pickup Completed"]
                assert order["timestamp"] < ready["timestamp"] < done["timestamp"]
                assert ready["channel"] == "email" and done["realm"] == "offline"
                assert done["channel"] == ("store" if order["fulfilment"] == "click_collect" else "locker")
                assert done["fulfilment"] == order["fulfilment"] and done["store_id"]
                pickups += 1
    assert pickups > 0
    pickup_visits = [v for v in world.visits if v["purpose"] == "pickup"]
    assert pickup_visits and all(world.persons[v["person_id"]]["archetype"] == "omnichannel" for v in pickup_visits)


def test_only_event_goers_check_in(world: World) -> None:
    for person_id, events in world.events_of.items():
        names = Counter(e["event"] for e in events)
        if world.persons[person_id]["archetype"] == "event_goer":
            assert names["Event Checked In"] >= 1 and names["Event Invitation Sent"] >= 1
            assert names["Event RSVP Received"] >= 1
        else:
            assert names["Event Checked In"] == 0
    invited = [pid for pid, ev in world.events_of.items() if any(e["event"] == "Event Invitation Sent" for e in ev)]
    strays = [pid for pid in invited if world.persons[pid]["archetype"] != "event_goer"]
    answered = [pid for pid in strays if any(e["event"] == "Event RSVP Received" for e in world.events_of[pid])]
    assert strays and len(answered) / len(strays) <= 0.1


def test_lapsed_people_bought_early_and_browse_late(world: World) -> None:
    cutoff = START_US + int(0.4 * DAYS) * DAY_US
    for person_id in world.people("lapsed"):
        receipts = world.receipts_of[person_id]
        assert receipts and all(lines[0]["timestamp"] < cutoff for lines in receipts.values())
        assert not world.online_orders(person_id)
        browsing = [e for e in world.events_of[person_id] if e["channel"] in ("web", "app") and e["realm"] == "online"]
        assert browsing and all(e["timestamp"] >= END_US - 30 * DAY_US for e in browsing)


# -- signals and noise ----------------------------------------------------------------------------
def _normalised(email: str) -> str:
    return email.strip().lower()


def test_receipts_carry_noisy_contact_details(world: World) -> None:
    true_emails = {}
    for person_id, person in world.persons.items():
        true_emails[person_id] = {person["email"]}
    for row in world.identifiers:
        if row["identifier_type"] == "email":
            true_emails[row["person_id"]].add(row["value"])
    typed, mistyped, formats = 0, 0, set()
    for person_id, receipts in world.receipts_of.items():
        for lines in receipts.values():
            receipt = lines[0]
            if receipt["email"]:
                typed += 1
                mistyped += _normalised(receipt["email"]) not in true_emails[person_id]
            if receipt["phone"]:
                formats.add(re.sub(r"\d", "9", receipt["phone"]))
    assert 0.03 <= mistyped / typed <= 0.2
    assert any(line["email"] and line["email"] != _normalised(line["email"]) for line in world.receipt_lines)
    assert len(formats) >= 3
    identifying = ("loyalty_id", "card_token", "email", "phone", "name", "postcode")
    assert any(not any(line[k] for k in identifying) for line in world.receipt_lines)  # cash, no details


def test_household_emails_are_shared_by_two_or_three_people(world: World) -> None:
    households = defaultdict(set)
    for row in world.identifiers:
        if row["identifier_type"] == "email" and row["shared"]:
            households[row["value"]].add(row["person_id"])
    assert households and all(2 <= len(people) <= 3 for people in households.values())
    kiosk_ids = [r for r in world.identifiers if r["identifier_type"] == "anonymous_id" and r["shared"]]
    assert kiosk_ids and all(
        e["channel"] == "kiosk" for e in world.events if e["anonymous_id"] in {r["value"] for r in kiosk_ids}
    )


def test_visit_pings_lie_inside_the_store_radius(world: World) -> None:
    pings = Counter()
    for person_id, visits in world.visits_of.items():
        located = [e for e in world.events_of[person_id] if e["event"] == "Location Updated"]
        for visit in visits:
            store = world.stores[visit["store_id"]]
            during = [e for e in located if visit["arrived_at"] <= e["timestamp"] <= visit["left_at"]]
            assert bool(during) == ("pings" in visit["observed_by"])
            for ping in during:
                inside = distance_m(ping["lat"], ping["lon"], store["lat"], store["lon"]) <= store["radius_m"]
                noisy = ping["accuracy_m"] >= 200
                assert inside != noisy
                pings["noisy" if noisy else "accurate"] += 1
    assert 0.02 <= pings["noisy"] / (pings["noisy"] + pings["accurate"]) <= 0.08


def test_in_store_pings_outside_visits_are_short_walk_bys(world: World) -> None:
    walk_bys = 0
    for person_id, events in world.events_of.items():
        visits = world.visits_of[person_id]
        stray = defaultdict(list)
        for e in events:
            if e["event"] != "Location Updated" or e["accuracy_m"] > 100:
                continue
            if any(v["arrived_at"] <= e["timestamp"] <= v["left_at"] for v in visits):
                continue
            for store_id, store in world.stores.items():
                if distance_m(e["lat"], e["lon"], store["lat"], store["lon"]) <= store["radius_m"]:
                    stray[store_id].append(e["timestamp"])
        for times in stray.values():
            times.sort()
            burst_start = previous = times[0]
            for t in [*times[1:], None]:
                if t is None or t - previous > 10 * MINUTE_US:  # a new burst: the last one must be short
                    assert previous - burst_start < 3 * MINUTE_US
                    walk_bys += 1
                    burst_start = t
                previous = t
    assert walk_bys > 0
