"""Stable person ids across reruns with new data, merge history with causes, and unmerge round trips."""

from __future__ import annotations

import pytest

from footfall.identity import NotLinkedError, UnknownIdentifierError, UnmergeError, unmerge
from footfall.identity.engine import materialized
from footfall.identity.store import IdentityStore
from footfall.warehouse import open_warehouse

from tests.identity.conftest import event, identify, load, resolve


def _owners(project) -> dict[str, str]:
    with open_warehouse(project) as warehouse:
        rows = materialized(warehouse, "event_persons").to_pyarrow().to_pylist()
    return {r["message_id"]: r["person_id"] for r in rows}


def test_person_ids_survive_new_data_and_merges_are_recorded_with_their_cause(project, tmp_path):
    load(project, tmp_path, [
        identify("a1", "2026-03-01T10:00:00Z", user_id="u_alice", anonymous_id="web_alice", email="alice@mail.co.uk"),
        event("b1", "2026-03-01T11:00:00Z", anonymous_id="web_bob"),
        identify("c1", "2026-03-01T12:00:00Z", user_id="u_carol", anonymous_id="web_carol"),
        event("c2", "2026-03-01T13:00:00Z", channel="app", anonymous_id="app_carol"),
    ], name="first")
    first, before = resolve(project)
    assert first.created == 4 and first.kept == 0
    load(project, tmp_path, [
        identify("b2", "2026-03-02T10:00:00Z", user_id="u_bob", anonymous_id="web_bob"),  # Bob signs up
        identify("c3", "2026-03-02T11:00:00Z", user_id="u_carol", anonymous_id="app_carol"),  # Carol logs in on the app
        event("d1", "2026-03-02T12:00:00Z", anonymous_id="web_dave"),
    ], name="second")
    second, after = resolve(project)
    assert after["user_id:u_alice"] == before["user_id:u_alice"]
    assert after["user_id:u_bob"] == after["anonymous_id:web_bob"] == before["anonymous_id:web_bob"]
    carol = before["user_id:u_carol"]
    assert after["anonymous_id:app_carol"] == after["user_id:u_carol"] == carol  # the larger side keeps its id
    assert after["anonymous_id:web_dave"] not in before.values()
    assert (second.created, second.kept, second.merged, second.split) == (1, 3, 1, 0)
    with IdentityStore(project) as store:
        history = store.history_of([carol])
    merge = next(h for h in history if h["kind"] == "merged")
    assert (merge["person_id"], merge["other_person_id"]) == (carol, before["anonymous_id:app_carol"])
    assert [(e["left"], e["right"], e["source"]) for e in merge["cause"]["edges"]] == [
        ("anonymous_id:app_carol", "user_id:u_carol", "identify")
    ]


def _wrong_merge(project, tmp_path):
    """Bob (store only) and Alice (online) are separate; then a cashier types Alice's email on Bob's receipt."""
    load(project, tmp_path, [
        identify("a1", "2026-03-01T10:00:00Z", user_id="u_alice", anonymous_id="web_alice", email="alice@mail.co.uk"),
    ], receipts=[
        {"receipt_id": "R1", "timestamp": "2026-03-01T15:00:00Z", "card_token": "tok_bob", "name": "Bob Jones"},
        {"receipt_id": "R2", "timestamp": "2026-03-02T15:00:00Z", "card_token": "tok_bob", "phone": "07700 111222"},
    ], name="first")
    _, before = resolve(project)
    load(project, tmp_path, [], receipts=[
        {"receipt_id": "R3", "timestamp": "2026-03-03T15:00:00Z", "card_token": "tok_bob", "email": "alice@mail.co.uk"},
    ], name="typo")
    merged, during = resolve(project)
    assert merged.merged == 1 and during["card_token:tok_bob"] == during["user_id:u_alice"] == before["user_id:u_alice"]
    return before


def test_unmerging_an_edge_gives_both_people_back_their_ids_and_events(project, tmp_path):
    before = _wrong_merge(project, tmp_path)
    alice, bob = before["user_id:u_alice"], before["card_token:tok_bob"]
    with open_warehouse(project) as warehouse:
        result = unmerge(warehouse, edge=("card_token:tok_bob", "alice@mail.co.uk"), actor="store manager",
                         reason="cashier typed the wrong email")
    assert result.person_before == alice
    assert result.persons_after == {"card_token:tok_bob": bob, "email:alice@mail.co.uk": alice}
    owners = _owners(project)
    assert owners["a1"] == alice
    assert owners["pos:S1:R1"] == owners["pos:S1:R2"] == owners["pos:S1:R3"] == bob  # Bob's history is his again
    with IdentityStore(project) as store:
        kinds = [(h["kind"], h["actor"]) for h in store.history_of([bob])]
        decisions = store.active_decisions()
    assert ("merged", "footfall resolve") in kinds and ("split", "unmerge by store manager") in kinds
    assert [(d.kind, d.identifier, d.other_identifier, d.actor, d.reason) for d in decisions] == [
        ("block_edge", "card_token:tok_bob", "email:alice@mail.co.uk", "store manager", "cashier typed the wrong email")
    ]
    load(project, tmp_path, [event("a2", "2026-03-05T10:00:00Z", user_id="u_alice")], name="later")
    _, later = resolve(project)  # a later run respects the decision
    assert later["card_token:tok_bob"] == bob and later["user_id:u_alice"] == alice


def test_unmerging_an_identifier_detaches_it_and_splits_the_person(project, tmp_path):
    before = _wrong_merge(project, tmp_path)
    with open_warehouse(project) as warehouse:
        result = unmerge(warehouse, identifier="email:alice@mail.co.uk", actor="dpo", reason="shared inbox")
    assert result.persons_after["email:alice@mail.co.uk"] is None
    assert result.persons_after["card_token:tok_bob"] == before["card_token:tok_bob"]
    assert result.persons_after["user_id:u_alice"] == before["user_id:u_alice"]
    assert result.resolution is not None and result.resolution.rule_counts["detached blocked"] == 1


def test_unmerge_refuses_unknown_identifiers_and_unlinked_pairs(project, tmp_path):
    _wrong_merge(project, tmp_path)
    with open_warehouse(project) as warehouse:
        with pytest.raises(UnknownIdentifierError, match="nobody@mail.co.uk"):
            unmerge(warehouse, identifier="nobody@mail.co.uk", actor="me", reason="x")
        with pytest.raises(NotLinkedError, match="explain"):
            unmerge(warehouse, edge=("user_id:u_alice", "card_token:tok_bob"), actor="me", reason="x")
        with pytest.raises(UnmergeError, match="reason"):
            unmerge(warehouse, identifier="user_id:u_alice", actor="me", reason=" ")
