"""Connected components in Ibis (large-star/small-star) give the same partition as a union-find, on
both engines, including a long chain that plain min-label propagation would need a round per link for."""

from __future__ import annotations

import random

import ibis
import pyarrow as pa

from footfall.identity.engine import bind
from footfall.identity.graph import co_occurrence_edges, star_components
from footfall.warehouse import open_warehouse


def _union_find(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, str]:
    parent = {n: n for n in nodes}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in nodes}


def test_components_match_a_union_find_and_take_few_rounds(project, engine):
    rng = random.Random(3)
    nodes = [f"n{i:04d}" for i in range(150)]
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(100)]
    chain = [f"c{i:04d}" for i in range(120)]  # a path of 120 nodes: diameter 119
    edges += list(zip(chain, chain[1:]))
    nodes += chain + ["lonely"]
    with open_warehouse(project, engine=engine) as warehouse:
        node_table = bind(warehouse, "test_nodes", pa.table({"node": nodes}))
        edge_table = bind(warehouse, "test_edges", pa.table({"left": [a for a, _ in edges], "right": [b for _, b in edges]}))
        rounds: list[int] = []
        found = star_components(node_table, edge_table, on_round=rounds.append).to_pyarrow().to_pylist()
    assert {r["node"]: r["component"] for r in found} == _union_find(nodes, edges)
    assert len(rounds) <= 8  # O(log² n) at worst; min-label propagation would need ~120 rounds for the chain


def test_edges_link_identifiers_seen_in_one_record_with_their_evidence():
    ts = [ibis.timestamp("2026-01-01 10:00:00"), ibis.timestamp("2026-01-02 10:00:00")]
    observations = ibis.memtable(
        {
            "message_id": ["m1", "m1", "m1", "m2", "m2"],
            "ts": [ts[0].execute()] * 3 + [ts[1].execute()] * 2,
            "source": ["identify"] * 3 + ["track"] * 2,
            "identifier": ["user_id:u1", "anonymous_id:a1", "email:jo@mail.co.uk", "user_id:u1", "anonymous_id:a1"],
        }
    )
    edges = co_occurrence_edges(observations).order_by(["left", "right"]).to_pyarrow().to_pylist()
    assert [(e["left"], e["right"], e["records"], e["source"], e["message_id"]) for e in edges] == [
        ("anonymous_id:a1", "email:jo@mail.co.uk", 1, "identify", "m1"),
        ("anonymous_id:a1", "user_id:u1", 2, "identify", "m1"),
        ("email:jo@mail.co.uk", "user_id:u1", 1, "identify", "m1"),
    ]
