"""How many pairs each of Footfall's Splink blocking rules makes, on the units `identity_matching` builds.

    python -m benchmarks.identity_blocking <world folder> <size> [record sample proportion]

Counts come from Splink's own `blocking_analysis.count_comparisons_from_blocking_rules` (the pairs
are generated and counted, "not both strong" included, as prediction and training generate them);
a sample proportion below 1 makes Splink estimate them from that share of the records on each side.
Prediction rules are counted cumulatively (a pair is scored once, by the first rule that makes it);
training and prior rules each on their own, as each EM session and the prior count them.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import duckdb


def count_pairs(world: Path, size: int, sample: float = 1.0) -> dict[str, list[dict[str, object]]]:
    from splink import DuckDBAPI
    from splink.blocking_analysis import count_comparisons_from_blocking_rules

    from benchmarks.identity_matching import _units
    from footfall.identity.probabilistic import ProbabilisticSettings, _not_both_strong

    settings = ProbabilisticSettings()
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '4GB'; SET temp_directory = '{tempfile.mkdtemp(prefix='splink-blocking-')}'")
    frame = DuckDBAPI(con).register(_units(world, size), table_name="units")
    groups = {"prediction": [settings.blocking_rules], "training": [[r] for r in settings.training_blocking_rules],
              "prior": [[r] for r in settings.prior_rules]}
    counted: dict[str, list[dict[str, object]]] = {}
    for group, rule_lists in groups.items():
        counted[group] = []
        for rules in rule_lists:
            started = time.perf_counter()
            records = count_comparisons_from_blocking_rules(
                frame, blocking_rules=[_not_both_strong(r) for r in rules], link_type="dedupe_only",
                record_sample_proportion=sample)
            for rule, record in zip(rules, records):
                counted[group].append({"rule": rule, "pairs": record["marginal_comparison_count"],
                                       "cumulative": record["cumulative_comparison_count"],
                                       "estimate": record["is_estimate"], "seconds": time.perf_counter() - started})
    return counted


def main() -> None:
    world, size = Path(sys.argv[1]), int(sys.argv[2])
    sample = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    print(json.dumps({"size": size, "sample": sample, **count_pairs(world, size, sample)}), flush=True)


if __name__ == "__main__":
    main()
