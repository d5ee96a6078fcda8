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
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from footfall.identity.normalise import normalise_name, normalise_postcode
from footfall.identity.probabilistic import ProbabilisticSettings, _train, splink_settings

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


def run_matching(world: Path, size: int) -> dict[str, Any]:
    """Train and predict on `size` profiles + `size` receipts; seconds of each, pairs scored."""
    from splink import DuckDBAPI, Linker

    logging.getLogger("splink").setLevel(logging.ERROR)
    units = _units(world, size)
    settings = ProbabilisticSettings()
    api = DuckDBAPI()
    started = time.perf_counter()
    linker = Linker(api.register(units, table_name="units"), splink_settings(settings), log_level=None)
    _train(linker, settings)
    trained = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=settings.threshold).as_pyarrow_table()
    predicted = time.perf_counter()
    return {"profiles": size, "receipts": units.num_rows - size, "units": units.num_rows,
            "train_s": trained - started, "predict_s": predicted - trained, "pairs_above_threshold": predictions.num_rows}
