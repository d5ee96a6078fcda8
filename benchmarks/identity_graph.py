"""A deterministic identity-like graph for the components benchmark, written once to Parquet.

People hold 1–5 identifiers, as string keys of the real kinds (`anonymous_id:...`, `email:...`,
`user_id:...`, `phone:...`, `card_token:...`). A person's identifiers are linked as co-occurrence
would link them: a chain in the order they were acquired (the browser's anonymous id, then the email
given at checkout, the account, ...) plus, for people with three or more, one chord (an identify call
carrying two of them at once). A small share of people are cross-linked to another person: a shared
household email seen with someone else's anonymous id. Key values are scrambled integers, so key
order says nothing about who is who (as with real hashes and UUIDs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TYPES = ("anonymous_id", "email", "user_id", "phone", "card_token")  # in the order a person acquires them
SHAPES = {
    # identifiers held → share of people
    1: 0.25, 2: 0.25, 3: 0.20, 4: 0.15, 5: 0.15,
}
CHORD_SHARE = 0.5  # of people with 3+ identifiers
CROSS_LINK_SHARE = 0.03  # of people: their email is also seen with another person's anonymous id
_SCRAMBLE = np.uint64(0x9E3779B97F4A7C15)  # odd, so multiplication modulo 2⁶⁴ is a bijection


@dataclass(frozen=True)
class GraphFiles:
    """Where a generated graph lives: nodes.parquet (node) and edges.parquet (left, right)."""

    folder: Path

    @property
    def nodes(self) -> Path:
        return self.folder / "nodes.parquet"

    @property
    def edges(self) -> Path:
        return self.folder / "edges.parquet"


def _keys(type_index: np.ndarray, serial: np.ndarray) -> pa.Array:
    """`type:value` keys; the value is a scrambled serial (unique per identifier)."""
    scrambled = (serial.astype(np.uint64) * _SCRAMBLE) >> np.uint64(20)
    prefixes = pa.array(np.array([f"{t}:" for t in TYPES])[type_index])
    values = pc.cast(pa.array(scrambled), pa.string())
    suffixes = pa.array(np.array(["", "@mail.co.uk", "", "", ""])[type_index])
    return pc.binary_join_element_wise(prefixes, values, suffixes, "")


def generate_graph(folder: Path, edges: int, seed: int = 7) -> GraphFiles:
    """Write an identity-like graph of exactly `edges` edges to `folder` (reused if already there)."""
    files = GraphFiles(folder)
    if files.edges.exists() and pq.ParquetFile(files.edges).metadata.num_rows == edges:
        return files
    rng = np.random.default_rng(seed)
    sizes, shares = zip(*SHAPES.items())
    edges_per_person = sum((k - 1) * s for k, s in SHAPES.items()) + CHORD_SHARE * sum(
        s for k, s in SHAPES.items() if k >= 3) + CROSS_LINK_SHARE
    people = int(edges / edges_per_person * 1.02) + 1000  # a little over, trimmed below
    held = rng.choice(np.array(sizes), size=people, p=np.array(shares))
    first = np.concatenate([[0], np.cumsum(held)[:-1]])  # serial of each person's first identifier
    total_nodes = int(held.sum())
    owner = np.repeat(np.arange(people), held)
    position = np.arange(total_nodes) - first[owner]
    keys = _keys(position, np.arange(total_nodes))

    chain_to = np.flatnonzero(position > 0)  # each identifier after the first links to the one before
    chain = (chain_to - 1, chain_to)
    chorded = np.flatnonzero((held >= 3) & (rng.random(people) < CHORD_SHARE))
    chord = (first[chorded], first[chorded] + held[chorded] - 1)  # first and last identifier
    with_email = np.flatnonzero(held >= 2)
    crossing = with_email[rng.random(with_email.size) < CROSS_LINK_SHARE * people / with_email.size]
    other = rng.integers(0, people, size=crossing.size)
    cross = (first[crossing] + 1, first[other])  # the household email, someone else's anonymous id
    left = np.concatenate([chain[0], chord[0], cross[0]])
    right = np.concatenate([chain[1], chord[1], cross[1]])
    order = rng.permutation(left.size)[:edges]  # a random subset of exactly `edges`, in random order
    if order.size < edges:
        raise ValueError(f"generated only {order.size} edges, wanted {edges}")
    left, right = left[order], right[order]
    used = np.unique(np.concatenate([left, right]))
    folder.mkdir(parents=True, exist_ok=True)
    # Nodes: every identifier of a person with at least one edge kept, and the loners (1 identifier).
    loners = first[held == 1]
    node_ids = np.union1d(used, loners)
    pq.write_table(pa.table({"node": keys.take(pa.array(node_ids))}), files.nodes)
    pq.write_table(pa.table({"left": keys.take(pa.array(left)), "right": keys.take(pa.array(right))}), files.edges)
    return files
