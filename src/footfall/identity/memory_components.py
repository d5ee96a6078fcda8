"""Connected components in memory on one machine: the fast path for single-machine engines (DuckDB).

The large-star/small-star rounds of `graph.py` cost two queries each and scale out on Spark; on one
machine the edge list fits in memory and a union-find-class algorithm needs no rounds at all. The
edges are pulled as Arrow, their string keys factorised once with Arrow's hash table, the integer
graph handed to `scipy.sparse.csgraph.connected_components` (a linear-time traversal in C), and each
component labelled with its smallest node key — so the answer is the same (node, component) table
the Ibis path gives, row for row, and the result goes back to the engine as a temporary table.

Keys are compared as Arrow, DuckDB and Spark compare strings: by UTF-8 bytes (no collation), which is
what makes "smallest key" mean the same thing on every path.
"""

from __future__ import annotations

import uuid
import weakref
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.types import Table


def _factorised(keys: pa.ChunkedArray) -> tuple[np.ndarray, pa.Array]:
    """(codes, dictionary): each key's position in `dictionary`, the distinct keys in byte order.

    Ordering the dictionary makes a code comparison a key comparison, so "smallest key of a
    component" becomes "smallest code", a numpy reduction.
    """
    encoded = keys.combine_chunks().dictionary_encode()  # one hash pass over every key
    dictionary = encoded.dictionary
    order = pc.sort_indices(dictionary).to_numpy()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[order] = np.arange(len(dictionary), dtype=np.int64)
    return rank[encoded.indices.to_numpy()], dictionary.take(pa.array(order))


def component_labels(left: pa.ChunkedArray, right: pa.ChunkedArray, nodes: pa.ChunkedArray) -> pa.Table:
    """(node, component) for every distinct key of `nodes` (not null), the component being the
    smallest key connected to it through the edges (left, right; rows with a null end ignored)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    both = pc.and_(pc.is_valid(left), pc.is_valid(right))
    left, right = left.filter(both), right.filter(both)
    nodes = nodes.filter(pc.is_valid(nodes))
    # large_string: the concatenated keys of a big graph can pass the 2 GiB offsets of `string`.
    keys = pa.chunked_array([*left.cast(pa.large_string()).chunks, *right.cast(pa.large_string()).chunks,
                             *nodes.cast(pa.large_string()).chunks], type=pa.large_string())
    codes, dictionary = _factorised(keys)
    n_edges, n_keys = len(left), len(dictionary)
    graph = coo_matrix(
        (np.ones(n_edges, dtype=bool), (codes[:n_edges], codes[n_edges : 2 * n_edges])), shape=(n_keys, n_keys)
    ).tocsr()
    count, labels = connected_components(graph, directed=False)
    smallest = np.full(count, n_keys, dtype=np.int64)
    np.minimum.at(smallest, labels, np.arange(n_keys, dtype=np.int64))
    listed = np.unique(codes[2 * n_edges :])
    return pa.table({
        "node": dictionary.take(pa.array(listed)).cast(pa.string()),
        "component": dictionary.take(pa.array(smallest[labels[listed]])).cast(pa.string()),
    })


def _drop(backend: Any, name: str) -> None:
    try:
        backend.drop_table(name, force=True)
    except Exception:  # noqa: BLE001 - the connection may be closed at interpreter exit
        pass


def components_in_memory(nodes: Table, edges: Table) -> Table:
    """`graph.connected_components` computed in memory (see the module docstring); same contract.

    nodes: a `node` column; edges: `left`, `right`. Returns a temporary table on the engine the
    edges live on, dropped when the returned table is garbage-collected.
    """
    backend = edges._find_backend(use_default=True)
    edge_data = edges.select("left", "right").to_pyarrow()
    node_data = nodes.select("node").to_pyarrow()
    result = component_labels(edge_data["left"], edge_data["right"], node_data["node"])
    if node_data["node"].null_count:  # the Ibis path keeps a null node, in a component of its own (null)
        result = pa.concat_tables([result, pa.table({"node": pa.nulls(1, pa.string()), "component": pa.nulls(1, pa.string())})])
    name = f"footfall_components_{uuid.uuid4().hex}"
    table = backend.create_table(name, result, temp=True)
    weakref.finalize(table.op(), _drop, backend, name)
    return table
