"""Applying accepted probabilistic links to the deterministic persons, under the same limits.

The deterministic graph has already been protected and split into persons; a probabilistic link joins
two *units* (a person, keyed by its component, or an unowned record, keyed `record:<message_id>`).
Rather than recomputing components over the whole graph, the links are contracted: components over
the (small, already in memory) graph of units give each unit its group, and every identifier follows
its unit. A group
that would break a limit (say a thin person's phones added to a person who already has three) is not
formed: all links inside it are refused with rule `over_limit`, and its units stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from footfall.identity.engine import cached
from footfall.identity.identifiers import type_of

@dataclass
class Linked:
    """Persons after the links: node → component, and the links that were refused."""

    components: Table  # node, component
    refused: Table  # left, right, rule, detail


def link_groups(links: pa.Table) -> pa.Table:
    """unit, group: each linked unit and the smallest unit key it is linked to, directly or through
    other links. The links are already in memory (Splink's predictions come back to the driver), so
    this is a union-find here rather than another round of engine queries."""
    parent: dict[str, str] = {}

    def find(unit: str) -> str:
        parent.setdefault(unit, unit)
        while parent[unit] != unit:
            parent[unit] = parent[parent[unit]]
            unit = parent[unit]
        return unit

    for left, right in zip(links["left"].to_pylist(), links["right"].to_pylist()):
        a, b = find(left), find(right)
        if a != b:
            parent[max(a, b)] = min(a, b)
    units = sorted(parent)
    return pa.table({"unit": pa.array(units, pa.string()), "group": pa.array([find(u) for u in units], pa.string())})


def apply_links(components: Table, record_nodes: Table, links: Table, groups: Table, rules: Table) -> Linked:
    """Merge units joined by `links` (left, right); refuse links whose group would break a limit.

    components: node, component (deterministic persons); record_nodes: node (linked records, which
    are their own unit); groups: unit, group (`link_groups`); rules: identifier_type, max_count.
    """
    units = components.union(record_nodes.select("node", component="node"), distinct=False)
    grouped = cached(units.left_join(groups, units.component == groups.unit).select("node", "component", "group"))
    linked = grouped.filter(grouped.group.notnull())
    typed = linked.mutate(identifier_type=type_of(linked.node)).join(rules, "identifier_type")
    counts = typed.group_by(["group", "identifier_type", "max_count"]).aggregate(held=typed.count())
    broken = counts.filter(counts.held > counts.max_count)
    broken = cached(broken.group_by("group").aggregate(
        detail=("the linked person would hold " + broken.held.cast("string") + " " + broken.identifier_type
                + " identifiers (limit " + broken.max_count.cast("string") + ")").min()
    ))
    with_group = links.join(groups.select(left="unit", left_group="group"), "left")
    refused = with_group.join(broken, with_group.left_group == broken.group)
    refused = refused.select("left", "right", rule=ibis.literal("over_limit"), detail=refused.detail)
    broken_groups = broken.select(broken_group="group")
    final = grouped.left_join(broken_groups, grouped.group == broken_groups.broken_group)
    component = ibis.cases((final.broken_group.isnull() & final.group.notnull(), final.group), else_=final.component)
    return Linked(final.select("node", component=component), refused)
