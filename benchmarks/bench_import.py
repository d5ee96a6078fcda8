"""Generate a large synthetic world, then load its events with Footfall and with plain pandas.

Both sides do the same job on the same files, in fresh subprocesses (so peak memory is their own):
read every event part, drop duplicate message ids, write Parquet. Footfall additionally validates
every column, promotes nothing (the parts are canonical), dedupes against what is already in the
lake and commits atomically per file; pandas reads, concatenates, dedupes and writes one file.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

FOOTFALL_LOAD = """
import sys, time
from pathlib import Path
from footfall.project import init_project
from footfall.ingest import Importer
world, target = Path(sys.argv[1]), Path(sys.argv[2])
project = init_project(target)
start = time.perf_counter()
with Importer(project, source="bench") as importer:
    importer.import_file("stores", world / "stores.parquet")
    added = sum(importer.import_file("events", p).rows_added for p in sorted((world / "events").glob("*.parquet")))
print(added, time.perf_counter() - start)
"""

PANDAS_LOAD = """
import sys, time
from pathlib import Path
import pandas as pd
world, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
start = time.perf_counter()
parts = [pd.read_parquet(p, dtype_backend="pyarrow") for p in sorted((world / "events").glob("*.parquet"))]
events = pd.concat(parts, ignore_index=True).drop_duplicates("message_id")
events.to_parquet(target / "events.parquet", compression="zstd", index=False)
print(len(events), time.perf_counter() - start)
"""


@dataclass
class Run:
    name: str
    rows: int | None
    seconds: float | None
    peak_rss_gib: float
    error: str | None = None

    @property
    def rows_per_second(self) -> float | None:
        return None if not self.rows or not self.seconds else self.rows / self.seconds


def _run_script(name: str, script: str, *args: str) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    completed = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True)
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024**2
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["killed"])[-1]
        return Run(name, None, None, peak, error=f"exit {completed.returncode}: {last}")
    rows, seconds = completed.stdout.split()[-2:]
    return Run(name, int(rows), float(seconds), peak)


def run(workdir: Path, customers: int, workers: int = 2) -> dict:
    from footfall.synth import generate

    world = workdir / "world"
    start = time.perf_counter()
    manifest = generate(world, customers=customers, stores=100, days=90, seed=1, workers=workers)
    generate_seconds = time.perf_counter() - start
    events_in_world = sum(pq.ParquetFile(p).metadata.num_rows for p in (world / "events").glob("*.parquet"))
    footfall = _run_script("footfall import", FOOTFALL_LOAD, str(world), str(workdir / "footfall-project"))
    pandas = _run_script("pandas read+concat+dedupe+write", PANDAS_LOAD, str(world), str(workdir / "pandas-out"))
    ratio = None
    if footfall.seconds and pandas.seconds:
        ratio = pandas.seconds / footfall.seconds
    return {
        "customers": customers,
        "events": events_in_world,
        "generate_seconds": generate_seconds,
        "generate_events_per_second": events_in_world / generate_seconds,
        "workers": workers,
        "manifest.row_counts": manifest.counts,
        "runs": [footfall, pandas],
        "speedup_vs_pandas": ratio,
    }


def report(result: dict) -> str:
    lines = [
        f"### Generate and import a {result['customers']:,}-customer world",
        "",
        f"Generated {result['events']:,} events in {result['generate_seconds']:.1f} s "
        f"({result['generate_events_per_second']:,.0f} events/s, {result['workers']} worker processes).",
        "",
        "| loader | events stored | seconds | events/s | peak RSS (GiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for run_ in result["runs"]:
        if run_.error:
            lines.append(f"| {run_.name} | failed: {run_.error} | | | {run_.peak_rss_gib:.1f} |")
        else:
            lines.append(
                f"| {run_.name} | {run_.rows:,} | {run_.seconds:.1f} | {run_.rows_per_second:,.0f} | {run_.peak_rss_gib:.1f} |"
            )
    if result["speedup_vs_pandas"]:
        lines += ["", f"**Footfall import / pandas time ratio: {1 / result['speedup_vs_pandas']:.2f}** "
                  f"(pandas takes {result['speedup_vs_pandas']:.2f}x Footfall's time; above 1 means Footfall is faster)."]
    lines += ["", "Footfall's load validates every column, dedupes against the lake per date partition and commits "
              "each file atomically (fsync'd); the pandas load only reads, concatenates, dedupes and writes one file."]
    return "\n".join(lines)


def as_json(result: dict) -> str:
    return json.dumps({**result, "runs": [vars(r) for r in result["runs"]]}, indent=2, default=str)
