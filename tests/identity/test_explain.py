"""`explain_identifier`: the person, their identifiers, and the chain of edges with evidence; as JSON."""

from __future__ import annotations

import json

import pytest

from footfall.identity import NotLinkedError, NotResolvedError, UnknownIdentifierError, explain_identifier
from footfall.warehouse import open_warehouse

from tests.identity.conftest import resolve
from tests.identity.test_protection import _household


@pytest.fixture
def household(project, tmp_path):
    _household(project, tmp_path)
    _, persons = resolve(project)
    return project, persons


def test_explain_shows_the_chain_from_an_identifier_to_the_persons_anchor(household):
    project, persons = household
    with open_warehouse(project) as warehouse:
        explained = explain_identifier(warehouse, " Alice@Mail.co.uk")  # typed as a person would
    assert (explained.identifier, explained.status) == ("email:alice@mail.co.uk", "assigned")
    assert explained.person_id == persons["user_id:u_alice"] and explained.anchor == "user_id:u_alice"
    assert explained.identifiers == ["anonymous_id:anon_alice", "card_token:tok_alice", "email:alice@mail.co.uk", "user_id:u_alice"]
    [edge] = explained.chain
    assert (edge.left, edge.right, edge.source, edge.message_id, edge.records, edge.probability) == (
        "email:alice@mail.co.uk", "user_id:u_alice", "identify", "a1", 1, 1.0)
    assert edge.first_seen.startswith("2026-02-01T10:00:00")
    refused = {(e.left, e.right, e.rule) for e in explained.refused}
    assert refused == {("card_token:tok_alice", "email:smith.family@mail.co.uk", "conflict")}
    json.dumps(explained.to_dict())  # JSON-able as it is


def test_explain_between_two_identifiers_follows_the_shortest_chain(household):
    project, _ = household
    with open_warehouse(project) as warehouse:
        explained = explain_identifier(warehouse, "card_token:tok_alice", other="email:alice@mail.co.uk")
        with pytest.raises(NotLinkedError, match="not in the same person"):
            explain_identifier(warehouse, "user_id:u_alice", other="user_id:u_bob")
    assert [(e.left, e.right) for e in explained.chain] in (
        [("anonymous_id:anon_alice", "card_token:tok_alice"), ("anonymous_id:anon_alice", "email:alice@mail.co.uk")],
        [("card_token:tok_alice", "user_id:u_alice"), ("email:alice@mail.co.uk", "user_id:u_alice")],
    )


def test_explain_a_detached_identifier_says_why_it_belongs_to_nobody(household):
    project, persons = household
    with open_warehouse(project) as warehouse:
        explained = explain_identifier(warehouse, "email:smith.family@mail.co.uk")
    assert explained.status == "detached" and explained.person_id is None
    assert explained.detached_reason == "equally close to user_id:u_alice and user_id:u_bob"
    assert len(explained.refused) == 2


def test_explain_refuses_unknown_identifiers_and_unresolved_projects(project, household):
    resolved, _ = household
    with open_warehouse(resolved) as warehouse:
        with pytest.raises(UnknownIdentifierError, match="TYPE:VALUE"):
            explain_identifier(warehouse, "email:nobody@mail.co.uk")


def test_explain_before_any_resolution_asks_to_resolve(tmp_path):
    from footfall.project import init_project

    fresh = init_project(tmp_path / "fresh")
    with open_warehouse(fresh) as warehouse, pytest.raises(NotResolvedError, match="footfall resolve"):
        explain_identifier(warehouse, "user_id:u1")
