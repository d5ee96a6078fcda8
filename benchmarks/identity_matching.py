"""Splink matching throughput with Footfall's probabilistic settings: receipts against profiles.

Units as `probabilistic.matching_units` builds them: the first N people of the 1M-customer world
(`truth/persons.parquet`) are profiles — strong units, as account holders are — and the first N
distinct receipts of the same world (whose buyers are among the first people) are weak units. Their
details are normalised as `records.py` does (names split and lower-cased, postcodes upper-cased
without spaces: Footfall's own functions, once per distinct value; emails lower-cased and phones put
in E.164, vectorised). Then exactly what `probabilistic.match_units` runs on DuckDB: Splink's
`DuckDBAPI`, Footfall's `splink_settings` (dedupe over all units, "not both strong" added to each
blocking rule) and `_train` (prior, u by sampling, EM per training rule), then `predict` at the
threshold, collected as Arrow.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from footfall.identity.normalise import normalise_name, normalise_postcode
from footfall.identity.probabilistic import (
    ProbabilisticSettings,
    _best_link_per_weak_unit,
    _train,
    splink_duckdb_connection,
    splink_settings,
)

DETAILS = ("email", "phone", "first_name", "last_name", "postcode")


def _mapped(values: pa.ChunkedArray, normalise: Any, index: int) -> pa.Array:
    """`normalise(value)[index]` for every value, computed once per distinct value."""
    distinct = pc.unique(values).to_pylist()
    results = pa.array([None if v is None else normalise(v)[index] for v in distinct], pa.string())
    return results.take(pc.index_in(values, pa.array(distinct, values.type)))


def _phone(values: pa.ChunkedArray) -> pa.ChunkedArray:
    digits = pc.replace_substring_regex(values, r"[^0-9]", "")
    return pc.if_else(pc.starts_with(digits, "0"), pc.binary_join_element_wise("+44", pc.utf8_slice_codeunits(digits, 1), ""),
                      pc.binary_join_element_wise("+", digits, ""))


def _units(world: Path, size: int) -> pa.Table:
    """`size` profiles (strong) and `size` receipts (weak) as one table of matching units."""
    people = pq.read_table(world / "truth" / "persons.parquet",
                           columns=["person_id", "email", "phone", "first_name", "last_name", "postcode"]).slice(0, size)
    profiles = pa.table({
        "unique_id": pc.binary_join_element_wise("person:", people["person_id"], ""),
        "email": pc.utf8_lower(people["email"]),
        "phone": people["phone"],
        "first_name": pc.utf8_lower(people["first_name"]),
        "last_name": pc.utf8_lower(people["last_name"]),
        "postcode": _mapped(people["postcode"], lambda v: (normalise_postcode(v),), 0),
        "strong": pa.array([1] * people.num_rows, pa.int64()),
    })
    parts, held = [], 0
    for path in sorted((world / "receipts").glob("*.parquet")):
        part = pq.read_table(path, columns=["receipt_id", "email", "phone", "name", "postcode"])
        part = part.group_by("receipt_id").aggregate([(c, "min") for c in ("email", "phone", "name", "postcode")])
        parts.append(part)
        held += part.num_rows
        if held >= size:
            break
    receipts = pa.concat_tables(parts).slice(0, size)
    names = receipts["name_min"]
    weak = pa.table({
        "unique_id": pc.binary_join_element_wise("record:", receipts["receipt_id"], ""),
        "email": pc.utf8_lower(pc.utf8_trim_whitespace(receipts["email_min"])),
        "phone": _phone(receipts["phone_min"]),
        "first_name": _mapped(names, normalise_name, 0),
        "last_name": _mapped(names, normalise_name, 1),
        "postcode": _mapped(receipts["postcode_min"], lambda v: (normalise_postcode(v),), 0),
        "strong": pa.array([0] * receipts.num_rows, pa.int64()),
    })
    return pa.concat_tables([profiles, weak.cast(profiles.schema)])


def _truth(world: Path, units: pa.Table) -> dict[str, str]:
    """unique_id → true person id, for every unit (profiles carry theirs in the id)."""
    ids = units["unique_id"].to_pylist()
    owners = {uid: uid.removeprefix("person:") for uid in ids if uid.startswith("person:")}
    receipts = pq.read_table(world / "truth" / "records.parquet", columns=["record_kind", "record_id", "person_id"],
                             filters=[("record_kind", "=", "receipt")])
    wanted = pa.array([uid.removeprefix("record:") for uid in ids if uid.startswith("record:")])
    receipts = receipts.filter(pc.is_in(receipts["record_id"], wanted))
    owners.update(zip(("record:" + r for r in receipts["record_id"].to_pylist()), receipts["person_id"].to_pylist()))
    return owners


def link_accuracy(world: Path, units: pa.Table, links: pa.Table) -> dict[str, Any]:
    """Footfall's accepted links (each receipt's best partner) against the world's truth.

    precision: links whose two sides are the same person. recall: receipts that end up with their
    buyer's profile (directly or through other receipts' links) among receipts whose buyer is one of
    the profiles; receipts with no detail at all count as missed (no matcher could link them: the
    share of receipts with some detail is the recall ceiling).
    """
    truth = _truth(world, units)
    left, right = links["left"].to_pylist(), links["right"].to_pylist()
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.get(node, node) != node:
            parent[node] = parent.get(parent[node], parent[node])
            node = parent[node]
        return node

    for a, b in zip(left, right):
        parent[root(a)] = root(b)
    profile_of = {truth[uid]: uid for uid in truth if uid.startswith("person:")}
    receipts = [uid for uid in truth if uid.startswith("record:") and truth[uid] in profile_of]
    detailed = pc.is_valid(pc.coalesce(*(units[c] for c in DETAILS)))
    with_details = set(pc.filter(units["unique_id"], detailed).to_pylist())
    found = sum(root(uid) == root(profile_of[truth[uid]]) for uid in receipts)
    correct = sum(truth.get(a) == truth.get(b) for a, b in zip(left, right))
    return {"links": links.num_rows, "link_precision": correct / links.num_rows if links.num_rows else None,
            "receipts_with_profile": len(receipts), "receipt_recall": found / len(receipts) if receipts else None,
            "recall_ceiling": sum(uid in with_details for uid in receipts) / len(receipts) if receipts else None}


def run_matching(world: Path, size: int, settings: ProbabilisticSettings | None = None) -> dict[str, Any]:
    """Train and predict on `size` profiles + `size` receipts as `match_units` does on DuckDB (Splink's
    memory-limited connection, spilling to a temporary directory); seconds of each, pairs scored, and
    the accepted links checked against the world's truth (not timed)."""
    from splink import DuckDBAPI, Linker

    logging.getLogger("splink").setLevel(logging.ERROR)
    units = _units(world, size)
    settings = settings or ProbabilisticSettings()
    with tempfile.TemporaryDirectory(prefix="splink-spill-", dir=world.parent) as spill:
        api = DuckDBAPI(splink_duckdb_connection(settings, Path(spill)))
        started = time.perf_counter()
        linker = Linker(api.register(units, table_name="units"), splink_settings(settings), log_level=None)
        phases = _train(linker, settings)
        trained = time.perf_counter()
        predictions = linker.inference.predict(threshold_match_probability=settings.threshold).as_pyarrow_table()
        predicted = time.perf_counter()
    links = _best_link_per_weak_unit(predictions)
    return {"profiles": size, "receipts": units.num_rows - size, "units": units.num_rows,
            "train_s": trained - started, "train_phases_s": phases, "predict_s": predicted - trained, "pairs_above_threshold": predictions.num_rows,
            **link_accuracy(world, units, links), "load_1m": os.getloadavg()[0]}
