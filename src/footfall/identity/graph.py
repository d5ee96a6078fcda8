"""The identity graph in Ibis: edges between identifiers seen together, and connected components.
Every function takes and returns Ibis tables, so it runs on DuckDB and Spark.

Connected components use the alternating *large-star / small-star* algorithm of Kiveris, Lattanzi,
Mirrokni, Rastogi and Vassilvitskii, "Connected Components in MapReduce and Beyond" (SoCC 2014),
which needs O(log² n) rounds where plain min-label propagation needs as many rounds as the longest
shortest path (Splink's `connected_components.py` does min-label propagation with the same stopping
idea). Edges are kept oriented from the larger to the smaller node key; at the fixed point every
component is a star pointing at its smallest key, which becomes the component id. Each SQL step is
its own function below; each round (a large-star then a small-star step) is materialised once
(`engine.cached`) and checked for the fixed point, so a round costs two queries on any engine.

On one machine (DuckDB) the same table is computed in memory instead (`memory_components.py`):
`connected_components` chooses, in one place, by engine and edge count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import ibis
from ibis.expr.types import Table

from footfall.identity.engine import cached
from footfall.identity.memory_components import components_in_memory

logger = logging.getLogger(__name__)
MAX_ROUNDS = 64  # log²(10⁹) is ~900; real identity graphs converge in well under 20 rounds
# Engines that run on one machine, where the edge list is pulled into memory instead (same answer, no
# rounds). Memory grows linearly with the edges: 10M edges of identifier-like keys peaked at ~6 GiB
# (BENCHMARKS.md), so the cap keeps the fast path near 12 GiB; above it the rounds run in the engine,
# which spills to disk.
IN_MEMORY_ENGINES = frozenset({"duckdb"})
IN_MEMORY_MAX_EDGES = 20_000_000


class ComponentsDidNotConverge(RuntimeError):
    """Large-star/small-star stopped changing nothing after MAX_ROUNDS rounds (a bug, not bad input)."""


def co_occurrence_edges(observations: Table) -> Table:
    """Undirected edges between identifiers observed in the same record, one row per pair.

    observations: message_id, ts, source, identifier. The pair is ordered (left < right) so each edge
    appears once; an edge remembers when it was first and last seen, in how many records, and the
    source and message id of the earliest record (the evidence `explain` shows).
    """
    left = observations.select("message_id", "ts", "source", left=observations.identifier)
    right = observations.select(right_message_id=observations.message_id, right=observations.identifier)
    pairs = left.join(right, [left.message_id == right.right_message_id, left.left < right.right])
    return pairs.group_by(["left", "right"]).aggregate(
        source=pairs.source.argmin(pairs.ts),
        message_id=pairs.message_id.argmin(pairs.ts),
        first_seen=pairs.ts.min(),
        last_seen=pairs.ts.max(),
        records=pairs.count(),
    )


def _oriented(edges: Table) -> Table:
    """Edges as (u, v) with u > v, no self loops, no duplicates: the form the star steps work on."""
    return edges.filter(edges.left != edges.right).select(
        u=ibis.greatest(edges.left, edges.right), v=ibis.least(edges.left, edges.right)
    ).distinct()


def _large_star(edges: Table) -> Table:
    """Large-star: each node u hands its *larger* neighbours to m(u), the smallest of u and its neighbours.

    Emits (w, m(u)) for every neighbour w > u. Components are unchanged; each node's neighbourhood
    shrinks towards the component minimum in one step.
    """
    directed = edges.select(src=edges.u, dst=edges.v).union(edges.select(src=edges.v, dst=edges.u), distinct=True)
    smallest = directed.group_by("src").aggregate(m=directed.dst.min())
    smallest = smallest.select(node=smallest.src, m=ibis.least(smallest.src, smallest.m))
    larger = directed.filter(directed.dst > directed.src)
    joined = larger.join(smallest, larger.src == smallest.node)
    return joined.select(u=joined.dst, v=joined.m).distinct()


def _small_star(edges: Table) -> Table:
    """Small-star: each node u links itself and its *smaller* neighbours to the smallest of them.

    Emits (w, m) for every w in {u} ∪ {smaller neighbours of u}, w ≠ m, where m is their minimum.
    """
    smallest = edges.group_by("u").aggregate(m=edges.v.min())
    joined = edges.join(smallest, "u")
    neighbours = joined.filter(joined.v != joined.m).select(u=joined.v, v=joined.m)
    itself = smallest.select(u=smallest.u, v=smallest.m)
    return neighbours.union(itself, distinct=True)


def _is_star_forest(edges: Table) -> bool:
    """Whether the oriented edges form stars around component minima (the algorithm's fixed point):
    every node has at most one edge to a smaller node, and no such smaller node has one itself."""
    check = edges.aggregate(
        duplicates=edges.count() - edges.u.nunique(),
        chained=edges.v.isin(edges.u).cast("int64").sum(),
    )
    row = check.to_pyarrow().to_pylist()[0]
    return not (row["duplicates"] or row["chained"])


def connected_components(
    nodes: Table, edges: Table, on_round: Callable[[int], None] | None = None
) -> Table:
    """(node, component) for every node: the component id is the smallest node key connected to it.

    nodes: a `node` column (isolated nodes become their own component); edges: `left`, `right`.
    Where the edges fit one machine's memory (DuckDB, up to IN_MEMORY_MAX_EDGES) the components are
    computed in memory (`memory_components.py`), otherwise by large-star/small-star rounds in the
    engine; both give the same table. on_round: called after each round (the Ibis path only).
    """
    backend = edges._find_backend(use_default=True)
    if backend.name in IN_MEMORY_ENGINES and edges.count().execute() <= IN_MEMORY_MAX_EDGES:
        return components_in_memory(nodes, edges)
    return star_components(nodes, edges, on_round)


def star_components(
    nodes: Table, edges: Table, on_round: Callable[[int], None] | None = None
) -> Table:
    """`connected_components` by large-star/small-star rounds in Ibis: the path that scales out (Spark)."""
    current = cached(_oriented(edges))
    rounds = 0
    while True:
        rounds += 1
        if rounds > MAX_ROUNDS:
            raise ComponentsDidNotConverge(f"no fixed point after {MAX_ROUNDS} rounds")
        started = time.perf_counter()
        current = cached(_small_star(_large_star(current)))
        done = _is_star_forest(current)
        logger.debug("components round %d: %.2fs", rounds, time.perf_counter() - started)
        if on_round is not None:
            on_round(rounds)
        if done:
            break
    joined = nodes.select("node").distinct().left_join(current, nodes.node == current.u)
    return joined.select(node=joined.node, component=ibis.coalesce(joined.v, joined.node))
