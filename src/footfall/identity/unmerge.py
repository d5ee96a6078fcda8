"""Undoing a wrong merge: block the edge or the identifier that joined two people, then re-resolve.

A decision is stored in the operational store (who, when, why, which person it split) and every
later resolution applies it as a block (`resolve._block_lists`), so it survives reruns and new data.
Nothing is deleted: the events of both sides are untouched, only the mapping changes, and the side
that lost the person id usually gets its old id back (`history.py`: ids are keyed hashes of each
person's strongest identifier).

- `edge=(a, b)`: the accepted edge between a and b is never applied again.
- `identifier=x`: x joins nobody any more (a shared family email, a store tablet); the events that
  carry it still belong to their persons through their other identifiers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from footfall.errors import FootfallError
from footfall.identity.lookup import NotLinkedError, find_identifier, identity_table
from footfall.identity.resolve import ResolutionResult, resolve_identities
from footfall.identity.settings import IdentitySettings
from footfall.identity.store import IdentityStore
from footfall.warehouse import Warehouse


class UnmergeError(FootfallError):
    """An unmerge request that cannot be carried out as given."""


@dataclass
class UnmergeResult:
    """The stored decision and the persons on each side afterwards (when re-resolved)."""

    decision_id: int
    kind: str
    identifiers: list[str]
    person_before: str
    persons_after: dict[str, str | None] = field(default_factory=dict)  # identifier -> person after
    resolution: ResolutionResult | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["resolution"] = self.resolution.summary() if self.resolution else None
        return data


def _person_of(warehouse: Warehouse, key: str) -> str | None:
    mapping = identity_table(warehouse, "id_map")
    rows = mapping.filter(mapping.identifier == key).select("person_id").to_pyarrow()["person_id"].to_pylist()
    return rows[0] if rows else None


def _neighbours(warehouse: Warehouse, key: str) -> list[str]:
    """Identifiers joined to `key` by an accepted edge (whose persons show the split)."""
    edges = identity_table(warehouse, "identity_edges")
    touching = edges.filter((edges.status == "accepted") & ((edges.left == key) | (edges.right == key)))
    rows = touching.select("left", "right").to_pyarrow().to_pylist()
    return sorted({r["right"] if r["left"] == key else r["left"] for r in rows})


def unmerge(
    warehouse: Warehouse,
    *,
    reason: str,
    actor: str,
    edge: tuple[str, str] | None = None,
    identifier: str | None = None,
    resolve: bool = True,
    settings: IdentitySettings | None = None,
) -> UnmergeResult:
    """Record an unmerge decision for an edge or an identifier and (by default) re-resolve."""
    if (edge is None) == (identifier is None):
        raise UnmergeError("give either an edge (two identifiers) or one identifier to unmerge, not both or neither")
    if not reason.strip():
        raise UnmergeError("say why (--reason): the decision is kept in the merge history")
    if edge is not None:
        left, right = sorted(find_identifier(warehouse, text, settings) for text in edge)
        edges = identity_table(warehouse, "identity_edges")
        found = edges.filter((edges.left == left) & (edges.right == right) & (edges.status == "accepted"))
        person = found.select("person_id").to_pyarrow()["person_id"].to_pylist()
        if not person:
            raise NotLinkedError(
                f"{left} and {right} are not joined by an accepted edge; `footfall identity explain {left} --to {right}` "
                "shows the chain between them: unmerge one of its edges"
            )
        kind, keys, watched = "block_edge", [left, right], [left, right]
    else:
        key = find_identifier(warehouse, identifier or "", settings)
        person = [p for p in [_person_of(warehouse, key)] if p]
        if not person:
            raise UnmergeError(f"{key} belongs to no person already (it is detached); nothing to unmerge")
        kind, keys, watched = "block_identifier", [key], _neighbours(warehouse, key)
    with IdentityStore(warehouse.project) as store:
        decision = store.add_decision(kind, keys[0], keys[1] if len(keys) > 1 else None, person[0], actor, reason)
    result = UnmergeResult(decision.decision_id, kind, keys, person[0])
    if resolve:
        result.resolution = resolve_identities(warehouse, settings, actor=f"unmerge by {actor}")
        result.persons_after = {key: _person_of(warehouse, key) for key in [*keys, *watched]}
    return result
