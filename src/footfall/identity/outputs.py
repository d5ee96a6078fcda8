"""The tables identity resolution leaves in the warehouse, for later modules to join with Ibis.

- `id_map`: identifier → person_id (identifier_type, first and last seen). Detached identifiers
  (shared, blocked, in conflict) are absent: they belong to nobody.
- `event_persons`: message_id → person_id for every event owned by a person (`records.record_owners`).
  Profiles and segments join events to persons through it; events are never rewritten.
- `persons`: one row per person: anchor, identifier counts by type, events, first/last seen, and
  when the person id was created.
- `identity_edges`: every edge considered, deterministic and probabilistic, with its evidence (source,
  first/last seen, records, example message_id, probability), status `accepted` or `refused`, the
  rule and detail of a refusal, and the person an accepted edge lies in.
"""

from __future__ import annotations

from datetime import datetime

import ibis
from ibis.expr.types import Table

from footfall.identity.identifiers import IDENTIFIER_TYPES, RECORD_TYPE

# persons' per-type count columns: user_id → user_ids, ... record → records_linked
COUNT_COLUMNS = {**{t: f"{t}s" for t in IDENTIFIER_TYPES}, RECORD_TYPE: "records_linked"}


def id_map(components: Table, assignment: Table, nodes: Table) -> Table:
    """identifier, identifier_type, person_id, first_seen, last_seen."""
    joined = components.join(assignment, "component").join(nodes, "node")
    return joined.select(
        identifier=joined.node,
        identifier_type=joined.identifier_type,
        person_id=joined.person_id,
        first_seen=joined.first_seen,
        last_seen=joined.last_seen,
    )


def identity_edges(edges: Table, detached: Table, refused: Table, mapping: Table) -> Table:
    """Every edge with its status: refused (by rule, or because an end was detached) or accepted."""
    left_detached = detached.select(left="node", left_rule="rule", left_detail="detail")
    right_detached = detached.select(right="node", right_rule="rule", right_detail="detail")
    refusals = refused.select("left", "right", edge_rule="rule", edge_detail="detail")
    persons = mapping.select(left="identifier", person_id="person_id")
    joined = (
        edges.left_join(refusals, ["left", "right"]).select(~ibis.selectors.endswith("_right"))
        .left_join(left_detached, "left").select(~ibis.selectors.endswith("_right"))
        .left_join(right_detached, "right").select(~ibis.selectors.endswith("_right"))
        .left_join(persons, "left").select(~ibis.selectors.endswith("_right"))
    )
    rule = ibis.coalesce(joined.edge_rule, joined.left_rule, joined.right_rule)
    detail = ibis.coalesce(
        joined.edge_detail,
        ibis.cases((joined.left_rule.notnull(), joined.left + " detached: " + joined.left_detail), else_=ibis.null("string")),
        ibis.cases((joined.right_rule.notnull(), joined.right + " detached: " + joined.right_detail), else_=ibis.null("string")),
    )
    return joined.select(
        "left", "right", "source", "probability", "first_seen", "last_seen", "records", "message_id",
        status=ibis.cases((rule.notnull(), "refused"), else_="accepted"),
        rule=rule,
        detail=detail,
        person_id=ibis.cases((rule.isnull(), joined.person_id), else_=ibis.null("string")),
    )


def persons(mapping: Table, assignment: Table, event_persons: Table, previous: Table | None, run_at: datetime) -> Table:
    """One row per person: anchor, identifiers by type, events owned, first/last seen, created_at."""
    counts = mapping.group_by("person_id").aggregate(
        identifiers=mapping.count(),
        first_seen=mapping.first_seen.min(),
        last_seen=mapping.last_seen.max(),
        **{column: (mapping.identifier_type == t).cast("int64").sum() for t, column in COUNT_COLUMNS.items()},
    )
    events = event_persons.group_by("person_id").aggregate(events=event_persons.count())
    table = counts.join(assignment.select("person_id", "anchor"), "person_id").left_join(events, "person_id")
    table = table.select(~ibis.selectors.endswith("_right"))
    created = ibis.literal(run_at, type="timestamp('UTC')")
    if previous is not None:
        before = previous.select(old_id=previous.person_id, old_created=previous.created_at)
        table = table.left_join(before, table.person_id == before.old_id)
        created = ibis.coalesce(table.old_created, created)
    return table.select(
        "person_id", "anchor", "identifiers", *COUNT_COLUMNS.values(),
        events=ibis.coalesce(table.events, 0), first_seen=table.first_seen, last_seen=table.last_seen,
        created_at=created,
    )
