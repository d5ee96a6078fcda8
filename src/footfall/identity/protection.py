"""Merge protection: limits per identifier type, priorities and a block list, enforced on the graph.

The reference is Segment's identity-resolution settings: a person holds at most `limits[type]`
identifiers of a type (one user_id, one loyalty number, five emails, ...), types are ranked by
`priority`, and when an event would merge two profiles beyond a limit Segment drops the event's
lowest-priority identifier. Footfall applies the same rules to the whole graph at once, so the
result does not depend on the order events arrived in. Nothing is deleted: a refused edge or a
detached identifier stays in `identity_edges` with status `rejected` and the rule that refused it.

1. **Blocked** identifiers (settings, or `footfall identity unmerge --identifier`) are detached:
   they join nobody. Blocked edges (`unmerge --edge`) are not applied.
2. **Shared identifiers, seen directly**: an identifier seen with more distinct identifiers of type T
   than `limits[T]` cannot belong to one person with all of them. When it ranks below T (a store
   kiosk's anonymous_id seen with 40 emails, a family laptop's anonymous_id with 2 user_ids) it is
   detached as shared; when it ranks above T (a user_id seen with 7 emails) it keeps the
   `limits[T]` earliest of those edges and the later ones are refused.
3. **Persons over a limit**, found after connected components (a household email reaching two
   account holders through their cards): for a type with limit 1 the person is split around its
   identifiers of that type (each identifier joins the nearest one), and whatever links two regions
   is detached — the lower-priority end of a bridging edge, or an identifier equally close to both.
   For larger limits the earliest-seen identifiers are kept and the rest detached. Components are
   recomputed and checked again, up to `max_rounds` times (`conflicts.py`: only the conflicting
   components are collected for this, so the rest of the graph never leaves the engine).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import ibis
import pyarrow as pa
from ibis.expr.types import Table
from pydantic import BaseModel, ConfigDict, Field, model_validator

from footfall.identity.engine import cached
from footfall.identity.conflicts import ConflictNode, ConflictResolution, split_conflicts
from footfall.identity.graph import connected_components
from footfall.identity.identifiers import IDENTIFIER_TYPES, RECORD_TYPE, type_of

Binder = Callable[[str, pa.Table], Table]


def _default_limits() -> dict[str, int]:
    return {"user_id": 1, "loyalty_id": 1, "card_token": 5, "device_id": 5, "phone": 3, "email": 5,
            "anonymous_id": 1000, RECORD_TYPE: 1_000_000}


class MergeProtection(BaseModel):
    """Merge-protection settings (the `[protection]` table of `identity.toml`)."""

    model_config = ConfigDict(extra="forbid")
    limits: dict[str, int] = Field(default_factory=_default_limits)
    # Strongest first: which identifier gives way when two persons must stay apart.
    priority: list[str] = Field(default_factory=lambda: [*IDENTIFIER_TYPES, RECORD_TYPE])
    # Identifier keys (`email:test@shop.example`) that never join anybody.
    blocked: list[str] = Field(default_factory=list)
    max_rounds: int = Field(default=8, ge=1, le=64)

    @model_validator(mode="after")
    def _complete_and_known(self) -> MergeProtection:
        known = {*IDENTIFIER_TYPES, RECORD_TYPE}
        unknown = (set(self.limits) | set(self.priority)) - known
        if unknown:
            raise ValueError(f"unknown identifier types {sorted(unknown)}; known: {sorted(known)}")
        if bad := {k: v for k, v in self.limits.items() if v < 1}:
            raise ValueError(f"limits must be at least 1, got {bad}")
        self.limits = {**_default_limits(), **self.limits}
        missing = [t for t in (*IDENTIFIER_TYPES, RECORD_TYPE) if t not in self.priority]
        if len(set(self.priority)) != len(self.priority):
            raise ValueError("priority lists an identifier type twice")
        self.priority = [*self.priority, *missing]
        return self

    def rules(self) -> Table:
        """identifier_type, max_count, rank (0 = strongest) as a memtable to join on."""
        return ibis.memtable(
            {
                "identifier_type": self.priority,
                "max_count": [self.limits[t] for t in self.priority],
                "rank": list(range(len(self.priority))),
            }
        )


@dataclass
class Protected:
    """The graph after protection: where each node belongs, and what was refused and why."""

    components: Table  # node, component (detached identifiers are absent)
    detached: Table  # node, rule, detail
    refused_edges: Table  # left, right, rule, detail
    rounds: int = 0
    unresolved_conflicts: int = 0  # persons still over a limit after max_rounds (reported, not hidden)
    rule_counts: dict[str, int] = field(default_factory=dict)  # "detached <rule>": identifiers


def _seen_with_too_many(edges: Table, rules: Table, bind: Binder) -> tuple[Table, Table | None]:
    """Rule 2: identifiers seen directly with more identifiers of a type than its limit.

    Returns (detached: node, rule, detail) for identifiers ranked below the over-represented type,
    and (refused: left, right, rule, detail, or None when there are none) for the later edges of
    identifiers ranked above it. The offenders are few, so they are collected in one query.
    """
    directed = edges.select(src=edges.left, dst=edges.right, first_seen=edges.first_seen).union(
        edges.select(src=edges.right, dst=edges.left, first_seen=edges.first_seen), distinct=False
    )
    directed = directed.mutate(src_type=type_of(directed.src), dst_type=type_of(directed.dst))
    src_rules = rules.select(src_type="identifier_type", src_rank="rank")
    dst_rules = rules.select(dst_type="identifier_type", dst_max="max_count", dst_rank="rank")
    full = directed.join(src_rules, "src_type").join(dst_rules, "dst_type")
    counts = full.group_by(["src", "src_rank", "dst_type", "dst_max", "dst_rank"]).aggregate(seen=full.dst.nunique())
    over = counts.filter(counts.seen > counts.dst_max).order_by(["src", "dst_rank"]).to_pyarrow().to_pylist()
    shared: dict[str, str] = {}
    for row in over:
        if row["src_rank"] >= row["dst_rank"]:
            shared.setdefault(row["src"], f"seen with {row['seen']} {row['dst_type']} identifiers (limit {row['dst_max']})")
    detached = bind("_identity_shared", pa.table({
        "node": pa.array(list(shared), pa.string()),
        "rule": pa.array(["shared"] * len(shared), pa.string()),
        "detail": pa.array(list(shared.values()), pa.string()),
    }))
    stronger = [(r["src"], r["dst_type"]) for r in over if r["src_rank"] < r["dst_rank"] and r["src"] not in shared]
    if not stronger:
        return detached, None
    wanted = bind("_identity_over_limit", pa.table(
        {"src": pa.array([s for s, _ in stronger], pa.string()), "dst_type": pa.array([t for _, t in stronger], pa.string())}
    ))
    ranked = full.join(wanted, ["src", "dst_type"]).mutate(
        order=ibis.row_number().over(group_by=["src", "dst_type"], order_by=["first_seen", "dst"])
    )
    late = ranked.filter(ranked.order >= ranked.dst_max)
    refused = late.select(
        left=ibis.least(late.src, late.dst),
        right=ibis.greatest(late.src, late.dst),
        rule=ibis.literal("over_limit"),
        detail=late.src + " already has " + late.dst_max.cast("string") + " " + late.dst_type + " identifiers",
    )
    return detached, refused


def _over_limit_components(components: Table, rules: Table) -> Table:
    """component: every person holding more identifiers of some type than its limit."""
    typed = components.mutate(identifier_type=type_of(components.node)).join(rules, "identifier_type")
    counts = typed.group_by(["component", "identifier_type", "max_count"]).aggregate(held=typed.count())
    return counts.filter(counts.held > counts.max_count).select("component").distinct()


def _applicable(edges: Table, detached: Table, refused: Table) -> Table:
    """Edges touching no detached identifier and not refused themselves."""
    kept = edges.filter(~edges.left.isin(detached.node) & ~edges.right.isin(detached.node))
    return kept.anti_join(refused, ["left", "right"])


def _split(
    components: Table, nodes: Table, applicable: Table, over: Table, protection: MergeProtection, bind: Binder
) -> tuple[Table, Table, Table, ConflictResolution]:
    """Rule 3 on the collected conflicting components; returns (detached, refused, components) as
    warehouse tables for just those components, and the resolution (rounds, unresolved)."""
    inside = components.join(over, "component").join(nodes, "node")
    node_rows = inside.select("node", "identifier_type", "first_seen").order_by("node").to_pyarrow().to_pylist()
    members = inside.select("node")
    edge_rows = applicable.filter(applicable.left.isin(members.node)).select("left", "right").to_pyarrow()
    ranks = {t: i for i, t in enumerate(protection.priority)}
    resolution = split_conflicts(
        [ConflictNode(r["node"], r["identifier_type"], r["first_seen"]) for r in node_rows],
        list(zip(edge_rows["left"].to_pylist(), edge_rows["right"].to_pylist())),
        protection.limits, ranks, protection.max_rounds,
    )
    detached = bind("_identity_conflict_detached", pa.table(
        {k: pa.array([d[i] for d in resolution.detached], pa.string()) for i, k in enumerate(("node", "rule", "detail"))}
    ))
    refused = bind("_identity_conflict_refused", pa.table(
        {k: pa.array([r[i] for r in resolution.refused], pa.string()) for i, k in enumerate(("left", "right", "rule", "detail"))}
    ))
    split = bind("_identity_conflict_components", pa.table(
        {"split_node": pa.array(list(resolution.components), pa.string()),
         "split_component": pa.array(list(resolution.components.values()), pa.string())}
    ))
    return detached, refused, split, resolution


def protect(
    nodes: Table,
    edges: Table,
    protection: MergeProtection,
    blocked_edges: Table,
    blocked_nodes: Table,
    bind: Binder,
) -> Protected:
    """Apply the block list and the limits; components of what remains (see the module docstring).

    nodes: node, identifier_type, first_seen. edges: left, right, first_seen (left < right).
    blocked_edges: left, right, detail; blocked_nodes: node, detail (from settings and decisions).
    bind: puts Arrow data on the warehouse's connection (`engine.bind`).
    """
    rules = protection.rules()
    blocked = blocked_nodes.select("node", rule=ibis.literal("blocked"), detail=blocked_nodes.detail)
    refused = blocked_edges.select("left", "right", rule=ibis.literal("blocked"), detail=blocked_edges.detail)
    shared, over_limit = _seen_with_too_many(_applicable(edges, blocked, refused), rules, bind)
    detached = blocked.union(shared, distinct=False)  # both small bound tables: no need to materialise
    if over_limit is not None:
        refused = cached(refused.union(over_limit, distinct=False))
    remaining = nodes.filter(~nodes.node.isin(detached.node))
    applicable = cached(_applicable(edges, detached, refused))
    components = cached(connected_components(remaining.select("node"), applicable.select("left", "right")))
    over_rows = _over_limit_components(components, rules).to_pyarrow()
    rounds, unresolved = 1, 0
    if over_rows.num_rows:
        over = bind("_identity_over_limit_components", over_rows)
        split_detached, split_refused, split, resolution = _split(components, remaining, applicable, over, protection, bind)
        rounds, unresolved = 1 + resolution.rounds, resolution.unresolved
        detached = detached.union(split_detached, distinct=False)
        refused = refused.union(split_refused, distinct=False)
        relabelled = components.filter(~components.node.isin(detached.node)).left_join(
            split, components.node == split.split_node
        )
        components = cached(relabelled.select("node", component=ibis.coalesce(relabelled.split_component, relabelled.component)))
    # An identifier or edge refused by several rules is reported once, under the first rule by name.
    # (Not cached: each is read once or twice downstream, cheaper than a materialisation on Spark.)
    detached = detached.group_by("node").aggregate(rule=detached.rule.min(), detail=detached.detail.argmin(detached.rule))
    refused = refused.group_by(["left", "right"]).aggregate(rule=refused.rule.min(), detail=refused.detail.argmin(refused.rule))
    counts = detached.group_by("rule").aggregate(n=detached.count()).to_pyarrow().to_pylist()
    return Protected(components, detached, refused, rounds, unresolved, {f"detached {r['rule']}": int(r["n"]) for r in counts})
