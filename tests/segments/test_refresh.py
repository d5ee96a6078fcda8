"""Incremental refresh gives exactly the members of a full evaluation from raw events.

A resolved, profiled synthetic world is replayed into a fresh project in several loads (each one
lake batch, with owners appended to `event_persons` as an upstream identity system would, so identity
does not change between loads): most events first, then loads whose events are scattered over the
whole window (late, landing in old days), with `as_of` just before midnight, just after it, exactly
at it and far later. After every refresh each segment's members must equal `compile_rule` over the
raw events, on DuckDB and on Spark.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from footfall.identity.engine import bind
from footfall.lake import Lake
from footfall.project import Project, init_project, open_project
from footfall.segments import BUILTIN_SEGMENTS, compile_rule
from footfall.segments.refresh import refresh_segments, refreshed_members
from footfall.segments.rollups import read_manifest, rollup_dir, update_rollups
from footfall.warehouse import open_warehouse

# Hand-written rules that exercise each path: cube counts, windows shorter than a day, filters the
# cube cannot answer, negation over everyone, counts that hold at zero, sequences with a window.
RULES = {
    **BUILTIN_SEGMENTS,
    "views_no_web_order": 'did "Product Viewed" >= 2 in 30d and not did "Order Completed"[channel=web] in 30d',
    "busy_half_day": "did any[realm=online] >= 3 in 12h",
    "big_order_this_week": 'did "Order Completed"[amount > 50] in 7d',
    "no_recent_visit": 'not did "Store Visited" in 14d',
    "few_orders": 'did "Order Completed" < 2 in 10d',
    "viewed_then_bought": 'did "Product Viewed" then "Order Completed" within 3d in 20d',
    "anything_at_all": "did any >= 1",
    "json_price": 'did "Product Viewed"[properties.price > 20] in 30d',
    "pos_at_store": 'did "Order Completed"[channel=pos, store_id in ("S001", "S002")] >= 1 in 5d',
    # windowless sequences kept by their per-person index: no bound, and two `same` fields
    "visited_then_bought_there": 'did "Store Visited" then "Order Completed"[realm=offline] same store_id',
    "visited_then_bought_same_store_realm": 'did "Store Visited" then "Order Completed" within 10d same (store_id, realm)',
}
# Spark runs a job per query: a smaller set that still covers every path (cube, partial days, log-only
# filters, negation, sequences), and the midnight steps.
SPARK_RULES = ("ropo", "store_only", "views_no_web_order", "busy_half_day", "big_order_this_week",
               "no_recent_visit", "viewed_then_bought")
# Reads JSON properties (not in the rollups): evaluated whole at every refresh. (Traits are condition
# states recomputed from `profiles`, so `online_only_near_store` is incremental.)
WHOLE_RULES = ("json_price",)
AS_OFS = [
    datetime(2026, 2, 20, 12, tzinfo=timezone.utc),
    datetime(2026, 2, 21, 23, 59, 59, tzinfo=timezone.utc),  # just before midnight
    datetime(2026, 2, 22, 0, 0, 1, tzinfo=timezone.utc),  # just after it
    datetime(2026, 3, 1, tzinfo=timezone.utc),  # exactly at midnight, a week later
]


@dataclass
class World:
    """The replayable contents of a resolved world."""

    events: pa.Table
    order_lines: pa.Table
    owners: pa.Table
    persons: pa.Table
    profiles: pa.Table
    stores: Path


@pytest.fixture(scope="session")
def replay_world(small_segment_world, tmp_path_factory) -> World:
    template, manifest = small_segment_world
    project = open_project(template)
    with open_warehouse(project, engine="duckdb", read_only=True) as warehouse:
        tables = {name: warehouse.to_arrow(warehouse.table(name))
                  for name in ("events", "order_lines", "event_persons", "persons", "profiles")}
    return World(tables["events"], tables["order_lines"], tables["event_persons"], tables["persons"],
                 tables["profiles"], Path(manifest.out_dir) / "stores.parquet")


def _bucket(ids: pa.ChunkedArray) -> pa.Array:
    return pa.array([int(hashlib.md5(i.encode()).hexdigest()[:6], 16) % 20 for i in ids.to_pylist()])


def _project(base: Path) -> Project:
    project = init_project(base, timezone="Europe/London")
    settings = project.root / "footfall.toml"
    settings.write_text(settings.read_text().replace('master = "local[*]"', 'master = "local[2]"')
                        .replace("shuffle_partitions = 8", "shuffle_partitions = 2"))
    return open_project(project.root)


class Replay:
    """Loads parts of a world into a project, keeping identity and profiles as the world has them."""

    def __init__(self, world: World, project: Project, engine: str) -> None:
        self.world, self.project, self.engine = world, project, engine
        self.loaded = pa.array([False] * world.events.num_rows)
        from footfall.ingest import import_files

        import_files(project, "stores", [world.stores])

    def load(self, mask: pa.Array) -> int:
        events = self.world.events.filter(mask)
        lines = self.world.order_lines.filter(pc.is_in(self.world.order_lines["message_id"], events["message_id"]))
        Lake(self.project.lake_dir).commit({"events": events, "order_lines": lines})
        self.loaded = pc.or_(self.loaded, mask)
        ids = self.world.events.filter(self.loaded)["message_id"]
        with open_warehouse(self.project, engine=self.engine) as warehouse:
            if self.engine == "duckdb" and "event_persons" in warehouse.materialized_tables():
                # append the new events' owners, as an upstream identity system does
                new = self.world.owners.filter(pc.is_in(self.world.owners["message_id"], events["message_id"]))
                warehouse.con.con.register("_replay_new_owners", new)
                warehouse.con.con.execute("INSERT INTO event_persons SELECT message_id, person_id FROM _replay_new_owners")
            else:  # Spark keeps materialised tables as Parquet written whole
                owners = self.world.owners.filter(pc.is_in(self.world.owners["message_id"], ids))
                warehouse.materialize("event_persons", bind(warehouse, "_replay_owners", owners))
            if "persons" not in warehouse.materialized_tables():
                warehouse.materialize("persons", bind(warehouse, "_replay_persons", self.world.persons))
                warehouse.materialize("profiles", bind(warehouse, "_replay_profiles", self.world.profiles))
        return events.num_rows

    def check(self, as_of: datetime, names: tuple[str, ...] | None = None) -> dict[str, object]:
        """Refresh the rules and compare with a full evaluation; returns the reports by segment."""
        rules = {name: RULES[name] for name in names} if names else RULES
        with open_warehouse(self.project, engine=self.engine) as warehouse:
            reports = {r.segment: r for r in refresh_segments(warehouse, rules, as_of, lookup=RULES.get)}
            for name, rule in rules.items():
                full = set(warehouse.to_arrow(compile_rule(rule, warehouse, as_of, segments=RULES))["person_id"].to_pylist())
                refreshed = set(refreshed_members(warehouse, name)["person_id"].to_pylist())
                assert refreshed == full, (name, as_of, reports[name], sorted(refreshed ^ full)[:5])
                assert reports[name].members == len(full)
        return reports


def test_refresh_after_loads_matches_full_evaluation(replay_world, tmp_path, engine):
    """Late events, midnight on both sides and a week's jump: identical members after every refresh."""
    replay = Replay(replay_world, _project(tmp_path / "project"), engine)
    bucket = _bucket(replay_world.events["message_id"])
    loads = [pc.less(bucket, 14), pc.equal(bucket, 14), pc.equal(bucket, 15), pc.greater_equal(bucket, 16)]
    names = SPARK_RULES if engine == "spark" else None
    steps = list(zip(loads, AS_OFS))[: 3 if engine == "spark" else 4]
    for step, (mask, as_of) in enumerate(steps):
        added = replay.load(mask)
        reports = replay.check(as_of, names)
        modes = {r.mode for name, r in reports.items() if name not in WHOLE_RULES}
        assert modes == ({"full"} if step == 0 else {"incremental"}), (step, modes)
        assert all(reports[name].mode == "full" for name in WHOLE_RULES if name in reports)  # not from rollups
        assert all(r.new_events > 0 for r in reports.values()) and added > 0
    if engine == "duckdb":  # the index rules have members, so comparing them could fail
        assert reports["visited_then_bought_there"].members and reports["visited_then_bought_same_store_realm"].members


def test_refresh_touches_only_people_with_new_or_sliding_events(replay_world, tmp_path):
    """A few late events of two people: only people with new events or window edges are evaluated."""
    replay = Replay(replay_world, _project(tmp_path / "project"), "duckdb")
    events = replay_world.events
    owners = dict(zip(replay_world.owners["message_id"].to_pylist(), replay_world.owners["person_id"].to_pylist()))
    early = pc.less(events["timestamp"], pa.scalar(datetime(2026, 2, 1, tzinfo=timezone.utc)))
    people = sorted({owners[m] for m in events.filter(early)["message_id"].to_pylist() if m in owners})[:2]
    theirs = pa.array([owners.get(m) in people for m in events["message_id"].to_pylist()])
    late = pc.and_(theirs, early)
    replay.load(pc.invert(late))
    replay.check(AS_OFS[0])
    replay.load(late)
    reports = replay.check(AS_OFS[0])  # same as_of: nothing slides, only the late events matter
    total = replay_world.persons.num_rows
    for name, report in reports.items():
        if name not in WHOLE_RULES:
            assert report.mode == "incremental"
            assert report.persons_evaluated <= len(people) < total  # only people whose events a rule reads
    assert reports["anything_at_all"].persons_evaluated == len(people)
    reports = replay.check(AS_OFS[1])  # time passes: people whose events cross a window edge too
    moved = {name: r for name, r in reports.items() if r.mode == "incremental"}
    assert all(r.persons_evaluated < total for r in moved.values())
    # a rule of one rare sequence may gain no pair in a step; every other rule sees someone change
    assert all(r.persons_evaluated > 0 for name, r in moved.items() if not name.startswith("visited_then"))


def test_time_passing_alone_moves_people_out_of_windows(replay_world, tmp_path):
    """No new events, as_of three weeks later: people slide out of '30d' windows, exactly."""
    replay = Replay(replay_world, _project(tmp_path / "project"), "duckdb")
    replay.load(pa.array([True] * replay_world.events.num_rows))
    before = replay.check(AS_OFS[0])
    after = replay.check(datetime(2026, 3, 14, 6, tzinfo=timezone.utc))
    assert after["views_no_web_order"].mode == "incremental" and after["views_no_web_order"].new_events == 0
    assert after["views_no_web_order"].exited > 0  # the window really moved people
    assert before["views_no_web_order"].members != after["views_no_web_order"].members


def test_identity_run_rebuilds_rollups_and_stays_exact(replay_world, tmp_path):
    """A new `footfall resolve` rewrites event_persons: the rollups are stamped again, members stay exact."""
    from footfall.identity import IdentitySettings, resolve_identities

    replay = Replay(replay_world, _project(tmp_path / "project"), "duckdb")
    bucket = _bucket(replay_world.events["message_id"])
    replay.load(pc.less(bucket, 16))
    replay.check(AS_OFS[0])
    replay.load(pc.greater_equal(bucket, 16))
    settings = IdentitySettings()
    settings.probabilistic.enabled = False
    with open_warehouse(replay.project) as warehouse:
        resolve_identities(warehouse, settings)
    reports = replay.check(AS_OFS[1])
    assert {r.reason for r in reports.values()} == {"rollups rebuilt (identity changed)"}


def test_crash_before_commit_neither_skips_nor_double_counts(replay_world, tmp_path, monkeypatch):
    """An update that dies after writing its parts leaves the old manifest; the next one applies the batch once."""
    from footfall.segments import rollups

    replay = Replay(replay_world, _project(tmp_path / "project"), "duckdb")
    bucket = _bucket(replay_world.events["message_id"])
    replay.load(pc.less(bucket, 10))
    replay.check(AS_OFS[0])
    replay.load(pc.greater_equal(bucket, 10))
    directory = rollup_dir(replay.project)
    committed = read_manifest(directory)

    def crash(*args, **kwargs):
        raise RuntimeError("killed before the manifest was replaced")

    monkeypatch.setattr(rollups, "_write_manifest", crash)
    with open_warehouse(replay.project) as warehouse, pytest.raises(RuntimeError):
        update_rollups(warehouse)
    assert read_manifest(directory) == committed  # nothing of the batch is visible
    orphans = [p for p in (directory / "cube").rglob("*.parquet") if str(p.relative_to(directory)) not in committed.cube]
    assert orphans  # the parts were written
    monkeypatch.undo()
    reports = replay.check(AS_OFS[1])  # exact: the batch counted once
    assert all(r.new_batches > 0 for r in reports.values())
    assert not [p for p in (directory / "cube").rglob("*.parquet")
                if str(p.relative_to(directory)) not in read_manifest(directory).cube]


def test_a_rebuild_that_dies_leaves_no_universe_behind(replay_world, tmp_path, monkeypatch):
    """A rebuild numbers people in a new universe file before its parts; dying before the manifest
    leaves that file uncommitted, and the next update removes it: one universe, the manifest's."""
    from footfall.segments import rollups

    replay = Replay(replay_world, _project(tmp_path / "project"), "duckdb")
    replay.load(pc.less(_bucket(replay_world.events["message_id"]), 10))
    directory = rollup_dir(replay.project)

    def crash(*args, **kwargs):
        raise RuntimeError("killed before the manifest was replaced")

    monkeypatch.setattr(rollups, "_write_manifest", crash)
    with open_warehouse(replay.project) as warehouse, pytest.raises(RuntimeError):
        update_rollups(warehouse)
    assert read_manifest(directory) is None and len(list(directory.glob("persons-*"))) == 2  # Arrow and Parquet
    monkeypatch.undo()
    replay.check(AS_OFS[0])
    generation = read_manifest(directory).generation
    assert sorted(p.name for p in directory.glob("persons-*")) == [f"persons-{generation}.arrow", f"persons-{generation}.parquet"]


def test_cli_refresh_records_entries_and_reports_what_it_touched(replay_world, tmp_path, capsys):
    """`footfall segment refresh --all`: incremental after a load, recorded as evaluations, members exact."""
    from footfall.segments.membership import recorded_members
    from tests.conftest import run_cli

    replay = Replay(replay_world, _project(tmp_path / "project"), "duckdb")
    bucket = _bucket(replay_world.events["message_id"])
    replay.load(pc.less(bucket, 18))
    root = str(replay.project.root)
    code, out, err = run_cli(["segment", "refresh", "--all", "--as-of", "2026-02-20T12:00:00Z", "--project", root], capsys)
    assert code == 0, err
    assert "Rollups rebuild" in out and "everyone" in out
    replay.load(pc.greater_equal(bucket, 18))
    # the loader rolls its batch up when it writes it; the refresh then finds nothing left to roll up
    code, out, err = run_cli(["segment", "rollups", "--project", root], capsys)
    assert code == 0, err
    assert re.search(r"Rollups incremental: [1-9]\d* lake files and [1-9][\d,]* events", out)
    code, out, err = run_cli(["segment", "refresh", "ropo", "--as-of", "2026-02-22T00:00:00Z", "--project", root], capsys)
    assert code == 0, err
    assert "incremental" in out and "Rollups unchanged: 0 lake files" in out
    with open_warehouse(replay.project) as warehouse:
        full = compile_rule(BUILTIN_SEGMENTS["ropo"], warehouse, AS_OFS[2].replace(second=0))
        assert (set(warehouse.to_arrow(recorded_members(warehouse, "ropo"))["person_id"].to_pylist())
                == set(warehouse.to_arrow(full)["person_id"].to_pylist()))
    code, out, err = run_cli(["segment", "refresh", "--project", root], capsys)
    assert code == 2 and "--all" in (out + err)


def test_events_waiting_for_identity_change_nothing_until_they_are_owned(replay_world, tmp_path):
    """Events loaded before identity owns them belong to nobody, in a refresh as in a full evaluation."""
    replay = Replay(replay_world, _project(tmp_path / "project"), "duckdb")
    bucket = _bucket(replay_world.events["message_id"])
    replay.load(pc.less(bucket, 16))
    replay.check(AS_OFS[0])
    waiting = replay_world.events.filter(pc.greater_equal(bucket, 16))
    Lake(replay.project.lake_dir).commit({"events": waiting})  # no owners appended
    reports = replay.check(AS_OFS[0])
    assert {(r.rollups, r.new_events) for r in reports.values()} == {("incremental", 0)}
    assert all(r.entered == r.exited == 0 for r in reports.values())


def test_traits_are_read_again_only_when_profiles_change(replay_world, tmp_path):
    """A trait leaf keeps its set while `profiles` keeps its version; a rebuilt `profiles` is read again
    and the members follow it exactly."""
    import json

    from footfall.segments.condition_state import leaf_key, leaves
    from footfall.segments.language import parse

    replay = Replay(replay_world, _project(tmp_path / "project"), "duckdb")
    bucket = _bucket(replay_world.events["message_id"])
    replay.load(pc.less(bucket, 18))
    names = ("online_only_near_store",)
    replay.check(AS_OFS[0], names)
    trait = next(leaf for leaf in leaves(parse(RULES["online_only_near_store"])) if type(leaf).__name__ == "Trait")
    state_file = rollup_dir(replay.project) / "conditions" / leaf_key(trait) / "state.json"
    first = json.loads(state_file.read_text())
    with open_warehouse(replay.project) as warehouse:
        assert first["inputs"] == warehouse.version_of("profiles") is not None

    replay.load(pc.greater_equal(bucket, 18))
    replay.check(AS_OFS[1], names)
    assert json.loads(state_file.read_text()) == first  # profiles unchanged: not read (a read moves its as_of)

    # everyone's nearest store moves 3 km further: some people leave the "near" set
    with open_warehouse(replay.project) as warehouse:
        moved = replay_world.profiles.set_column(
            replay_world.profiles.schema.get_field_index("nearest_store_km"), "nearest_store_km",
            pc.add(replay_world.profiles["nearest_store_km"], 3.0))
        warehouse.materialize("profiles", bind(warehouse, "_moved_profiles", moved))
    reports = replay.check(AS_OFS[1], names)  # compares with a full evaluation over the new profiles
    after = json.loads(state_file.read_text())
    assert after["version"] > first["version"] and after["inputs"] != first["inputs"]
    assert reports["online_only_near_store"].mode == "incremental" and reports["online_only_near_store"].exited > 0
