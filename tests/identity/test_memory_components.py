"""The in-memory components path (DuckDB) gives exactly the (node, component) table of the Ibis
large-star/small-star path — on DuckDB and on Spark — for random graphs with duplicates, self loops,
reversed edges, keys missing on either side and non-ASCII keys, and for a long chain and stars; and
`connected_components` picks the path in one place."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from footfall.identity import graph
from footfall.identity.engine import bind
from footfall.identity.graph import connected_components, star_components
from footfall.identity.memory_components import components_in_memory
from footfall.warehouse import open_warehouse

# Mixed case, digits and multi-byte characters: "smallest key" must be byte order everywhere.
ALPHABET = ["email:zoë@mail.co.uk", "email:Zoe@mail.co.uk", "email:émile@mail.fr", "user_id:U1", "user_id:u1",
            "anonymous_id:0f", "phone:+447700900123", "card_token:tok_ü", "loyalty_id:LOY1"]


def _random_graph(seed: int) -> tuple[list[str], list[tuple[str, str]]]:
    rng = random.Random(seed)
    keys = ALPHABET + [f"{rng.choice(['email', 'user_id', 'anonymous_id'])}:{rng.randrange(10**6):06d}" for _ in range(rng.randint(20, 300))]
    edges = [(rng.choice(keys), rng.choice(keys)) for _ in range(rng.randint(0, len(keys)))]
    edges += [(b, a) for a, b in edges[: len(edges) // 5]]  # the same edge both ways
    edges += [(k, k) for k in rng.sample(keys, 5)]  # self loops
    edges += [(rng.choice(keys), f"edge_only:{i}") for i in range(3)]  # ends missing from the nodes
    nodes = rng.sample(keys, len(keys) * 3 // 4) + ["lonely:é", "lonely:e"]
    nodes += nodes[:10]  # listed twice
    return nodes, edges


def _chain_and_stars() -> tuple[list[str], list[tuple[str, str]]]:
    chain = [f"c{i:04d}" for i in range(120)]  # a path of 120 nodes, smallest key at one end
    edges = list(zip(chain, chain[1:]))
    reversed_chain = [f"r{i:04d}" for i in range(60)]  # smallest key at the far end of the edge list
    edges += list(zip(reversed_chain[1:], reversed_chain))[::-1]
    edges += [("s~centre", f"s{i:03d}") for i in range(50)]  # a star whose centre is its largest key
    edges += [("t000", f"t{i:03d}") for i in range(1, 50)]  # a star whose centre is its smallest key
    edges += [("c0119", "s~centre")]  # one edge joins the chain's far end to the first star
    nodes = chain + reversed_chain + ["s~centre"] + [f"s{i:03d}" for i in range(50)] + [f"t{i:03d}" for i in range(50)]
    return nodes + ["lonely"], edges


def _tables(warehouse, nodes: list[str], edges: list[tuple[str, str]]):
    node_table = bind(warehouse, "test_nodes", pa.table({"node": pa.array(nodes, pa.string())}))
    edge_table = bind(warehouse, "test_edges", pa.table({
        "left": pa.array([a for a, _ in edges], pa.string()), "right": pa.array([b for _, b in edges], pa.string())
    }))
    return node_table, edge_table


def _rows(table) -> list[tuple[str, str]]:
    data = table.to_pyarrow()
    return sorted(zip(data["node"].to_pylist(), data["component"].to_pylist()))


def _in_memory(project, nodes, edges) -> list[tuple[str, str]]:
    with open_warehouse(project, engine="duckdb") as warehouse:
        return _rows(components_in_memory(*_tables(warehouse, nodes, edges)))


GRAPHS = [pytest.param(_random_graph(seed), id=f"random-{seed}") for seed in range(6)]
GRAPHS.append(pytest.param(_chain_and_stars(), id="chain-and-stars"))


@pytest.mark.parametrize("graph_case", GRAPHS)
def test_in_memory_path_gives_the_star_rounds_table_on_duckdb(project, graph_case):
    nodes, edges = graph_case
    with open_warehouse(project, engine="duckdb") as warehouse:
        node_table, edge_table = _tables(warehouse, nodes, edges)
        in_memory = _rows(components_in_memory(node_table, edge_table))
        rounds = _rows(star_components(node_table, edge_table))
    assert in_memory == rounds
    assert len(in_memory) == len(set(nodes))  # one row per distinct listed node, edge-only ends absent
    assert not any(node.startswith("edge_only:") for node, _ in in_memory)


def test_in_memory_path_gives_the_engines_star_rounds_table(project, engine):
    """On Spark the rounds remain the path; the DuckDB fast path must agree with it exactly."""
    nodes, edges = _random_graph(11)
    chain_nodes, chain_edges = _chain_and_stars()
    nodes, edges = nodes + chain_nodes, edges + chain_edges
    with open_warehouse(project, engine=engine) as warehouse:
        rounds = _rows(star_components(*_tables(warehouse, nodes, edges)))
    assert _in_memory(project, nodes, edges) == rounds
    components = dict(rounds)
    assert components["c0119"] == components["s000"] == "c0000"  # the chain and the star are one person
    assert components["r0059"] == "r0000" and components["t049"] == "t000" and components["lonely"] == "lonely"


def test_components_choose_the_in_memory_path_on_duckdb_up_to_the_cap(project, monkeypatch):
    nodes, edges = _chain_and_stars()
    with open_warehouse(project, engine="duckdb") as warehouse:
        node_table, edge_table = _tables(warehouse, nodes, edges)
        rounds: list[int] = []
        fast = _rows(connected_components(node_table, edge_table, on_round=rounds.append))
        assert rounds == []  # no rounds: computed in memory
        monkeypatch.setattr(graph, "IN_MEMORY_MAX_EDGES", len(edges) - 1)
        slow = _rows(connected_components(node_table, edge_table, on_round=rounds.append))
    assert rounds and fast == slow


def test_in_memory_path_on_a_graph_without_edges_keeps_every_node_alone(project):
    assert _in_memory(project, ["b", "a", "a"], []) == [("a", "a"), ("b", "b")]


def test_in_memory_path_on_an_empty_graph_gives_an_empty_table(project):
    assert _in_memory(project, [], []) == []
