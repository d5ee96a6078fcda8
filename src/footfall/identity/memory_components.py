"""Connected components in memory on one machine: the fast path for single-machine engines (DuckDB).

The large-star/small-star rounds of `graph.py` cost two queries each and scale out on Spark; on one
machine the edge list fits in memory and a union-find-class algorithm needs no rounds at all. The
edges are pulled as Arrow, their string keys factorised once with Arrow's hash table, the integer
graph handed to `scipy.sparse.csgraph.connected_components` (a linear-time traversal in C), and each
component named by its smallest node key — so the answer is the same (node, component) table the Ibis
path gives, row for row. The result goes back to the engine as a view over the Arrow table.

Arrow, DuckDB and Spark all order strings by their UTF-8 bytes (no collation), which is what makes
"smallest key" mean the same thing on every path (the tests include non-ASCII and mixed-case keys).
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.types import Table


def _factorised(keys: list[pa.ChunkedArray]) -> tuple[np.ndarray, pa.Array]:
    """(codes, dictionary): each key's position in `dictionary`, the distinct keys.

    One pass of Arrow's hash table over every key; the chunks of a dictionary-encoded chunked array
    all carry the final dictionary, so their indices are codes into it.
    """
    chunks = [chunk for column in keys for chunk in column.cast(pa.string()).chunks]
    encoded = pa.chunked_array(chunks, type=pa.string()).dictionary_encode()
    if not encoded.num_chunks:
        return np.empty(0, dtype=np.int32), pa.array([], pa.string())
    codes = np.concatenate([chunk.indices.to_numpy() for chunk in encoded.chunks])
    return codes, encoded.chunk(encoded.num_chunks - 1).dictionary


def _smallest_in_group(labels: np.ndarray, dictionary: pa.Array) -> np.ndarray:
    """For every key, the code of the smallest key with its label.

    Sorting by (label, key) compares strings only within a component (components are small), and
    the first key of each label's run is its smallest.
    """
    order = pc.sort_indices(pa.table({"label": labels, "key": dictionary}),
                            sort_keys=[("label", "ascending"), ("key", "ascending")]).to_numpy()
    sorted_labels = labels[order]
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    smallest = np.empty(len(starts), dtype=np.int64)
    smallest[sorted_labels[starts]] = order[starts]
    return smallest[labels]


def component_labels(left: pa.ChunkedArray, right: pa.ChunkedArray, nodes: pa.ChunkedArray) -> pa.Table:
    """(node, component) for every distinct key of `nodes` (not null), the component being the
    smallest key connected to it through the edges (left, right; rows with a null end ignored)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    both = pc.and_(pc.is_valid(left), pc.is_valid(right))
    left, right = left.filter(both), right.filter(both)
    codes, dictionary = _factorised([left, right, nodes.filter(pc.is_valid(nodes))])
    n_edges, n_keys = len(left), len(dictionary)
    if n_keys == 0:
        return pa.table({"node": pa.array([], pa.string()), "component": pa.array([], pa.string())})
    graph = coo_matrix(
        (np.ones(n_edges, dtype=bool), (codes[:n_edges], codes[n_edges : 2 * n_edges])), shape=(n_keys, n_keys)
    ).tocsr()
    _, labels = connected_components(graph, directed=False)
    smallest = _smallest_in_group(labels, dictionary)
    listed = np.zeros(n_keys, dtype=bool)
    listed[codes[2 * n_edges :]] = True  # each listed key once, edge-only keys left out
    rows = np.flatnonzero(listed)
    return pa.table({"node": dictionary.take(pa.array(rows)), "component": dictionary.take(pa.array(smallest[rows]))})


def _unregister(backend: Any, name: str) -> None:
    try:
        backend.con.unregister(name)
    except Exception:  # noqa: BLE001 - the connection may be closed at interpreter exit
        pass


def components_in_memory(nodes: Table, edges: Table) -> Table:
    """`graph.connected_components` computed in memory (see the module docstring); same contract.

    nodes: a `node` column; edges: `left`, `right`. Returns a table on the engine the edges live on
    (a view of the Arrow result, unregistered when no expression refers to it any more).
    """
    backend = edges._find_backend(use_default=True)
    edge_data = edges.select("left", "right").to_pyarrow()
    node_data = nodes.select("node").to_pyarrow()["node"]
    result = component_labels(edge_data["left"], edge_data["right"], node_data)
    if node_data.null_count:  # the Ibis path keeps a null node, in a component of its own (null)
        result = pa.concat_tables([result, pa.table({"node": pa.nulls(1, pa.string()), "component": pa.nulls(1, pa.string())})])
    # A view over the Arrow result, not a copy: the caller materialises it (`engine.cached`) if it must.
    name = f"footfall_components_{uuid.uuid4().hex}"
    backend.con.register(name, result)
    components = backend.table(name)
    weakref.finalize(components.op(), _unregister, backend, name)
    return components
