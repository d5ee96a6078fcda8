"""The compiler on hand-written events whose members are known exactly, on DuckDB and on Spark."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from footfall.identity import IdentitySettings, resolve_identities
from footfall.project import Project, open_project
from footfall.segments import SegmentCompileError, compile_rule, event_condition_counts, parse
from footfall.warehouse import DERIVED_DIR, open_warehouse
from tests.identity.conftest import event, identify, load

AS_OF = datetime(2026, 3, 31, 0, 0, tzinfo=timezone.utc)
SHARED_TABLES = ("event_persons", "persons", "id_map", "profiles")


def day(n: int, hour: int = 12) -> str:
    return f"2026-03-{n:02d}T{hour:02d}:00:00Z"


def order(message_id: str, ts: str, user: str, channel: str, skus: list[str], amount: float, **properties) -> dict:
    return event(message_id, ts, event="Order Completed", channel=channel, user_id=user,
                 store_id="S1" if channel == "pos" else None,
                 properties={"order_id": message_id, "total": amount, "products": [{"sku": s} for s in skus], **properties})


def view(message_id: str, ts: str, user: str, sku: str, **properties) -> dict:
    return event(message_id, ts, event="Product Viewed", user_id=user, properties={"sku": sku, **properties})


EVENTS = [
    # u1: views A, buys A in a store two days later (ROPO)
    view("v1", day(1), "u1", "A"), order("o1", day(3), "u1", "pos", ["A", "Z"], 10),
    # u2: views B (red), buys C in a store: a store purchase, but not of the viewed product
    view("v2", day(1), "u2", "B", color="red"), order("o2", day(3), "u2", "pos", ["C"], 10),
    # u3: orders online for 80, views three times in the last days
    order("o3", day(20), "u3", "web", ["D"], 80),
    view("v3a", day(27), "u3", "D"), view("v3b", day(28), "u3", "E"), view("v3c", day(29), "u3", "F"),
    # u4: only known, no behaviour
    identify("i4", day(2), user_id="u4", email="u4@example.com"),
    # u5: views A, buys A in a store 19 days later (too late for "within 14d")
    view("v5", day(1), "u5", "A"), order("o5", day(20), "u5", "pos", ["A"], 10),
    # after as_of: never counted
    order("late", "2026-04-02T10:00:00Z", "u4", "web", ["A"], 99),
]

CASES = [
    ('did "Product Viewed"', {"u1", "u2", "u3", "u5"}),
    ('did "Product Viewed" >= 3', {"u3"}),
    ('did "Product Viewed" < 2', {"u1", "u2", "u4", "u5"}),
    ('did "Product Viewed" = 0', {"u4"}),
    ('not did "Product Viewed"', {"u4"}),
    ('did "Product Viewed"[realm=online] then "Order Completed"[realm=offline] within 14d same sku', {"u1"}),
    ('did "Product Viewed" then "Order Completed"[channel=pos] within 14d', {"u1", "u2"}),
    ('did "Product Viewed" then "Order Completed"[channel=pos] same sku', {"u1", "u5"}),
    ('did "Order Completed" then "Product Viewed"', {"u3"}),
    ('did "Order Completed"[amount>50]', {"u3"}),
    ('did "Order Completed"[sku=Z]', {"u1"}),
    ('did "Order Completed"[channel in (pos, kiosk)] and not did "Order Completed"[channel=web]', {"u1", "u2", "u5"}),
    ("did any in 5d", {"u3"}),
    ('did any[event in ("Product Viewed", "Order Completed")] in 2w', {"u3", "u5"}),
    ('did "Order Completed"[channel=web] or did "Product Viewed"[sku=B]', {"u2", "u3"}),
    ('did "Product Viewed"[properties.color=red]', {"u2"}),
    ('did "Product Viewed"[properties.color != null]', {"u2"}),
    ('not (did "Product Viewed" or did "Order Completed")', {"u4"}),
    ('did "Order Completed" and not did "Order Completed"[channel=pos] and not did "Product Viewed" in 1d', {"u3"}),
    ('in segment viewers and not in segment ropo', {"u2", "u3", "u5"}),
    ("orders_offline >= 1", {"u1", "u2", "u5"}),
    ('orders_online = 1 or orders_total = 0', {"u3", "u4"}),
]
LOOKUP = {"viewers": 'did "Product Viewed"'}


@pytest.fixture(scope="module")
def resolved_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-written project, resolved and profiled on DuckDB; its computed tables also as Parquet
    under lake/_derived so that Spark evaluates the very same persons."""
    from tests.conftest import init_project

    base = tmp_path_factory.mktemp("compiler")
    project = init_project(base / "project", timezone="Europe/London")
    settings_file = project.root / "footfall.toml"
    settings_file.write_text(settings_file.read_text().replace('master = "local[*]"', 'master = "local[2]"'))
    project = open_project(project.root)
    load(project, base, EVENTS)
    settings = IdentitySettings()
    settings.probabilistic.enabled = False
    with open_warehouse(project) as warehouse:
        resolve_identities(warehouse, settings)
        from footfall.profiles.traits import materialize_profiles

        materialize_profiles(warehouse, AS_OF)
        share_with_spark(project, warehouse)
    return project.root


def share_with_spark(project: Project, warehouse) -> None:
    for name in SHARED_TABLES:
        folder = project.lake_dir / DERIVED_DIR / name
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(warehouse.to_arrow(warehouse.table(name)), folder / "part-0.parquet")


def warehouse_on(project: Project, engine: str) -> Any:
    """The project's warehouse on `engine` (on Spark it reads this project's computed tables, even when
    another test's project left session views of the same name)."""
    return open_warehouse(project, engine=engine)


def members(project: Project, engine: str, text: str, per_condition: bool = False, **kwargs) -> set[str]:
    """Members of a rule as user ids (each hand-written person has exactly one).

    per_condition: aggregate each did condition on its own (the path rollups plug into) instead of
    all in one pass."""
    with warehouse_on(project, engine) as warehouse:
        if per_condition:
            kwargs["counts"] = lambda did: event_condition_counts(warehouse, did, AS_OF)
        ids = warehouse.to_arrow(warehouse.table("id_map").filter(lambda t: t.identifier_type == "user_id")
                                 .select("identifier", "person_id"))
        user_of = dict(zip(ids["person_id"].to_pylist(), ids["identifier"].to_pylist()))
        result = warehouse.to_arrow(compile_rule(parse(text), warehouse, AS_OF, **kwargs))
    assert result.column_names == ["person_id"]
    people = result["person_id"].to_pylist()
    assert len(people) == len(set(people)), "members are distinct"
    return {user_of[p].split(":", 1)[1] for p in people}


@pytest.fixture
def compiled_project(resolved_template: Path) -> Project:
    return open_project(resolved_template)


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_members_match_the_hand_written_truth(compiled_project: Project, engine: str, text: str, expected: set[str]) -> None:
    assert members(compiled_project, engine, text, segments=LOOKUP) == expected


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[c[0][:60] for c in CASES])
def test_per_condition_counts_give_the_same_members(compiled_project: Project, text: str, expected: set[str]) -> None:
    assert members(compiled_project, "duckdb", text, per_condition=True, segments=LOOKUP) == expected


def test_all_did_conditions_share_one_pass_over_the_events(compiled_project: Project) -> None:
    text = ('did "Product Viewed" >= 2 in 30d and not did "Order Completed"[channel=web] in 30d '
            'and (did "Order Completed"[channel=pos] or did any < 3) and orders_offline >= 1')
    with open_warehouse(compiled_project) as warehouse:
        sql = str(warehouse.con.compile(compile_rule(text, warehouse, AS_OF)))
        per_condition = str(warehouse.con.compile(compile_rule(
            text, warehouse, AS_OF, counts=lambda did: event_condition_counts(warehouse, did, AS_OF))))
    assert sql.count('"event_persons"') == 1 and sql.count('"profiles"') == 1
    assert per_condition.count('"event_persons"') == 4


def test_a_segment_given_as_a_table_of_members_is_used_as_it_is(compiled_project: Project) -> None:
    with open_warehouse(compiled_project) as warehouse:
        viewers = compile_rule('did "Product Viewed"', warehouse, AS_OF)
        expected = set(warehouse.to_arrow(compile_rule('did "Product Viewed" and not did "Order Completed"[channel=pos]',
                                                       warehouse, AS_OF))["person_id"].to_pylist())
        given = compile_rule('in segment viewers and not did "Order Completed"[channel=pos]', warehouse, AS_OF,
                             segments={"viewers": viewers})
        assert set(warehouse.to_arrow(given)["person_id"].to_pylist()) == expected and len(expected) == 1


def test_segment_cycles_and_unknown_segments_are_clear_errors(compiled_project: Project) -> None:
    with open_warehouse(compiled_project) as warehouse:
        with pytest.raises(SegmentCompileError, match="refers to itself: a → b → a"):
            compile_rule('in segment a', warehouse, AS_OF, segments={"a": 'in segment b', "b": "in segment a"})
        with pytest.raises(SegmentCompileError, match="no segment named 'nope'"):
            compile_rule('in segment nope', warehouse, AS_OF)
        with pytest.raises(SegmentCompileError, match="no column 'shoe_size'"):
            compile_rule("shoe_size > 40", warehouse, AS_OF)
        with pytest.raises(SegmentCompileError, match="amount holds numbers"):
            compile_rule('did any[amount="lots"]', warehouse, AS_OF)
        with pytest.raises(SegmentCompileError, match="channel holds text"):
            compile_rule("did any[channel=5]", warehouse, AS_OF)


def test_traits_without_profiles_ask_for_a_profile_build(resolved_template: Path, tmp_path: Path) -> None:
    shutil.copytree(resolved_template, tmp_path / "copy")
    project = open_project(tmp_path / "copy")
    with open_warehouse(project) as warehouse:
        warehouse.con.drop_table("profiles")
        # event rules still work without profiles
        assert warehouse.to_arrow(compile_rule('did "Product Viewed"', warehouse, AS_OF)).num_rows == 4
        with pytest.raises(SegmentCompileError, match="footfall profile build"):
            compile_rule("nearest_store_km < 10", warehouse, AS_OF)
