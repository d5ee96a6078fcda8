"""One contender of the identity benchmark, run in a fresh process so its peak memory is its own:

    python -m benchmarks.identity_contenders <contender> <graph folder> <answer.parquet>
    python -m benchmarks.identity_contenders splink <world folder> <records per side>

Loading the graph (Parquet → the contender's input form) is not timed; the timed part is what the
contender needs from there to a component per node. Each writes its answer as (node, component =
smallest key of the component) — the labelling is done outside the timing where the contender does
not give it — and prints one JSON line: seconds, extra figures, resident memory before the timed
part and at peak.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.machine import process_memory_gib


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _progress(passes: int) -> None:
    """Passes done so far, on stderr: a contender stopped at its time limit still tells how far it got."""
    print(f"pass {passes} at {time.perf_counter():.1f}", file=sys.stderr, flush=True)


def _duckdb_tables(folder: Path) -> tuple[Any, Any, Any]:
    """(connection, nodes, edges): the graph as DuckDB tables, as resolution holds them (cached)."""
    import ibis

    con = ibis.duckdb.connect()
    edges = con.read_parquet(folder / "edges.parquet").cache()
    nodes = con.read_parquet(folder / "nodes.parquet").cache()
    return con, nodes, edges


def footfall(folder: Path, out: Path) -> dict[str, Any]:
    """The function resolution calls (`graph.connected_components`), result materialised as it is."""
    from footfall.identity.engine import cached
    from footfall.identity.graph import connected_components

    _, nodes, edges = _duckdb_tables(folder)
    before = process_memory_gib()
    started = time.perf_counter()
    components = cached(connected_components(nodes, edges))
    seconds = time.perf_counter() - started
    pq.write_table(components.to_pyarrow(), out)
    return {"seconds": seconds, "rss_before_gib": before}


def footfall_rounds(folder: Path, out: Path) -> dict[str, Any]:
    """The Ibis large-star/small-star path (Spark's path, and DuckDB's before the fast path) on DuckDB."""
    from footfall.identity.engine import cached
    from footfall.identity.graph import star_components

    _, nodes, edges = _duckdb_tables(folder)
    before = process_memory_gib()
    rounds: list[int] = []
    started = time.perf_counter()
    components = cached(star_components(nodes, edges, on_round=lambda r: (rounds.append(r), _progress(r))))
    seconds = time.perf_counter() - started
    pq.write_table(components.to_pyarrow(), out)
    return {"seconds": seconds, "rss_before_gib": before, "passes": len(rounds)}


def _smallest_key_labels(keys: pa.Array, labels: np.ndarray) -> pa.Array:
    """The smallest key of each node's component (for the answer file; not timed)."""
    grouped = pa.table({"label": labels, "key": keys}).group_by("label").aggregate([("key", "min")])
    position = np.empty(int(labels.max()) + 1 if len(labels) else 0, dtype=np.int64)
    position[grouped["label"].to_numpy()] = np.arange(grouped.num_rows)
    return grouped["key_min"].take(pa.array(position[labels]))


def scipy_csgraph(folder: Path, out: Path) -> dict[str, Any]:
    """Factorise the string keys (Arrow hash table) and run scipy's connected_components on the ints."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = pq.read_table(folder / "edges.parquet")
    nodes = pq.read_table(folder / "nodes.parquet")["node"]
    before = process_memory_gib()
    started = time.perf_counter()
    keys = pa.chunked_array([*edges["left"].chunks, *edges["right"].chunks, *nodes.chunks]).combine_chunks()
    encoded = keys.dictionary_encode()
    codes, n_edges, n_keys = encoded.indices.to_numpy(), edges.num_rows, len(encoded.dictionary)
    factorised = time.perf_counter()
    graph = coo_matrix((np.ones(n_edges, dtype=bool), (codes[:n_edges], codes[n_edges : 2 * n_edges])),
                       shape=(n_keys, n_keys)).tocsr()
    count, labels = connected_components(graph, directed=False)
    seconds = time.perf_counter() - started
    listed = np.unique(codes[2 * n_edges :])
    components = _smallest_key_labels(encoded.dictionary, labels)
    pq.write_table(pa.table({"node": encoded.dictionary.take(pa.array(listed)), "component": components.take(pa.array(listed))}), out)
    return {"seconds": seconds, "rss_before_gib": before, "factorise_s": factorised - started,
            "csgraph_s": seconds - (factorised - started), "components": int(count)}


def networkx_components(folder: Path, out: Path) -> dict[str, Any]:
    """networkx: build the graph from the key lists, then connected_components."""
    import networkx as nx

    edges = pq.read_table(folder / "edges.parquet")
    left, right = edges["left"].to_pylist(), edges["right"].to_pylist()
    nodes = pq.read_table(folder / "nodes.parquet")["node"].to_pylist()
    del edges
    before = process_memory_gib()
    started = time.perf_counter()
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(zip(left, right))
    built = time.perf_counter()
    found = list(nx.connected_components(graph))
    seconds = time.perf_counter() - started
    listed = set(nodes)
    rows = [(node, smallest) for members in found for smallest in (min(members),) for node in members if node in listed]
    pq.write_table(pa.table({"node": [r[0] for r in rows], "component": [r[1] for r in rows]}), out)
    return {"seconds": seconds, "rss_before_gib": before, "build_s": built - started, "components_s": seconds - (built - started)}


def duckdb_label_propagation(folder: Path, out: Path) -> dict[str, Any]:
    """Plain min-label propagation in hand-written DuckDB SQL: every node takes the smallest label
    among itself and its neighbours, pass after pass, until no label changes (no cluster dropped
    early, no pointer jumping)."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE edges AS SELECT * FROM read_parquet('{folder / 'edges.parquet'}')")
    con.execute(f"CREATE TABLE nodes AS SELECT * FROM read_parquet('{folder / 'nodes.parquet'}')")
    before = process_memory_gib()
    started = time.perf_counter()
    con.execute("""CREATE TABLE neighbours AS
        SELECT "left" AS node, "right" AS other FROM edges WHERE "left" <> "right"
        UNION ALL SELECT "right", "left" FROM edges WHERE "left" <> "right" """)
    con.execute("CREATE TABLE labels AS SELECT node, least(node, min(other)) AS label FROM neighbours GROUP BY node")
    passes = 1
    while True:
        passes += 1
        con.execute("""CREATE OR REPLACE TABLE next_labels AS
            SELECT n.node, least(l.label, min(o.label)) AS label
            FROM neighbours n JOIN labels l ON n.node = l.node JOIN labels o ON n.other = o.node
            GROUP BY n.node, l.label""")
        changed = con.execute("""SELECT count(*) FROM next_labels n JOIN labels l USING (node)
            WHERE n.label <> l.label""").fetchone()[0]
        con.execute("DROP TABLE labels; ALTER TABLE next_labels RENAME TO labels")
        _progress(passes)
        if changed == 0:
            break
    answer = con.execute("""SELECT DISTINCT n.node, coalesce(l.label, n.node) AS component
        FROM nodes n LEFT JOIN labels l USING (node)""").arrow()
    seconds = time.perf_counter() - started
    pq.write_table(answer.read_all() if hasattr(answer, "read_all") else answer, out)
    return {"seconds": seconds, "rss_before_gib": before, "passes": passes}


CONTENDERS: dict[str, Callable[[Path, Path], dict[str, Any]]] = {
    "footfall": footfall,
    "footfall_rounds": footfall_rounds,
    "scipy": scipy_csgraph,
    "networkx": networkx_components,
    "duckdb_lp": duckdb_label_propagation,
}


def main() -> None:
    name, folder = sys.argv[1], Path(sys.argv[2])
    if name == "splink":
        from benchmarks.identity_matching import run_matching

        figures = run_matching(folder, int(sys.argv[3]))
    else:
        figures = CONTENDERS[name](folder, Path(sys.argv[3]))
    print(json.dumps({**figures, "peak_rss_gib": _peak_gib()}), flush=True)


if __name__ == "__main__":
    main()
