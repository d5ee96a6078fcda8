"""Profiles on the demo world: a full rebuild of the `profiles` table, the journey queries, and how often
the nearest store is right.

The world is `footfall demo`'s (10,000 customers, 25 stores, 90 days, seed 7; FOOTFALL_BENCH_PROFILES_CUSTOMERS
overrides the size), imported with its postcode directory, store visits detected and identities
resolved once (kept in bench-work/ and reused). The measurements run in a fresh subprocess so that
its peak memory is the build's own; CPU seconds are reported next to wall time because on a shared
machine wall time mostly measures the neighbours.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DEMO = {"stores": 25, "days": 90, "seed": 7}
RUNS = 3

PREPARE = """
import sys
from pathlib import Path
from footfall.identity import IdentitySettings, resolve_identities
from footfall.ingest import Importer
from footfall.ingest.visits import detect_store_visits
from footfall.project import init_project
from footfall.synth import generate, world_files
from footfall.warehouse import open_warehouse
base, customers, stores, days, seed = Path(sys.argv[1]), *map(int, sys.argv[2:6])
manifest = generate(base / "world", customers=customers, stores=stores, days=days, seed=seed, workers=2)
project = init_project(base / "project", name="bench-profiles", timezone="Europe/London")
world = base / "world"
with Importer(project, source="bench") as importer:
    for kind, paths in world_files(world):
        for path in paths:
            importer.import_file(kind, path)
with open_warehouse(project) as warehouse:
    detect_store_visits(warehouse)
with open_warehouse(project) as warehouse:
    resolve_identities(warehouse, IdentitySettings())
(base / "READY").write_text("ok")
"""

MEASURE = """
import json, resource, statistics, sys, time
from collections import Counter
from datetime import timedelta
from pathlib import Path
import pyarrow.parquet as pq
from footfall.profiles import funnel, materialize_profiles, timeline, top_paths
from footfall.project import open_project
from footfall.warehouse import open_warehouse

def timed(call):
    usage, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    result = call()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    return result, time.perf_counter() - start, cpu

base, runs = Path(sys.argv[1]), int(sys.argv[2])
out = {"builds": []}
with open_warehouse(open_project(base / "project")) as warehouse:
    out["events"] = warehouse.table("events").count().to_pyarrow().as_py()
    for _ in range(runs):
        _, wall, cpu = timed(lambda: materialize_profiles(warehouse))
        out["builds"].append({"wall_s": wall, "cpu_s": cpu})
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    profiles = warehouse.table("profiles").to_pyarrow().to_pylist()
    owners = warehouse.table("event_persons").to_pyarrow()
    email = pq.read_table(base / "world" / "truth" / "persons.parquet", columns=["email"])["email"][0].as_py()
    _, out["timeline_s"], _ = timed(lambda: timeline(warehouse, email))
    _, out["paths_s"], _ = timed(lambda: top_paths(warehouse, length=3, top=10))
    steps = ["Product Viewed", "Store Visited", "Order Completed[channel=pos]"]
    _, out["funnel_s"], _ = timed(lambda: funnel(warehouse, steps, timedelta(days=14)))
truth_of = dict(zip(*pq.read_table(base / "world" / "truth" / "records.parquet", columns=["message_id", "person_id"]).columns))
truth_of = {k.as_py(): v.as_py() for k, v in truth_of.items()}
votes = {}
for message_id, person in zip(owners["message_id"].to_pylist(), owners["person_id"].to_pylist()):
    if message_id in truth_of:
        votes.setdefault(person, Counter())[truth_of[message_id]] += 1
owner = {p: c.most_common(1)[0][0] for p, c in votes.items()}
truth = {r["person_id"]: r for r in pq.read_table(base / "world" / "truth" / "persons.parquet").to_pylist()}
out["persons"] = len(profiles)
for source in ("pings", "postcode"):
    placed = [r for r in profiles if r["home_source"] == source and r["person_id"] in owner]
    right = [r["nearest_store_id"] == truth[owner[r["person_id"]]]["home_store_id"] for r in placed]
    errors = [abs(r["nearest_store_km"] - truth[owner[r["person_id"]]]["home_store_km"]) for r in placed]
    out[source] = {"persons": len(placed), "right": sum(right) / len(placed), "median_km_error": statistics.median(errors)}
print(json.dumps(out))
"""


def _python(script: str, *args: object) -> str:
    done = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"profiles benchmark step failed:\n{done.stderr[-3000:]}")
    return done.stdout


def section(workdir: Path, customers: int) -> str:
    size = int(os.environ.get("FOOTFALL_BENCH_PROFILES_CUSTOMERS", min(customers, 10_000)))
    base = workdir / f"profiles-{size}"
    if not (base / "READY").exists():
        if base.exists():
            import shutil

            shutil.rmtree(base)
        base.mkdir(parents=True)
        _python(PREPARE, base, size, DEMO["stores"], DEMO["days"], DEMO["seed"])
    found = json.loads(_python(MEASURE, base, RUNS).strip().splitlines()[-1])
    builds = found["builds"]
    best = min(builds, key=lambda b: b["wall_s"])
    lines = [
        "## Profiles: full rebuild of the demo world",
        "",
        f"{size:,} customers, {DEMO['stores']} stores, {DEMO['days']} days (seed {DEMO['seed']}): "
        f"{found['events']:,} events, {found['persons']:,} resolved persons, store visits detected. "
        f"`build_profiles` + materialise on DuckDB, {RUNS} runs in one process (`benchmarks/bench_profiles.py`).",
        "",
        "| what | wall | CPU |",
        "|---|---|---|",
        *[f"| profiles rebuild, run {i + 1} | {b['wall_s']:.2f} s | {b['cpu_s']:.2f} s |" for i, b in enumerate(builds)],
        f"| timeline of one person (find + events + traits) | {found['timeline_s']:.2f} s | |",
        f"| top 10 paths of 3 steps | {found['paths_s']:.2f} s | |",
        f"| funnel of 3 steps within 14d | {found['funnel_s']:.2f} s | |",
        "",
        f"Best rebuild {best['wall_s']:.2f} s; peak RSS of the measuring process {found['peak_rss_gib']:.2f} GiB. "
        "CPU is the process's user + system time over all DuckDB threads.",
        "",
        "| home from | persons | nearest store right | median distance error |",
        "|---|---|---|---|",
        *[f"| {s} | {found[s]['persons']:,} | {found[s]['right']:.1%} | {found[s]['median_km_error']:.3f} km |"
          for s in ("pings", "postcode")],
    ]
    return "\n".join(lines)
