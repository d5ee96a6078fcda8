"""Segment definitions in the op store: validated on create, canonical, built-ins read-only, no cycles."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from footfall.errors import AlreadyExistsError, FootfallError, InvalidDefinitionError, NotFoundError, ReadOnlyError
from footfall.opstore import operational_engine
from footfall.segments import BUILTIN_SEGMENTS, SegmentSyntaxError, parse, rule_to_json
from footfall.segments.store import SegmentStore, segment_definitions, segment_references


@pytest.fixture
def store(project):
    with SegmentStore(project) as opened:
        yield opened


def test_create_stores_canonical_text_and_json(project, store):
    created = store.create("browsers", 'did   "Product Viewed"[channel = web] >= 1  in 30d', "recent web browsers")
    assert created.text == 'did "Product Viewed"[channel=web] in 30d'
    assert created.rule == parse(created.text) and created.builtin is False
    assert created.created_at is not None and created.created_at == created.updated_at
    engine = operational_engine(project)
    with engine.connect() as connection:
        row = connection.execute(select(segment_definitions)).one()
    engine.dispose()
    assert (row.name, row.text, row.description) == ("browsers", created.text, "recent web browsers")
    assert json.loads(row.rule_json) == rule_to_json(created.rule)


def test_definitions_survive_a_new_store(project, store):
    store.create("browsers", 'did "Product Viewed" in 30d')
    with SegmentStore(project) as again:
        assert again.get("browsers").text == 'did "Product Viewed" in 30d'


def test_list_has_builtins_first_then_stored_by_name(store):
    store.create("zeta", 'did "Signed Up"')
    store.create("alpha", 'did "Signed Up"')
    names = [d.name for d in store.definitions()]
    assert names == [*BUILTIN_SEGMENTS, "alpha", "zeta"]
    assert all(d.builtin for d in store.definitions()[:len(BUILTIN_SEGMENTS)])


def test_a_syntax_error_keeps_its_position_and_stores_nothing(store):
    with pytest.raises(SegmentSyntaxError) as caught:
        store.create("broken", 'did "Product Viewed" >= in 7d')
    assert caught.value.position == len('did "Product Viewed" >= ')
    assert store.find("broken") is None


def test_names_must_be_slugs(store):
    for bad in ("Big Spenders", "", "-lead", "a" * 65, "café"):
        with pytest.raises(InvalidDefinitionError) as caught:
            store.create(bad, 'did "Signed Up"')
        assert caught.value.field == "name"


def test_an_existing_name_needs_replace(store):
    first = store.create("browsers", 'did "Product Viewed"')
    with pytest.raises(AlreadyExistsError, match="--replace"):
        store.create("browsers", 'did "Signed Up"')
    replaced = store.create("browsers", 'did "Signed Up"', replace=True)
    assert replaced.text == 'did "Signed Up"' and replaced.created_at == first.created_at
    assert replaced.updated_at >= first.updated_at


def test_builtins_are_always_there_and_read_only(store):
    assert store.get("ropo").builtin and store.get("ropo").rule == parse(BUILTIN_SEGMENTS["ropo"])
    with pytest.raises(ReadOnlyError):
        store.create("ropo", 'did "Signed Up"', replace=True)
    with pytest.raises(ReadOnlyError):
        store.delete("ropo")


def test_references_must_exist(store):
    with pytest.raises(InvalidDefinitionError, match="whales") as caught:
        store.create("vip", 'did "Order Completed" and in segment whales')
    assert caught.value.field == "text"
    store.create("whales", 'did "Order Completed" >= 5')
    assert store.create("vip", 'did "Order Completed" and in segment whales').name == "vip"
    assert store.create("ropo-vip", "in segment ropo and in segment vip").name == "ropo-vip"  # built-ins count


def test_cycles_are_refused_directly_and_through_others(store):
    with pytest.raises(InvalidDefinitionError, match="itself"):
        store.create("loop", 'did "Signed Up" or in segment loop')
    store.create("a", 'did "Signed Up"')
    store.create("b", "in segment a")
    store.create("c", "in segment b")
    with pytest.raises(InvalidDefinitionError, match="a → c → b → a"):
        store.create("a", "not in segment c", replace=True)
    assert store.get("a").text == 'did "Signed Up"'


def test_references_are_found_under_not_and_or(store):
    rule = parse('did "Signed Up" and (in segment a or not in segment b)')
    assert list(segment_references(rule)) == ["a", "b"]


def test_delete_refuses_used_segments_and_unknown_names(store):
    store.create("a", 'did "Signed Up"')
    store.create("b", "in segment a")
    with pytest.raises(FootfallError, match="used by b"):
        store.delete("a")
    store.delete("b")
    store.delete("a")
    with pytest.raises(NotFoundError):
        store.get("a")
    with pytest.raises(NotFoundError):
        store.delete("a")


def test_lookup_feeds_the_compiler(store):
    store.create("a", 'did "Signed Up"')
    assert store.lookup("a") == parse('did "Signed Up"')
    assert store.lookup("ropo") == parse(BUILTIN_SEGMENTS["ropo"])
    assert store.lookup("nobody") is None
