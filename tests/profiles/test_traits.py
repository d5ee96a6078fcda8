"""Computed traits against a hand-written scenario where every value is known, on DuckDB and Spark."""

from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest

from footfall.profiles import NotResolvedForProfilesError, build_profiles, profiles_table
from footfall.warehouse import open_warehouse

from tests.profiles.conftest import HOME


def _haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def utc(row: dict) -> dict:
    """Timestamps as UTC-aware datetimes (Ibis hands back Spark's timestamps without a zone)."""
    return {k: v.replace(tzinfo=timezone.utc) if isinstance(v, datetime) and v.tzinfo is None else v for k, v in row.items()}


@pytest.fixture(scope="module")
def profiles(scenario) -> dict[str, dict]:
    """user id → that person's row of the materialised profiles table."""
    with scenario.warehouse() as warehouse:
        rows = [utc(row) for row in profiles_table(warehouse).to_pyarrow().to_pylist()]
    by_person = {row["person_id"]: row for row in rows}
    return {user: by_person[person] for user, person in scenario.persons.items()}


def test_one_profile_per_resolved_person(scenario, profiles):
    with scenario.warehouse() as warehouse:
        persons = warehouse.table("persons").count().to_pyarrow().as_py()
        rows = profiles_table(warehouse).count().to_pyarrow().as_py()
    assert rows == persons
    assert set(profiles) == {"u_alice", "u_bob", "u_carol", "u_dave", "u_erin"}


def test_orders_revenue_and_recency_per_realm(profiles):
    alice = profiles["u_alice"]
    assert (alice["orders_online"], alice["orders_offline"], alice["orders_total"]) == (1, 1, 2)
    assert (alice["revenue_online"], alice["revenue_offline"], alice["revenue_total"]) == (30.0, 10.0, 40.0)
    assert alice["last_order_online_at"] == _at("2026-03-05T09:10:00")
    assert alice["last_order_offline_at"] == _at("2026-03-02T12:20:00")
    assert alice["days_since_last_order_online"] == pytest.approx(25 + 14 / 24 + 50 / 1440)
    assert alice["days_since_last_order"] == pytest.approx(alice["days_since_last_order_online"])
    assert (alice["channel_mix"], alice["online_order_share"]) == ("both", 0.5)
    bob = profiles["u_bob"]
    assert (bob["orders_online"], bob["orders_offline"], bob["channel_mix"]) == (1, 0, "online")
    assert bob["last_order_offline_at"] is None and bob["days_since_last_order_offline"] is None
    assert (profiles["u_carol"]["orders_total"], profiles["u_carol"]["channel_mix"]) == (0, "none")


def test_first_and_last_seen_ignore_pings_and_identifies(profiles):
    alice = profiles["u_alice"]
    assert alice["first_seen_online_at"] == _at("2026-03-01T10:05:00")  # the identify at 10:00 is no touch
    assert alice["last_seen_online_at"] == _at("2026-03-08T19:00:00")
    assert alice["first_seen_offline_at"] == _at("2026-03-02T12:00:00")  # the 21:00 ping the day before is passive
    assert alice["last_seen_offline_at"] == _at("2026-03-10T18:00:00")


def test_online_touches_before_first_store_purchase_and_days_to_first_visit(profiles):
    alice = profiles["u_alice"]
    assert alice["online_touches_before_first_store_purchase"] == 2
    assert alice["days_first_online_touch_to_first_store_visit"] == pytest.approx(1 + 115 / 1440)
    assert profiles["u_bob"]["online_touches_before_first_store_purchase"] is None
    erin = profiles["u_erin"]
    assert erin["days_first_online_touch_to_first_store_visit"] == pytest.approx(19 + 3 / 24)


def test_visits_pickups_events_and_coupons(profiles):
    alice = profiles["u_alice"]
    assert alice["store_visits"] == 1
    assert (alice["click_collect_orders"], alice["store_pickups"], alice["locker_orders"], alice["locker_pickups"]) == (1, 1, 0, 0)
    assert (alice["event_invitations"], alice["event_rsvps"], alice["event_checkins"]) == (1, 1, 1)
    assert (alice["coupons_received"], alice["coupons_redeemed"]) == (1, 1)
    assert alice["favourite_store_id"] == "S1"  # visit, receipt and pickup at S1; one check-in at S2
    assert profiles["u_erin"]["favourite_store_id"] == "S2"


def test_home_from_pings_leaves_out_pings_at_a_store(profiles):
    alice = profiles["u_alice"]
    assert alice["home_source"] == "pings"
    # Four pings inside S1 outnumber the three at home; a home is not a shop.
    assert (alice["home_lat"], alice["home_lon"]) == pytest.approx(HOME)
    assert alice["nearest_store_id"] == "S1"
    assert alice["nearest_store_km"] == pytest.approx(_haversine_km(*HOME, 53.7974, -1.5437), rel=1e-6)


def test_home_from_postcode_full_then_district(profiles):
    bob = profiles["u_bob"]  # "ls1 4ap": case and spacing ignored
    assert (bob["home_source"], bob["home_lat"], bob["home_lon"]) == ("postcode", 53.7960, -1.5470)
    assert bob["nearest_store_km"] == pytest.approx(_haversine_km(53.7960, -1.5470, 53.7974, -1.5437), rel=1e-6)
    carol = profiles["u_carol"]  # LS2 9ZZ is not listed, its district LS2 is
    assert (carol["home_lat"], carol["home_lon"], carol["nearest_store_id"]) == (53.8030, -1.5500, "S1")
    dave = profiles["u_dave"]  # ZZ9 9ZZ: no home, no nearest store
    assert dave["home_source"] is None and dave["nearest_store_id"] is None and dave["nearest_store_km"] is None


def test_profiles_need_resolved_persons(project):
    with open_warehouse(project) as warehouse, pytest.raises(NotResolvedForProfilesError, match="footfall resolve"):
        build_profiles(warehouse)
