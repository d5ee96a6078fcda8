"""`resolve_identities`: from events to persons, in six steps, on the warehouse's engine.

1. identifiers — typed, normalised observations of every event; garbage counted (`identifiers.py`)
2. graph       — edges between identifiers seen in the same record (`graph.py`)
3. protection  — block list, limits and priorities; connected components (`protection.py`)
4. probabilistic — Splink links unowned records and thin persons to persons (`probabilistic.py`),
                  applied under the same limits (`links.py`)
5. person ids  — stable ids against the previous run, merges and splits recorded (`history.py`)
6. tables      — `id_map`, `event_persons`, `persons`, `identity_edges` materialised (`outputs.py`)

Unmerge decisions from the operational store are applied as blocks in step 3, so every rerun
respects them. Nothing is deleted from `events`: a merge or split only changes the mapping.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from footfall.identity.engine import bind, cached, materialized
from footfall.identity.graph import co_occurrence_edges
from footfall.identity.history import anchors, assign_person_ids, history_rows, merge_causes
from footfall.identity.identifiers import RECORD_TYPE, GarbageCount, extract_identifiers, type_of
from footfall.identity.links import apply_links, link_groups
from footfall.identity.outputs import id_map, identity_edges, persons
from footfall.identity.probabilistic import match_units, matching_units, probabilistic_edges
from footfall.identity.protection import Protected, protect
from footfall.identity.records import record_details, record_owners
from footfall.identity.settings import IdentitySettings, load_identity_settings
from footfall.identity.store import Decision, IdentityStore, now_utc
from footfall.lake import new_batch_id
from footfall.warehouse import Warehouse

STEPS = ("identifiers", "graph", "protection", "probabilistic", "person ids", "tables")
OUTPUT_TABLES = ("id_map", "event_persons", "persons", "identity_edges")
MODEL_FILE = Path("identity") / "splink_model.json"
EVENT_COLUMNS = (
    "message_id", "timestamp", "type", "channel", "user_id", "anonymous_id", "previous_id", "device_id",
    "email", "phone", "loyalty_id", "card_token", "name", "postcode",
)


@dataclass
class ResolutionResult:
    """What a resolution run produced and changed; `summary()` is what the run log keeps."""

    run_id: str
    engine: str
    persons: int
    identifiers: int
    detached_identifiers: int
    edges: int
    accepted_edges: int
    probabilistic_links: int
    events: int
    events_resolved: int
    created: int
    kept: int
    merged: int
    split: int
    rule_counts: dict[str, int] = field(default_factory=dict)
    garbage: list[GarbageCount] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    model_path: str | None = None
    probabilistic_skipped: str | None = None  # why Splink did not run (too little data, nothing to link)
    unresolved_conflicts: int = 0

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def _block_lists(warehouse: Warehouse, settings: IdentitySettings, decisions: list[Decision]) -> tuple[Table, Table]:
    """(blocked_nodes: node, detail; blocked_edges: left, right, detail) from settings and decisions."""
    nodes = {key: "on the block list (identity.toml)" for key in settings.protection.blocked}
    edges: dict[tuple[str, str], str] = {}
    for decision in decisions:
        if decision.kind == "block_identifier":
            nodes.setdefault(decision.identifier, decision.describe())
        elif decision.other_identifier is not None:
            pair = tuple(sorted((decision.identifier, decision.other_identifier)))
            edges.setdefault(pair, decision.describe())  # type: ignore[arg-type]
    node_table = pa.table({"node": pa.array(list(nodes), pa.string()), "detail": pa.array(list(nodes.values()), pa.string())})
    edge_table = pa.table(
        {
            "left": pa.array([k[0] for k in edges], pa.string()),
            "right": pa.array([k[1] for k in edges], pa.string()),
            "detail": pa.array(list(edges.values()), pa.string()),
        }
    )
    return bind(warehouse, "_identity_blocked_nodes", node_table), bind(warehouse, "_identity_blocked_edges", edge_table)


def _conform(table: Table, like: Table) -> Table:
    """`table` with the columns and types of `like`, for a union (engines type literals differently:
    Spark reads 1.0 as a decimal, DuckDB's timestamps carry a time zone and Spark's do not)."""
    schema = like.schema()
    return table.select(*(table[name].cast(schema[name]).name(name) for name in like.columns))


def _nodes(observations: Table) -> Table:
    """node, identifier_type, first_seen, last_seen: every identifier observed."""
    return observations.group_by("identifier").aggregate(
        identifier_type=observations.identifier_type.min(),
        first_seen=observations.ts.min(),
        last_seen=observations.ts.max(),
    ).rename(node="identifier")


class _Clock:
    """Times each step and tells the caller which step starts."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._step: str | None = None
        self._started = 0.0

    def step(self, name: str) -> None:
        self.stop()
        self._step, self._started = name, time.perf_counter()
        if self.progress is not None:
            self.progress(name)

    def stop(self) -> None:
        if self._step is not None:
            self.timings[self._step] = round(time.perf_counter() - self._started, 3)
            self._step = None


@dataclass
class _Graph:
    """The graph as it stands between steps."""

    nodes: Table  # node, identifier_type, first_seen, last_seen
    edges: Table  # left, right, source, message_id, first_seen, last_seen, records, probability
    observations: Table  # message_id, ts, source, identifier_type, identifier
    protected: Protected


def _probabilistic_step(
    warehouse: Warehouse, settings: IdentitySettings, events: Table, graph: _Graph, ranks: Table, run_at: datetime
) -> tuple[_Graph, int, str | None, str | None]:
    """Splink over units, then the accepted links applied under the limits (`links.apply_links`).

    Returns the graph extended with the links and the records they link, the number of links applied,
    where the model was saved, and why matching was skipped (None when it ran).
    """
    protected = graph.protected
    # Units are keyed by their anchor (strongest identifier), so a link reads "card → user_id:...".
    by_anchor = anchors(protected.components, ranks)
    anchored = cached(protected.components.join(by_anchor, "component").select("node", component="anchor"))
    owners = record_owners(graph.observations, anchored.select("node", owner="component"), ranks)
    details = cached(record_details(events, graph.observations))
    strong = anchored.filter(type_of(anchored.node).isin(settings.probabilistic.strong_types)).select("component").distinct()
    units = cached(matching_units(details, owners, strong))
    model_path = warehouse.project.root / MODEL_FILE
    matches = match_units(warehouse, units, settings.probabilistic, model_path)
    if matches.links.num_rows == 0:
        return graph, 0, None if matches.skipped else str(model_path), matches.skipped
    links = probabilistic_edges(warehouse, matches, run_at)
    ends = links.select(node="left").union(links.select(node="right"))
    records = ends.filter(ends.node.startswith(f"{RECORD_TYPE}:")).distinct()
    records = records.mutate(message_id=records.node.substr(len(RECORD_TYPE) + 1))
    records = records.join(details.select("message_id", "ts"), "message_id")
    record_nodes = records.select("node", identifier_type=ibis.literal(RECORD_TYPE), first_seen="ts", last_seen="ts")
    record_observations = records.select(
        "message_id", ts="ts", source=ibis.literal("probabilistic"), identifier_type=ibis.literal(RECORD_TYPE), identifier="node"
    )
    # Unions of a materialised table with a small bound one are cheap to recompute: not cached.
    nodes = graph.nodes.union(_conform(record_nodes, graph.nodes), distinct=False)
    groups = bind(warehouse, "_identity_link_groups", link_groups(matches.links))
    linked = apply_links(anchored, record_nodes.select("node"), links, groups, settings.protection.rules())
    refused_links = int(linked.refused.count().execute())
    extended = _Graph(
        nodes=nodes,
        edges=graph.edges.union(_conform(links, graph.edges), distinct=False),
        observations=graph.observations.union(_conform(record_observations, graph.observations), distinct=False),
        protected=Protected(
            cached(linked.components), protected.detached,
            protected.refused_edges.union(linked.refused, distinct=False),
            protected.rounds, protected.unresolved_conflicts, protected.rule_counts,
        ),
    )
    return extended, matches.links.num_rows - refused_links, str(model_path), None


def resolve_identities(
    warehouse: Warehouse,
    settings: IdentitySettings | None = None,
    *,
    actor: str = "footfall resolve",
    progress: Callable[[str], None] | None = None,
) -> ResolutionResult:
    """Resolve every identifier in the warehouse's events to a person and materialise the results.

    progress: called with each step's name (`STEPS`) as it starts.
    """
    settings = settings or load_identity_settings(warehouse.project)
    with IdentityStore(warehouse.project) as store:
        result, history = _run(warehouse, settings, store, actor, _Clock(progress))
        store.finish_run(result.run_id, result.summary(), history)
    # Intermediate tables are dropped when their expressions are collected: do it now, while the
    # connection is open, rather than at interpreter exit.
    gc.collect()
    return result


def _run(
    warehouse: Warehouse, settings: IdentitySettings, store: IdentityStore, actor: str, clock: _Clock
) -> tuple[ResolutionResult, list[dict[str, Any]]]:
    """The six steps; returns the result and the history rows to record."""
    project = warehouse.project
    run_id, run_at = new_batch_id(), now_utc()
    store.start_run(run_id, warehouse.engine, actor, run_at)
    salt, decisions = store.id_salt(), store.active_decisions()
    previous_map, previous_persons = _previous(warehouse)
    ranks = settings.protection.rules().select("identifier_type", "rank")
    # One narrow scan of the lake; every step reads this cached projection instead of the files.
    events = cached(warehouse.table("events").select(*EVENT_COLUMNS))

    clock.step("identifiers")
    extracted = extract_identifiers(events, settings.normalisation, project.settings.phone_region)
    observations = cached(extracted.observations)
    nodes = cached(_nodes(observations))

    clock.step("graph")
    edges = cached(co_occurrence_edges(observations).mutate(probability=ibis.literal(1).cast("float64")))

    clock.step("protection")
    blocked_nodes, blocked_edges = _block_lists(warehouse, settings, decisions)
    protected = protect(
        nodes, edges, settings.protection, blocked_edges, blocked_nodes, lambda name, data: bind(warehouse, name, data)
    )
    graph = _Graph(nodes, edges, observations, protected)

    links, model_path, skipped = 0, None, None
    if settings.probabilistic.enabled:
        clock.step("probabilistic")
        graph, links, model_path, skipped = _probabilistic_step(warehouse, settings, events, graph, ranks, run_at)

    clock.step("person ids")
    components = graph.protected.components
    ids = assign_person_ids(components, ranks, previous_map, salt, run_id)
    if previous_map is not None:
        merge_causes(ids.history, components, graph.edges, previous_map)

    clock.step("tables")
    # materialize computes each expression once; the results are the warehouse's tables from here on.
    mapping = warehouse.materialize("id_map", id_map(components, ids.assignment, graph.nodes))
    owners = record_owners(graph.observations, mapping.select(node="identifier", owner="person_id"), ranks)
    owned = warehouse.materialize("event_persons", owners.select("message_id", person_id="owner"))
    person_table = warehouse.materialize("persons", persons(mapping, ids.assignment, owned, previous_persons, run_at))
    edge_table = warehouse.materialize(
        "identity_edges", identity_edges(graph.edges, graph.protected.detached, graph.protected.refused_edges, mapping)
    )
    clock.stop()

    edge_counts = edge_table.group_by(["status", "rule"]).aggregate(n=edge_table.count()).to_pyarrow().to_pylist()
    rule_counts = {**graph.protected.rule_counts}
    rule_counts.update({f"refused edges {r['rule']}": int(r["n"]) for r in edge_counts if r["status"] == "refused"})
    sizes = _sizes({"persons": person_table, "identifiers": mapping, "events": events, "owned": owned,
                    "detached": graph.protected.detached})
    result = ResolutionResult(
        run_id=run_id,
        engine=warehouse.engine,
        persons=sizes["persons"],
        identifiers=sizes["identifiers"],
        detached_identifiers=sizes["detached"],
        edges=sum(int(r["n"]) for r in edge_counts),
        accepted_edges=sum(int(r["n"]) for r in edge_counts if r["status"] == "accepted"),
        probabilistic_links=links,
        events=sizes["events"],
        events_resolved=sizes["owned"],
        created=ids.created,
        kept=ids.kept,
        merged=sum(1 for h in ids.history if h["kind"] == "merged"),
        split=sum(1 for h in ids.history if h["kind"] == "split"),
        rule_counts=dict(sorted(rule_counts.items())),
        garbage=extracted.garbage,
        timings_s=clock.timings,
        model_path=model_path,
        probabilistic_skipped=skipped,
        unresolved_conflicts=graph.protected.unresolved_conflicts,
    )
    return result, history_rows(ids.history, run_id, run_at, actor)


def _sizes(tables: dict[str, Table]) -> dict[str, int]:
    """Row counts of several tables in one query (each query costs a job on Spark)."""
    counts = [table.aggregate(name=ibis.literal(name), n=table.count()) for name, table in tables.items()]
    rows = ibis.union(*counts, distinct=False).to_pyarrow().to_pylist()
    return {row["name"]: int(row["n"]) for row in rows}


def _previous(warehouse: Warehouse) -> tuple[Table | None, Table | None]:
    """The previous run's id map and persons, cached so that this run can replace them."""
    existing = set(warehouse.materialized_tables())
    if not {"id_map", "persons"} <= existing:
        return None, None
    mapping = cached(materialized(warehouse, "id_map").select("identifier", "person_id"))
    people = cached(materialized(warehouse, "persons").select("person_id", "created_at"))
    return mapping, people
