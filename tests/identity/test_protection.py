"""Merge protection on hand-written scenarios: a household email, a store kiosk, a shared device,
the block list and limits; and garbage values that must not join anybody."""

from __future__ import annotations

import pytest

from footfall.identity import MergeProtection
from footfall.identity.engine import materialized
from footfall.warehouse import open_warehouse

from tests.identity.conftest import event, identify, load, resolve

T = "2026-02-0{}T1{}:00:00Z"


def _household(project, tmp_path):
    """Alice and Bob each have an account and a card; both give the family email at the till."""
    events = [
        identify("a1", T.format(1, 0), user_id="u_alice", anonymous_id="anon_alice", email="alice@mail.co.uk"),
        event("a2", T.format(1, 1), user_id="u_alice", anonymous_id="anon_alice", event="Order Completed",
              properties={"order_id": "W1", "total": 20, "card_token": "tok_alice"}),
        identify("b1", T.format(2, 0), user_id="u_bob", anonymous_id="anon_bob", email="bob@mail.co.uk"),
        event("b2", T.format(2, 1), user_id="u_bob", anonymous_id="anon_bob", event="Order Completed",
              properties={"order_id": "W2", "total": 30, "card_token": "tok_bob"}),
    ]
    receipts = [
        {"receipt_id": "R1", "timestamp": T.format(3, 0), "card_token": "tok_alice", "email": "Smith.Family@Mail.co.uk"},
        {"receipt_id": "R2", "timestamp": T.format(4, 0), "card_token": "tok_bob", "email": "smith.family@mail.co.uk "},
        {"receipt_id": "R3", "timestamp": T.format(5, 0), "email": "smith.family@mail.co.uk", "name": "Bob Smith"},
    ]
    load(project, tmp_path, events, receipts)


def test_household_email_does_not_merge_two_account_holders(project, tmp_path):
    _household(project, tmp_path)
    result, persons = resolve(project)
    assert persons["user_id:u_alice"] == persons["card_token:tok_alice"] == persons["email:alice@mail.co.uk"]
    assert persons["user_id:u_bob"] == persons["card_token:tok_bob"] == persons["email:bob@mail.co.uk"]
    assert persons["user_id:u_alice"] != persons["user_id:u_bob"]
    assert "email:smith.family@mail.co.uk" not in persons  # shared: it belongs to neither
    assert result.rule_counts == {"detached conflict": 1, "refused edges conflict": 2}  # the email's two card edges
    with open_warehouse(project) as warehouse:
        owners = {r["message_id"]: r["person_id"] for r in materialized(warehouse, "event_persons").to_pyarrow().to_pylist()}
        refused = materialized(warehouse, "identity_edges").filter(lambda t: t.status == "refused").to_pyarrow().to_pylist()
    assert owners["pos:S1:R1"] == persons["user_id:u_alice"] and owners["pos:S1:R2"] == persons["user_id:u_bob"]
    assert "pos:S1:R3" not in owners  # only the shared email: left to probabilistic matching
    assert {e["rule"] for e in refused} == {"conflict"}
    assert all("email:smith.family@mail.co.uk detached" in e["detail"] for e in refused)


def test_without_the_user_id_limit_the_household_collapses_into_one_person(project, tmp_path):
    _household(project, tmp_path)
    limits = {**MergeProtection().limits, "user_id": 5}
    _, persons = resolve(project, limits=limits)
    assert persons["user_id:u_alice"] == persons["user_id:u_bob"] == persons["email:smith.family@mail.co.uk"]


def _kiosk(signups: int) -> list[dict]:
    """`signups` account holders sign up on one store tablet (one anonymous id for all)."""
    events = []
    for i in range(signups):
        events.append(identify(f"i{i}", T.format(1, i % 10), user_id=f"u{i}", anonymous_id=f"web{i}", email=f"p{i}@mail.co.uk"))
        events.append(event(f"k{i}", T.format(2, i % 10), event="Signed Up", channel="kiosk", anonymous_id="kiosk-S1",
                            traits={"email": f"p{i}@mail.co.uk"}, store_id="S1"))
    return events


@pytest.mark.parametrize("signups, rule", [(7, "shared"), (3, "conflict")])
def test_store_kiosk_id_does_not_merge_the_people_who_signed_up_on_it(project, tmp_path, signups, rule):
    load(project, tmp_path, _kiosk(signups))
    result, persons = resolve(project)
    assert len({persons[f"user_id:u{i}"] for i in range(signups)}) == signups
    assert all(persons[f"email:p{i}@mail.co.uk"] == persons[f"user_id:u{i}"] for i in range(signups))
    assert "anonymous_id:kiosk-S1" not in persons
    assert result.rule_counts.get(f"detached {rule}") == 1


def test_shared_device_is_detached_and_reported(project, tmp_path):
    events = [
        event("d1", T.format(1, 0), channel="app", user_id="u_ann", anonymous_id="app_ann", device_id="FAMILY-IPAD"),
        event("d2", T.format(2, 0), channel="app", user_id="u_ben", anonymous_id="app_ben", device_id="family-ipad"),
    ]
    load(project, tmp_path, events)
    result, persons = resolve(project)
    assert persons["user_id:u_ann"] != persons["user_id:u_ben"]
    assert "device_id:family-ipad" not in persons
    assert result.rule_counts == {"detached shared": 1, "refused edges shared": 4}


def test_blocked_identifier_joins_nobody(project, tmp_path):
    events = [identify("x1", T.format(1, 0), user_id="u1", email="orders@shop.co.uk"),
              identify("x2", T.format(2, 0), anonymous_id="a2", email="orders@shop.co.uk")]
    load(project, tmp_path, events)
    result, persons = resolve(project, blocked=["email:orders@shop.co.uk"])
    assert "email:orders@shop.co.uk" not in persons and persons["user_id:u1"] != persons["anonymous_id:a2"]
    assert result.rule_counts["detached blocked"] == 1


def test_identifiers_beyond_a_limit_are_refused_earliest_first(project, tmp_path):
    events = [identify(f"e{i}", T.format(1 + i, 0), user_id="u1", email=f"me{i}@mail.co.uk") for i in range(5)]
    load(project, tmp_path, events)
    result, persons = resolve(project, limits={**MergeProtection().limits, "email": 3})
    kept = [i for i in range(5) if persons[f"email:me{i}@mail.co.uk"] == persons["user_id:u1"]]
    assert kept == [0, 1, 2]  # the two latest emails are not added to the person
    assert result.rule_counts["refused edges over_limit"] == 2


def test_garbage_values_are_counted_and_join_nobody(project, tmp_path):
    events = [
        identify("g1", T.format(1, 0), user_id="u1", anonymous_id="undefined", email="test@test.com", phone="0000000000"),
        identify("g2", T.format(2, 0), user_id="u2", anonymous_id="undefined", email="TEST@test.com ", phone="07700 123456"),
        event("g3", T.format(3, 0), user_id="null", anonymous_id="a3"),
    ]
    load(project, tmp_path, events)
    result, persons = resolve(project)
    assert persons["user_id:u1"] != persons["user_id:u2"]
    garbage = {(g.identifier_type, g.reason): (g.occurrences, g.distinct_values) for g in result.garbage}
    assert garbage == {
        ("anonymous_id", "placeholder"): (2, 1),
        ("email", "placeholder email"): (2, 2),
        ("phone", "placeholder phone"): (1, 1),
        ("user_id", "placeholder"): (1, 1),
    }
    assert persons["phone:+447700123456"] == persons["user_id:u2"]
