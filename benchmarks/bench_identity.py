"""Identity resolution at scale (issue 5, item 9): connected components on a 10M-edge identity-like
graph, side by side in one run, Splink matching throughput, and `footfall resolve` phase timings.

Components, each contender in a fresh process (`identity_contenders.py`) on the same Parquet graph
(`identity_graph.py`): Footfall's `graph.connected_components` on DuckDB (what resolution calls; the
in-memory path), Footfall's Ibis large-star/small-star rounds on DuckDB (the Spark path), scipy's
csgraph with the string keys factorised by Arrow, networkx, and plain min-label propagation in
hand-written DuckDB SQL. Every answer is checked to be the same (node, smallest key) table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.identity_graph import generate_graph
from benchmarks.machine import run_watched

# Sizes can be lowered for a quick trial: FOOTFALL_BENCH_IDENTITY_EDGES, FOOTFALL_BENCH_IDENTITY_MATCHING
# (comma-separated sizes), FOOTFALL_BENCH_IDENTITY_CUSTOMERS.
GRAPH_EDGES = int(os.environ.get("FOOTFALL_BENCH_IDENTITY_EDGES", "10000000"))
RSS_LIMIT_GIB = 12.0  # a contender above this is stopped and reported as failed (the machine is shared)
CONTENDER_TIMEOUT_S = 480
CONTENDERS = (
    ("footfall", "Footfall `connected_components` (DuckDB → Arrow → scipy, in memory)"),
    ("scipy", "scipy `csgraph.connected_components` (incl. factorising keys with Arrow)"),
    ("duckdb_lp", "plain min-label propagation, hand-written DuckDB SQL"),
    ("footfall_rounds", "Footfall large-star/small-star in Ibis on DuckDB (the Spark path)"),
    ("networkx", "networkx (graph build + connected_components)"),
)
MATCHING_SIZES = tuple(int(n) for n in os.environ.get("FOOTFALL_BENCH_IDENTITY_MATCHING", "25000,100000,300000,1000000").split(","))
MATCHING_BUDGET_S = 300  # a size is skipped when the last one, scaled linearly, would take longer
RESOLVE_WORLD = {"customers": int(os.environ.get("FOOTFALL_BENCH_IDENTITY_CUSTOMERS", "50000")), "stores": 100, "days": 90, "seed": 1}


@dataclass
class Outcome:
    name: str
    figures: dict[str, Any] = field(default_factory=dict)
    sampled_peak_gib: float = 0.0
    error: str | None = None


def _contender(name: str, *args: str, timeout_s: float = CONTENDER_TIMEOUT_S) -> Outcome:
    """Run one contender in a fresh interpreter, watching its memory and time."""
    run = run_watched([sys.executable, "-m", "benchmarks.identity_contenders", name, *args], RSS_LIMIT_GIB, timeout_s)
    outcome = Outcome(name, sampled_peak_gib=run.sampled_peak_gib, error=run.stopped)
    if run.returncode != 0:
        outcome.error = outcome.error or f"exit {run.returncode}: {run.last_error_line()}"
        passes = [line.split()[1] for line in run.stderr.splitlines() if line.startswith("pass ")]
        if passes:
            outcome.error += f" after {passes[-1]} passes"
    else:
        outcome.figures = json.loads(run.stdout.strip().splitlines()[-1])
    return outcome


def _same_answer(reference: Path, other: Path) -> tuple[int, int]:
    """(rows of `other`, rows that differ from `reference`: missing on either side or another component)."""
    con = duckdb.connect()
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{other}')").fetchone()[0]
    differ = con.execute(f"""SELECT count(*) FROM read_parquet('{reference}') r
        FULL OUTER JOIN read_parquet('{other}') o ON r.node = o.node
        WHERE r.node IS NULL OR o.node IS NULL OR r.component <> o.component""").fetchone()[0]
    return rows, differ


def components(workdir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    files = generate_graph(workdir / f"identity-graph-{GRAPH_EDGES}", GRAPH_EDGES)
    con = duckdb.connect()
    shape = con.execute(f"""SELECT (SELECT count(*) FROM read_parquet('{files.nodes}')) AS nodes,
        (SELECT count(*) FROM read_parquet('{files.edges}')) AS edges""").fetchone()
    graph = {"nodes": shape[0], "edges": shape[1], "prepare_s": time.perf_counter() - started}
    answers = workdir / "identity-answers"
    answers.mkdir(exist_ok=True)
    outcomes = []
    for name, _ in CONTENDERS:
        print(f"  components: {name}", flush=True)
        answer = answers / f"{name}.parquet"
        answer.unlink(missing_ok=True)
        outcome = _contender(name, str(files.folder), str(answer))
        if outcome.error is None and name != "footfall":
            outcome.figures["rows"], outcome.figures["differ"] = _same_answer(answers / "footfall.parquet", answer)
        elif outcome.error is None:
            outcome.figures["rows"], outcome.figures["differ"] = _same_answer(answer, answer)
        outcomes.append(outcome)
        print(f"    {vars(outcome)}", flush=True)
    return {"graph": graph, "outcomes": outcomes}


def matching(workdir: Path) -> list[Outcome]:
    world = workdir / "world-1000000"
    outcomes: list[Outcome] = []
    for size in MATCHING_SIZES:
        if outcomes:
            last = outcomes[-1]
            if last.error:
                break
            projected = (last.figures["train_s"] + last.figures["predict_s"]) * size / last.figures["profiles"]
            if projected > MATCHING_BUDGET_S:
                outcomes.append(Outcome(f"{size}", error=f"skipped: about {projected:.0f} s projected from the last size"))
                break
        print(f"  splink: {size:,} profiles + {size:,} receipts", flush=True)
        outcome = _contender("splink", str(world), str(size), timeout_s=MATCHING_BUDGET_S * 1.5)
        outcome.name = f"{size}"
        outcomes.append(outcome)
        print(f"    {vars(outcome)}", flush=True)
    return outcomes


def resolve_phases(workdir: Path) -> dict[str, Any]:
    """`footfall resolve` on a world of 50k customers: wall time and the run's own phase timings."""
    from footfall.identity.store import IdentityStore
    from footfall.ingest import Importer
    from footfall.project import init_project, open_project
    from footfall.synth import generate, world_files

    world = workdir / f"world-{RESOLVE_WORLD['customers']}"
    if not (world / "manifest.json").exists():
        generate(world, workers=2, **RESOLVE_WORLD)
    project_dir = workdir / f"identity-resolve-{RESOLVE_WORLD['customers']}"
    if not (project_dir / "imported").exists():
        shutil.rmtree(project_dir, ignore_errors=True)
        project = init_project(project_dir)
        with Importer(project, source="synth") as importer:
            for kind, paths in world_files(world):
                for path in paths:
                    importer.import_file(kind, path)
        (project_dir / "imported").touch()
    started = time.perf_counter()
    done = subprocess.run([str(Path(sys.executable).parent / "footfall"), "resolve", "--project", str(project_dir)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1], "wall_s": wall}
    with IdentityStore(open_project(project_dir)) as store:
        summary = store.last_run()["summary"]
    return {"wall_s": wall, "customers": RESOLVE_WORLD["customers"], **{k: summary[k] for k in ("timings_s", "events", "identifiers", "persons", "edges",
                                                        "probabilistic_links")}}


def run(workdir: Path) -> dict[str, Any]:
    print(" identity: components", flush=True)
    result: dict[str, Any] = {"components": components(workdir)}
    print(" identity: resolve phases", flush=True)
    result["resolve"] = resolve_phases(workdir)
    print(" identity: splink", flush=True)
    result["matching"] = matching(workdir)
    (workdir / "identity.json").write_text(json.dumps(result, default=vars, indent=2))
    return result


def section(workdir: Path, customers: int) -> str:
    """The BENCHMARKS.md section (`customers` is not used: the sizes here are the issue's)."""
    from benchmarks.identity_report import report

    return report(run(workdir))
