"""Profiles of a small synthetic world against its ground truth, and the same table on both engines."""

from __future__ import annotations

import shutil
import statistics
from collections import Counter

import pyarrow.parquet as pq
import pytest

from footfall.profiles import materialize_profiles, profiles_table
from footfall.project import open_project
from footfall.warehouse import open_warehouse

from tests.identity.conftest import resolve, resolved_persons, true_persons
from tests.profiles.conftest import AS_OF
from tests.profiles.test_traits import utc


def _profiled(template, destination, engine: str) -> list[dict]:
    shutil.copytree(template, destination)
    project = open_project(destination)
    resolve(project, engine=engine)  # deterministic graph only: identical persons on every engine
    with open_warehouse(project, engine=engine) as warehouse:
        materialize_profiles(warehouse, AS_OF)
        rows = profiles_table(warehouse).to_pyarrow().to_pylist()
    return sorted((utc(row) for row in rows), key=lambda r: r["person_id"]), project


@pytest.fixture(scope="module")
def baseline(profiled_world, tmp_path_factory):
    template, manifest = profiled_world
    rows, project = _profiled(template, tmp_path_factory.mktemp("baseline") / "project", "duckdb")
    return rows, project, manifest


def _true_person_of(project, manifest) -> dict[str, str]:
    """Resolved person → the true person owning most of its events."""
    truth = true_persons(manifest)
    votes: dict[str, Counter] = {}
    for message_id, person in resolved_persons(project).items():
        if message_id in truth:  # detected Store Visited events are Footfall's, not the world's
            votes.setdefault(person, Counter())[truth[message_id]] += 1
    return {person: counter.most_common(1)[0][0] for person, counter in votes.items()}


def test_nearest_store_matches_the_true_home_store(baseline):
    rows, project, manifest = baseline
    truth = {r["person_id"]: r for r in pq.read_table(manifest.path("persons")).to_pylist()}
    owner = _true_person_of(project, manifest)
    placed = [r for r in rows if r["nearest_store_id"] is not None and r["person_id"] in owner]
    assert len(placed) >= 0.75 * len(rows)
    right = sum(r["nearest_store_id"] == truth[owner[r["person_id"]]]["home_store_id"] for r in placed)
    errors = [abs(r["nearest_store_km"] - truth[owner[r["person_id"]]]["home_store_km"]) for r in placed]
    assert right / len(placed) >= 0.95
    assert statistics.median(errors) < 0.3
    assert {r["home_source"] for r in placed} == {"pings", "postcode"}


def test_archetypes_show_in_their_traits(baseline):
    rows, project, manifest = baseline
    archetype = {r["person_id"]: r["archetype"] for r in pq.read_table(manifest.path("persons")).to_pylist()}
    owner = _true_person_of(project, manifest)
    by_archetype: dict[str, list[dict]] = {}
    for row in rows:
        if row["person_id"] in owner:
            by_archetype.setdefault(archetype[owner[row["person_id"]]], []).append(row)

    def share(kind: str, test) -> float:
        return sum(map(test, by_archetype[kind])) / len(by_archetype[kind])

    assert share("online_only", lambda r: r["orders_offline"] == 0 and r["store_visits"] == 0) >= 0.95
    assert share("store_only", lambda r: r["orders_online"] == 0 and r["online_touches"] == 0) >= 0.95
    assert share("showroomer", lambda r: r["orders_offline"] == 0) >= 0.95
    omni = by_archetype["omnichannel"]
    assert sum(r["channel_mix"] == "both" for r in omni) > 0.5 * len(omni)


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_spark_builds_the_same_profiles(baseline, profiled_world, tmp_path):
    expected, _, _ = baseline
    found, _ = _profiled(profiled_world[0], tmp_path / "project", "spark")
    assert [r["person_id"] for r in found] == [r["person_id"] for r in expected]
    for got, want in zip(found, expected):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if isinstance(value, float):
                assert got[key] == pytest.approx(value, rel=1e-9), (key, want["person_id"])
            else:
                assert got[key] == value, (key, want["person_id"])
