"""Membership over time: evaluations record who entered and left, durably and whole, on both engines."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from footfall.errors import FootfallError
from footfall.lake import Lake
from footfall.segments.membership import (
    EvaluationOrderError,
    entered_since,
    evaluate_segment,
    last_evaluation,
    recorded_members,
    segment_changes,
    segment_history,
    segment_members,
)
from footfall.segments.store import SegmentStore
from footfall.warehouse import open_warehouse
from tests.identity.conftest import event, load, resolve


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=timezone.utc)


# u1 browses on the 1st and again on the 13th, u2 on the 5th, u3 on the 12th; u4 never browses.
VIEWS = [("u1", 1), ("u2", 5), ("u3", 12), ("u1", 13)]


def _browsing_project(project, directory, engine: str) -> dict[str, str]:
    """Resolve hand-written events on `engine`, store a 7-day browsers segment; returns user → person id."""
    events = [event(f"v{i}", f"2026-01-{day:02d}T10:00:00Z", user_id=user) for i, (user, day) in enumerate(VIEWS)]
    events.append(event("s1", "2026-01-02T10:00:00Z", event="Signed Up", user_id="u4"))
    load(project, directory, events)
    _, id_map = resolve(project, engine=engine)
    with SegmentStore(project) as store:
        store.create("browsers", 'did "Product Viewed" in 7d')
    return {user: id_map[f"user_id:{user}"] for user in ("u1", "u2", "u3", "u4")}


@pytest.fixture
def on_engine(project, tmp_path, engine) -> dict[str, str]:
    """The browsing project resolved on each engine (for the tests that compare engines)."""
    return _browsing_project(project, tmp_path, engine)


@pytest.fixture
def browsers(project, tmp_path) -> dict[str, str]:
    """The browsing project on DuckDB (for behaviour that does not depend on the engine)."""
    return _browsing_project(project, tmp_path, "duckdb")


def _ids(table) -> set[str]:
    return set(table.to_pyarrow().column("person_id").to_pylist())


def test_three_evaluations_record_entries_exits_and_re_entries(project, engine, on_engine):
    p = on_engine
    with open_warehouse(project, engine=engine) as warehouse, SegmentStore(project) as store:
        first = evaluate_segment(warehouse, store, "browsers", at(6))  # window (30 Dec, 6 Jan]: u1, u2
        second = evaluate_segment(warehouse, store, "browsers", at(10))  # (3 Jan, 10 Jan]: u2
        third = evaluate_segment(warehouse, store, "browsers", at(13))  # (6 Jan, 13 Jan]: u3, u1 again
        assert (first.size, first.entered, first.exited) == (2, 2, 0)
        assert (second.size, second.entered, second.exited) == (1, 0, 1)
        assert (third.size, third.entered, third.exited) == (2, 2, 1)
        changes = segment_changes(warehouse, "browsers").to_pyarrow().to_pylist()
        recorded = {(c["person_id"], c["change"], c["at"].day) for c in changes}
        assert recorded == {(p["u1"], "entered", 6), (p["u2"], "entered", 6), (p["u1"], "exited", 10),
                            (p["u3"], "entered", 13), (p["u1"], "entered", 13), (p["u2"], "exited", 13)}
        assert _ids(recorded_members(warehouse, "browsers")) == {p["u1"], p["u3"]}
        assert _ids(entered_since(warehouse, "browsers", at(7))) == {p["u1"], p["u3"]}
        assert _ids(entered_since(warehouse, "browsers", at(7), change="exited")) == {p["u1"], p["u2"]}
        sizes = segment_history(warehouse, "browsers").to_pyarrow().to_pylist()
        assert [(e["at"].day, e["size"], e["entered"], e["exited"]) for e in sizes] == [
            (6, 2, 2, 0), (10, 1, 0, 1), (13, 2, 2, 1)]
        assert last_evaluation(warehouse, "browsers").evaluation_id == third.evaluation_id


def test_reevaluating_unchanged_data_records_no_change(project, browsers):
    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        evaluate_segment(warehouse, store, "browsers", at(6))
        again = evaluate_segment(warehouse, store, "browsers", at(6))
        assert (again.size, again.entered, again.exited) == (2, 0, 0)
        assert segment_changes(warehouse, "browsers").count().to_pyarrow().as_py() == 2
        assert segment_history(warehouse, "browsers").count().to_pyarrow().as_py() == 2


def test_an_evaluation_earlier_than_the_last_is_refused_and_records_nothing(project, browsers):
    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        evaluate_segment(warehouse, store, "browsers", at(10))
        with pytest.raises(EvaluationOrderError, match="forward in time"):
            evaluate_segment(warehouse, store, "browsers", at(6))
        assert segment_history(warehouse, "browsers").count().to_pyarrow().as_py() == 1


def test_a_crash_mid_commit_leaves_no_partial_evaluation(project, browsers, monkeypatch):
    """Killed after the changes were staged, before the evaluation row: recovery drops the whole evaluation."""
    import footfall.lake as lake_module

    real_write = lake_module._write_parquet

    def die_at_evaluation_row(table, path):
        if "segment_evaluations" in str(path):
            raise KeyboardInterrupt("killed")
        real_write(table, path)

    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        evaluate_segment(warehouse, store, "browsers", at(6))
        monkeypatch.setattr(lake_module, "_write_parquet", die_at_evaluation_row)
        with pytest.raises(KeyboardInterrupt):
            evaluate_segment(warehouse, store, "browsers", at(13))
        monkeypatch.setattr(lake_module, "_write_parquet", real_write)
    assert any((project.lake_dir / "_staging").iterdir())  # the staged changes of the killed evaluation
    Lake(project.lake_dir).recover()
    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        assert segment_history(warehouse, "browsers").count().to_pyarrow().as_py() == 1
        assert segment_changes(warehouse, "browsers").count().to_pyarrow().as_py() == 2  # the first evaluation's
        redo = evaluate_segment(warehouse, store, "browsers", at(13))
        assert (redo.size, redo.entered, redo.exited) == (2, 1, 1)  # u3 entered, u2 left; u1 stayed


def test_segments_keep_separate_histories(project, browsers):
    with SegmentStore(project) as store:
        store.create("signed-up", 'did "Signed Up"')
    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        evaluate_segment(warehouse, store, "browsers", at(6))
        signed = evaluate_segment(warehouse, store, "signed-up", at(6))
        assert (signed.size, signed.entered) == (1, 1)
        assert _ids(recorded_members(warehouse, "signed-up")) == {browsers["u4"]}
        assert _ids(recorded_members(warehouse, "browsers")) == {browsers["u1"], browsers["u2"]}


def test_membership_is_not_written_to_events(project, browsers):
    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        before = warehouse.table("events").count().to_pyarrow().as_py()
        evaluate_segment(warehouse, store, "browsers", at(6))
        warehouse.refresh()
        events = warehouse.table("events")
        assert events.count().to_pyarrow().as_py() == before
        assert events.filter(events.event.isin(["Segment Entered", "Segment Exited"])).count().to_pyarrow().as_py() == 0


def test_evaluating_an_unknown_segment_names_it(project, browsers):
    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        with pytest.raises(FootfallError, match="no segment named 'nobody'"):
            evaluate_segment(warehouse, store, "nobody", at(6))


def test_changes_table_schema_is_the_lake_schema(project, browsers):
    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        evaluate_segment(warehouse, store, "browsers", at(6))
    files = Lake(project.lake_dir).files("segment_changes")
    assert len(files) == 1 and files[0].parent.name == "2026-01"
    import pyarrow.parquet as pq

    assert pq.read_schema(files[0]).field("change").type == pa.string()


def test_on_the_synthetic_world_recorded_members_equal_the_computed_ones(small_segment_world, tmp_path):
    """Every built-in, evaluated at three moments: the history always adds up to the members computed afresh."""
    from tests.segments.conftest import copy_project, world_end

    template, manifest = small_segment_world
    project = copy_project(template, tmp_path / "world")
    end = world_end(manifest)
    moments = [datetime.fromtimestamp(end.timestamp() - days * 86400, timezone.utc) for days in (40, 20, 0)]
    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        names = [d.name for d in store.definitions()]
        totals = {name: 0 for name in names}
        for moment in moments:
            for name in names:
                done = evaluate_segment(warehouse, store, name, moment)
                totals[name] += done.entered - done.exited
                assert totals[name] == done.size
        changed = 0
        for name in names:
            fresh = set(warehouse.to_arrow(segment_members(warehouse, store, name, moments[-1])).column("person_id").to_pylist())
            assert _ids(recorded_members(warehouse, name)) == fresh, name
            changed += segment_changes(warehouse, name).count().to_pyarrow().as_py()
        assert changed > sum(totals.values())  # people also left segments over the 40 days, not only entered


def test_record_members_takes_members_computed_elsewhere(project, browsers):
    """What incremental refresh hands over: duplicates and nulls are not members twice or at all."""
    from footfall.segments.membership import record_members

    p = browsers
    with open_warehouse(project) as warehouse, SegmentStore(project) as store:
        definition = store.get("browsers")
        handed = pa.table({"person_id": [p["u1"], p["u1"], None, p["u3"]]})
        first = record_members(warehouse, definition, at(13), handed)
        assert (first.size, first.entered, first.exited) == (2, 2, 0)
        second = record_members(warehouse, definition, at(14), pa.table({"person_id": [p["u3"]]}))
        assert (second.size, second.entered, second.exited) == (1, 0, 1)
        assert _ids(recorded_members(warehouse, "browsers")) == {p["u3"]}
