"""The identity section of BENCHMARKS.md, from the figures `bench_identity.run` gathered."""

from __future__ import annotations

import os
from typing import Any

from benchmarks.bench_identity import CONTENDERS, RSS_LIMIT_GIB


def _peak(outcome: Any) -> float:
    return max(outcome.sampled_peak_gib, outcome.figures.get("peak_rss_gib", 0.0))


def _components(result: dict[str, Any]) -> list[str]:
    graph, outcomes = result["graph"], {o.name: o for o in result["outcomes"]}
    titles = dict(CONTENDERS)
    lines = [f"Graph: {graph['edges']:,} edges over {graph['nodes']:,} identifiers (`benchmarks/identity_graph.py`: "
             "people with 1–5 string keys such as `email:…@mail.co.uk`, `anonymous_id:…`, linked as co-occurrence "
             "links them, plus 3% cross links through shared household emails; seed 7). Each contender runs in a "
             "fresh process; loading the Parquet into its input form is not timed. Peak RSS includes the input "
             "held in memory (shown separately).", "",
             "| contender | seconds | × scipy | vs DuckDB LP | passes/rounds | peak RSS GiB (input) | same answer |",
             "|---|---:|---:|---:|---:|---:|---|"]
    scipy = outcomes.get("scipy")
    lp = outcomes.get("duckdb_lp")
    base = scipy.figures.get("seconds") if scipy and not scipy.error else None
    lp_s = lp.figures.get("seconds") if lp and not lp.error else None
    for name, title in CONTENDERS:
        outcome = outcomes.get(name)
        if outcome is None:
            continue
        if outcome.error:
            lines.append(f"| {title} | failed: {outcome.error} | | | | {_peak(outcome):.1f} | |")
            continue
        f = outcome.figures
        ratio = f"{f['seconds'] / base:.2f}" if base else ""
        versus = f"{lp_s / f['seconds']:.1f}× faster" if lp_s and name != "duckdb_lp" else ""
        passes = f.get("passes", "")
        same = "yes" if f.get("differ") == 0 else f"**no: {f.get('differ'):,} rows differ**"
        lines.append(f"| {title} | {f['seconds']:.1f} | {ratio} | {versus} | {passes} | "
                     f"{_peak(outcome):.1f} ({f.get('rss_before_gib', 0):.1f}) | {same} |")
    if scipy and not scipy.error:
        lines += ["", f"scipy's time splits into factorising the string keys ({scipy.figures['factorise_s']:.1f} s, one "
                  f"Arrow hash pass) and the traversal on integers ({scipy.figures['csgraph_s']:.1f} s); it does not "
                  "name components by their smallest key, which Footfall does (and pulls the edges out of DuckDB)."]
    nx = outcomes.get("networkx")
    if nx and not nx.error:
        lines += ["", f"networkx: {nx.figures['build_s']:.1f} s building the graph, {nx.figures['components_s']:.1f} s "
                  "finding components."]
    lines += ["", "'Same answer': every contender's (node, smallest key of its component) table is compared row by "
              "row with Footfall's. DuckDB LP passes count the first labelling and the last pass that changes "
              "nothing; Footfall's rounds are large-star + small-star pairs."]
    return lines


def _matching(outcomes: list[Any]) -> list[str]:
    lines = ["| profiles + receipts | training s | prediction s | prediction units/s | pairs ≥ 0.9 | links | link precision "
             "| receipt recall (ceiling) | peak RSS GiB | load (1 min) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    phases = []
    for outcome in outcomes:
        if outcome.error:
            lines.append(f"| {int(outcome.name):,} + {int(outcome.name):,} | {outcome.error} | | | | | | | | |")
            continue
        f = outcome.figures
        lines.append(f"| {f['profiles']:,} + {f['receipts']:,} | {f['train_s']:.1f} | {f['predict_s']:.1f} | "
                     f"{f['units'] / f['predict_s']:,.0f} | {f['pairs_above_threshold']:,} | {f['links']:,} | "
                     f"{f['link_precision']:.4f} | {f['receipt_recall']:.3f} ({f['recall_ceiling']:.3f}) | {_peak(outcome):.1f} | "
                     f"{f['load_1m']:.1f} |")
        phases.append(f"{f['profiles']:,}: " + ", ".join(f"{k} {v:.1f}" for k, v in f["train_phases_s"].items()))
    if phases:
        lines += ["", "Training seconds by phase (prior from deterministic rules; u by random sampling, 1e6 pairs; one EM "
                  "session per training rule, each sampled by Splink to about 2e6 pairs): " + "; ".join(phases) + "."]
    return lines


def _resolve(result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return [f"`footfall resolve` failed: {result['error']}"]
    timings = result["timings_s"]
    lines = [f"`footfall resolve` (DuckDB) on a world of {result['customers']:,} customers (`footfall synth generate`, 100 stores, "
             f"90 days, seed 1): {result['events']:,} events, {result['identifiers']:,} identifiers, {result['edges']:,} edges, "
             f"{result['persons']:,} persons, {result['probabilistic_links']:,} Splink links; {result['wall_s']:.0f} s "
             "wall including the CLI start.", "", "| phase | seconds | share |", "|---|---:|---:|"]
    total = sum(timings.values())
    lines += [f"| {phase} | {seconds:.1f} | {seconds / total:.0%} |" for phase, seconds in timings.items()]
    return lines


def report(result: dict[str, Any]) -> str:
    load = os.getloadavg()
    lines = ["## Identity resolution: connected components, Splink matching, resolve phases", "",
             f"Load average when the section was written: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on 2 cores "
             "(the machine is shared; absolute seconds are inflated accordingly, ratios within a run less so). "
             f"Contenders above {RSS_LIMIT_GIB:.0f} GiB or their time limit are stopped.", "",
             "### Connected components", ""]
    lines += _components(result["components"])
    lines += ["", "### Phases of `footfall resolve`", ""]
    lines += _resolve(result["resolve"])
    lines += ["", "### Splink matching (Footfall's probabilistic settings, DuckDB)", "",
              "Profiles are the first people of the 1M-customer world (strong units), receipts the first distinct "
              "receipts of the same world (weak units), details normalised as `records.py` does; Splink dedupes the "
              "union with Footfall's comparisons and blocking rules (`benchmarks/identity_matching.py`) on the same "
              "memory-limited DuckDB connection `match_units` uses (4 GB, spilling to a temporary directory). Units/s "
              "counts profiles + receipts. Links are Footfall's accepted links (each receipt's single best partner "
              "≥ 0.9), checked against the world's truth: precision is the share joining the same person; receipt recall "
              "the share of receipts that end up with their buyer's profile, out of a ceiling of receipts that carry any "
              "detail at all.", ""]
    lines += _matching(result["matching"])
    return "\n".join(lines) + "\n"
