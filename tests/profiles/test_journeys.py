"""Timeline, paths and funnels on the hand-written scenario, on DuckDB and Spark."""

from __future__ import annotations

from datetime import timedelta

import pytest

from footfall.profiles import FunnelDefinitionError, PersonNotFoundError, funnel, timeline, top_paths


def test_timeline_by_raw_email_lists_every_event_in_order(scenario):
    with scenario.warehouse() as warehouse:
        found = timeline(warehouse, "Alice@Gmail.com", limit=None)
    assert found.person_id == scenario.persons["u_alice"]
    assert found.identifier == "email:alice@gmail.com"
    assert found.total_events == len(found.entries) == 19
    times = [e.timestamp for e in found.entries]
    assert times == sorted(times)
    visit = next(e for e in found.entries if e.event == "Store Visited")
    receipt = next(e for e in found.entries if e.channel == "pos")
    assert (visit.realm, visit.store_id) == ("offline", "S1")
    assert (receipt.event, receipt.store_id, receipt.properties["amount"]) == ("Order Completed", "S1", 10.0)
    assert found.entries[0].event == "Identify"
    assert found.traits is not None and found.traits["orders_total"] == 2


def test_timeline_by_user_id_person_id_and_limit(scenario):
    with scenario.warehouse() as warehouse:
        by_user = timeline(warehouse, "user_id:u_bob")
        by_person = timeline(warehouse, scenario.persons["u_bob"], limit=2, with_traits=False)
    assert by_user.person_id == by_person.person_id == scenario.persons["u_bob"]
    assert [e.event for e in by_user.entries] == ["Identify", "Product Viewed", "Order Completed"]
    assert (len(by_person.entries), by_person.total_events, by_person.traits) == (2, 3, None)


def test_timeline_of_an_unknown_identifier_says_how_to_find_one(scenario):
    with scenario.warehouse() as warehouse, pytest.raises(PersonNotFoundError, match="TYPE:VALUE"):
        timeline(warehouse, "email:nobody@gmail.com")


def test_paths_collapse_repeats_and_count_persons(scenario):
    with scenario.warehouse() as warehouse:
        pairs = top_paths(warehouse, length=2, top=3)
        triples = top_paths(warehouse, length=3, top=20)
    # Alice's two web views are one step; Alice and Erin both viewed on the web, then visited a store.
    assert (pairs[0].steps, pairs[0].persons, pairs[0].occurrences) == (("Product Viewed (web)", "Store Visited"), 2, 2)
    assert ("Product Viewed (web)", "Store Visited", "Order Completed (pos)") in {p.steps for p in triples}
    # Alice has 8 steps → 6 runs of 3; Bob (2 steps) and Erin (2 steps) have none.
    assert len(triples) == 6 and all(p.persons == 1 for p in triples)
    assert ("Product Viewed (web)", "Product Viewed (web)", "Store Visited") not in {p.steps for p in triples}


def test_paths_only_over_chosen_events(scenario):
    with scenario.warehouse() as warehouse:
        found = top_paths(warehouse, length=2, events=["Order Completed"])
    assert [(p.steps, p.persons) for p in found] == [(("Order Completed (pos)", "Order Completed (web)"), 1)]


def test_funnel_counts_conversion_and_median_time(scenario):
    steps = ["Product Viewed", "Store Visited", "Order Completed[channel=pos]"]
    with scenario.warehouse() as warehouse:
        results = funnel(warehouse, steps, timedelta(days=14))
    assert [r.persons for r in results] == [3, 1, 1]  # Erin's visit came 19 days after her view
    assert results[1].conversion_from_previous == pytest.approx(1 / 3)
    assert (results[2].conversion_from_previous, results[2].conversion_from_first) == (1.0, pytest.approx(1 / 3))
    # From the latest view before the visit (10:06) to the visit (12:00 next day); then 20 minutes.
    assert results[1].median_hours_from_previous == pytest.approx(25 + 54 / 60)
    assert results[2].median_hours_from_previous == pytest.approx(20 / 60)
    assert results[0].median_hours_from_previous is None and results[1].window == "14d"


def test_funnel_windows_per_step(scenario):
    steps = ["Product Viewed", "Store Visited", "Order Completed[channel=pos]"]
    with scenario.warehouse() as warehouse:
        wide = funnel(warehouse, steps, [timedelta(days=30), timedelta(minutes=10)])
        open_ended = funnel(warehouse, steps)
    assert [r.persons for r in wide] == [3, 2, 0]  # the receipt came 20 minutes after the visit
    assert [r.persons for r in open_ended] == [3, 2, 1]
    assert wide[1].median_hours_from_previous == pytest.approx(((25 + 54 / 60) + (19 * 24 + 3)) / 2)


def test_funnel_step_filters_use_the_segment_language(scenario):
    with scenario.warehouse() as warehouse:
        web = funnel(warehouse, ["Product Viewed[channel=app]", "Order Completed[channel=web, amount>=25]"])
        with pytest.raises(FunnelDefinitionError) as refused:
            funnel(warehouse, ["Product Viewed", "Order Completed[chanel=pos]"])
    assert [r.persons for r in web] == [1, 1]
    assert (refused.value.field, refused.value.position) == ("step[1]", 16)
    assert "unknown event field 'chanel'" in str(refused.value)
