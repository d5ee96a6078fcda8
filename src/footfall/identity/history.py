"""Stable person ids across reruns, and the merges and splits between two runs.

A rerun computes components from scratch, then gives each component a person id by comparing it with
the previous run's id map:

1. each previous person is *claimed* by the component holding most of its identifiers (ties: the
   smallest component key);
2. a component that claimed several previous persons keeps the one it shares most identifiers with
   (ties: the smallest person id) — the others are recorded as **merged** into it;
3. a component that claimed nobody gets a new id, a keyed hash of its anchor (its strongest
   identifier, `p_` + 16 hex digits of md5(salt + anchor)); when that id is already in use (the
   anchor moved), the run id is mixed in. Because an unmerged person usually keeps its anchor (its
   user_id), it gets its *old* id back;
4. a previous person whose identifiers now lie in components other than the one that claimed it
   is recorded as **split**, once per component it lost identifiers to.

Everything is Ibis, so it runs on both engines; only the history rows (a handful per run) are
collected to be written to the operational store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
from ibis.expr.types import Table

from footfall.identity.engine import cached
from footfall.identity.identifiers import type_of

_ANCHOR_RANK_WIDTH = 3
MAX_CAUSE_EDGES = 5


def anchors(components: Table, ranks: Table) -> Table:
    """component, anchor: each component's strongest identifier (lowest rank, then smallest key)."""
    typed = components.mutate(identifier_type=type_of(components.node)).join(ranks, "identifier_type")
    choice = typed.rank.cast("string").lpad(_ANCHOR_RANK_WIDTH, "0").concat("|", typed.node)
    best = typed.group_by("component").aggregate(choice=choice.min())
    return best.select("component", anchor=best.choice.substr(_ANCHOR_RANK_WIDTH + 1))


def _claims(components: Table, previous: Table) -> Table:
    """component, old_person, shared, claimed (whether this component claims old_person)."""
    overlap = components.join(previous, components.node == previous.identifier)
    shared = overlap.group_by(["component", "old_person"]).aggregate(shared=overlap.count())
    order = ibis.row_number().over(group_by="old_person", order_by=[ibis.desc("shared"), "component"])
    return shared.mutate(claimed=order == 0)


@dataclass
class PersonIds:
    """Each component's person id, and what changed since the previous run."""

    assignment: Table  # component, person_id, anchor, kept (bool: an id carried over from before)
    history: list[dict[str, Any]] = field(default_factory=list)
    created: int = 0
    kept: int = 0


def assign_person_ids(
    components: Table,
    ranks: Table,
    previous: Table | None,
    salt: str,
    run_id: str,
) -> PersonIds:
    """Person ids for `components` (node, component), stable against `previous` (identifier, person_id)."""
    anchor = anchors(components, ranks)
    fresh = "p_" + (ibis.literal(salt) + anchor.anchor).hexdigest("md5").substr(0, 16)
    if previous is None:
        assignment = cached(anchor.select("component", "anchor", person_id=fresh, kept=ibis.literal(False)))
        return PersonIds(assignment, created=int(assignment.count().execute()))
    claims = cached(_claims(components, previous.select("identifier", old_person=previous.person_id)))
    won = claims.filter(claims.claimed)
    order = ibis.row_number().over(group_by="component", order_by=[ibis.desc("shared"), "old_person"])
    won = cached(won.mutate(order=order))
    kept = won.filter(won.order == 0).select("component", kept_person="old_person")
    with_kept = anchor.left_join(kept, "component").select("component", "anchor", "kept_person")
    taken = kept.select(taken_id=kept.kept_person)
    candidate = with_kept.mutate(fresh="p_" + (ibis.literal(salt) + with_kept.anchor).hexdigest("md5").substr(0, 16))
    candidate = candidate.left_join(taken, candidate.fresh == taken.taken_id)
    rehashed = "p_" + (ibis.literal(salt + run_id) + candidate.anchor).hexdigest("md5").substr(0, 16)
    person_id = ibis.coalesce(
        candidate.kept_person, ibis.cases((candidate.taken_id.notnull(), rehashed), else_=candidate.fresh)
    )
    assignment = cached(candidate.select(
        "component", "anchor", person_id=person_id, kept=candidate.kept_person.notnull()
    ))
    merged = won.filter(won.order > 0).join(assignment, "component")
    merged_rows = merged.select(person_id=merged.person_id, other_person_id=merged.old_person, component=merged.component)
    split = claims.filter(~claims.claimed).join(assignment, "component")
    split_rows = split.select(old_person=split.old_person, new_person=split.person_id, lost=split.shared)
    counts = assignment.aggregate(kept=assignment.kept.cast("int64").sum(), total=assignment.count()).to_pyarrow().to_pylist()[0]
    history = [
        {"kind": "merged", "person_id": r["person_id"], "other_person_id": r["other_person_id"], "component": r["component"]}
        for r in merged_rows.order_by(["person_id", "other_person_id"]).to_pyarrow().to_pylist()
    ] + [
        {"kind": "split", "person_id": r["old_person"], "other_person_id": r["new_person"], "lost_identifiers": int(r["lost"])}
        for r in split_rows.order_by(["old_person", "new_person"]).to_pyarrow().to_pylist()
    ]
    kept_count = int(counts["kept"] or 0)
    return PersonIds(assignment, history, created=int(counts["total"]) - kept_count, kept=kept_count)


def merge_causes(history: list[dict[str, Any]], components: Table, edges: Table, previous: Table) -> None:
    """Attach to each merge the accepted edges that joined the two previous persons (up to 5).

    An edge is a cause when its ends belonged to different previous persons, or one end is new and the
    other belonged to one of the two. Fills `cause` in place.
    """
    merges = [h for h in history if h["kind"] == "merged"]
    if not merges:
        return
    wanted = ibis.memtable({"component": [h["component"] for h in merges]})
    inside = components.join(wanted, "component")
    left_owner = previous.select(left_id=previous.identifier, left_old=previous.person_id)
    right_owner = previous.select(right_id=previous.identifier, right_old=previous.person_id)
    candidates = edges.join(inside.select(left="node", component="component"), "left")
    candidates = candidates.left_join(left_owner, candidates.left == left_owner.left_id)
    candidates = candidates.left_join(right_owner, candidates.right == right_owner.right_id)
    rows = candidates.filter(
        candidates.left_old.isnull() | candidates.right_old.isnull() | (candidates.left_old != candidates.right_old)
    ).select("component", "left", "right", "source", "probability", "first_seen", "left_old", "right_old")
    found = rows.order_by(["component", ibis.desc("first_seen"), "left", "right"]).to_pyarrow().to_pylist()
    for merge in merges:
        pair = {merge["person_id"], merge["other_person_id"]}
        edges_of = [
            {"left": r["left"], "right": r["right"], "source": r["source"], "probability": r["probability"],
             "first_seen": r["first_seen"].isoformat() if isinstance(r["first_seen"], datetime) else r["first_seen"]}
            for r in found
            if r["component"] == merge["component"] and ({r["left_old"], r["right_old"]} - {None}) <= pair
        ]
        merge["cause"] = {"edges": edges_of[:MAX_CAUSE_EDGES]}


def history_rows(history: list[dict[str, Any]], run_id: str, at: datetime, actor: str) -> list[dict[str, Any]]:
    """History entries as rows of `identity_history`."""
    rows = []
    for entry in history:
        cause = entry.get("cause") or {k: v for k, v in entry.items() if k not in ("kind", "person_id", "other_person_id", "component")}
        rows.append(
            {"run_id": run_id, "at": at, "kind": entry["kind"], "person_id": entry["person_id"],
             "other_person_id": entry["other_person_id"], "cause": json.dumps(cause, default=str), "actor": actor,
             "reason": None}
        )
    return rows
