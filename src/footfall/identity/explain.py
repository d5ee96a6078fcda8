"""Why an identifier belongs to its person: the chain of edges that joined them, as plain data.

`explain_identifier` answers from the materialised tables: the person the identifier maps to, all the
person's identifiers, the shortest chain of accepted edges from the identifier to the person's anchor
(or to another identifier), each edge with its source (identify, alias, track, receipt,
probabilistic...), when it was first seen, in how many records, an example message id and its
probability; the refused edges around the person (what merge protection kept apart, and why); and
the person's merge history. Everything is a dataclass of JSON-able values (`to_dict`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from footfall.identity.lookup import NotLinkedError, find_identifier, identity_table
from footfall.identity.settings import IdentitySettings
from footfall.identity.store import IdentityStore
from footfall.warehouse import Warehouse

MAX_REFUSED = 50


@dataclass(frozen=True)
class EdgeEvidence:
    """One edge between two identifiers and the evidence for (or against) it."""

    left: str
    right: str
    source: str
    probability: float | None
    first_seen: str | None
    last_seen: str | None
    records: int
    message_id: str | None
    status: str
    rule: str | None = None
    detail: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> EdgeEvidence:
        def iso(value: Any) -> str | None:
            return value.isoformat() if isinstance(value, datetime) else value

        return cls(
            left=row["left"], right=row["right"], source=row["source"], probability=row["probability"],
            first_seen=iso(row["first_seen"]), last_seen=iso(row["last_seen"]), records=int(row["records"] or 0),
            message_id=row["message_id"], status=row["status"], rule=row["rule"], detail=row["detail"],
        )

    def other(self, key: str) -> str:
        return self.right if key == self.left else self.left


@dataclass
class Explanation:
    """An identifier, its person, and the evidence that joined them."""

    identifier: str
    status: str  # assigned | detached
    person_id: str | None
    anchor: str | None
    target: str | None  # where `chain` leads: the anchor, or the identifier asked about with `other`
    chain: list[EdgeEvidence] = field(default_factory=list)
    identifiers: list[str] = field(default_factory=list)
    edges: list[EdgeEvidence] = field(default_factory=list)
    refused: list[EdgeEvidence] = field(default_factory=list)
    detached_reason: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def shortest_chain(start: str, goal: str, edges: list[EdgeEvidence]) -> list[EdgeEvidence]:
    """The fewest edges from `start` to `goal` (ties: earliest-seen edges first); [] when start == goal."""
    adjacency: dict[str, list[EdgeEvidence]] = {}
    for edge in sorted(edges, key=lambda e: (e.first_seen or "", e.left, e.right)):
        adjacency.setdefault(edge.left, []).append(edge)
        adjacency.setdefault(edge.right, []).append(edge)
    previous: dict[str, EdgeEvidence | None] = {start: None}
    queue = deque([start])
    while queue and goal not in previous:
        node = queue.popleft()
        for edge in adjacency.get(node, []):
            neighbour = edge.other(node)
            if neighbour not in previous:
                previous[neighbour] = edge
                queue.append(neighbour)
    if goal not in previous:
        return []
    chain, node = [], goal
    while previous[node] is not None:
        edge = previous[node]
        assert edge is not None
        chain.append(edge)
        node = edge.other(node)
    return list(reversed(chain))


def _edges(table: Any) -> list[EdgeEvidence]:
    return [EdgeEvidence.from_row(r) for r in table.to_pyarrow().to_pylist()]


def explain_identifier(
    warehouse: Warehouse, identifier: str, other: str | None = None, settings: IdentitySettings | None = None
) -> Explanation:
    """Explain `identifier` (and, with `other`, the chain joining the two). Raises
    UnknownIdentifierError for an identifier never seen, NotLinkedError when `other` is in another person."""
    key = find_identifier(warehouse, identifier, settings)
    mapping = identity_table(warehouse, "id_map")
    edge_table = identity_table(warehouse, "identity_edges")
    persons = identity_table(warehouse, "persons")
    found = mapping.filter(mapping.identifier == key).select("person_id").to_pyarrow()["person_id"].to_pylist()
    touching = edge_table.filter((edge_table.left == key) | (edge_table.right == key))
    if not found:
        refused = _edges(touching.filter(touching.status == "refused").order_by(["first_seen", "left", "right"]).limit(MAX_REFUSED))
        prefix = f"{key} detached: "
        own = [e.detail.removeprefix(prefix) for e in refused if e.detail and e.detail.startswith(prefix)]
        reason = own[0] if own else (refused[0].detail if refused else None)
        return Explanation(key, "detached", None, None, None, refused=refused, detached_reason=reason)
    person_id = found[0]
    anchor_rows = persons.filter(persons.person_id == person_id).select("anchor").to_pyarrow()["anchor"].to_pylist()
    anchor = anchor_rows[0] if anchor_rows else None
    members = sorted(mapping.filter(mapping.person_id == person_id).select("identifier").to_pyarrow()["identifier"].to_pylist())
    inside = _edges(edge_table.filter((edge_table.person_id == person_id) & (edge_table.status == "accepted")))
    around = edge_table.filter((edge_table.status == "refused") & (edge_table.left.isin(members) | edge_table.right.isin(members)))
    refused = _edges(around.order_by(["first_seen", "left", "right"]).limit(MAX_REFUSED))
    target = anchor
    if other is not None:
        target = find_identifier(warehouse, other, settings)
        if target not in members:
            raise NotLinkedError(f"{key} (person {person_id}) and {target} are not in the same person")
    with IdentityStore(warehouse.project) as store:
        history = store.history_of([person_id])
    return Explanation(
        identifier=key, status="assigned", person_id=person_id, anchor=anchor, target=target,
        chain=shortest_chain(key, target, inside) if target else [], identifiers=members,
        edges=sorted(inside, key=lambda e: (e.first_seen or "", e.left, e.right)), refused=refused, history=history,
    )
