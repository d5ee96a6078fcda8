"""Generate a large synthetic world, then load its events with Footfall and with plain pandas.

Both sides do the same job on the same files, in fresh subprocesses (so peak memory is their own):
read every event part, drop duplicate message ids, write Parquet. Footfall additionally validates
every column, promotes nothing (the parts are canonical), dedupes against what is already in the
lake and commits atomically per file; pandas reads, concatenates, dedupes and writes one file.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.machine import run_watched

FOOTFALL_LOAD = """
import sys, time
from pathlib import Path
from footfall.project import init_project
from footfall.ingest import Importer
world, target = Path(sys.argv[1]), Path(sys.argv[2])
parts = sorted((world / "events").glob("*.parquet"))[: int(sys.argv[3])]
project = init_project(target)
start = time.perf_counter()
with Importer(project, source="bench") as importer:
    importer.import_file("stores", world / "stores.parquet")
    added = sum(importer.import_file("events", p).rows_added for p in parts)
print(added, time.perf_counter() - start)
"""

PANDAS_LOAD = """
import sys, time
from pathlib import Path
import pandas as pd
world, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir(parents=True, exist_ok=True)
start = time.perf_counter()
files = sorted((world / "events").glob("*.parquet"))[: int(sys.argv[3])]
parts = [pd.read_parquet(p, dtype_backend="pyarrow") for p in files]
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


RSS_LIMIT_GIB = 18.0  # leave the machine usable: a loader above this is stopped and reported as failed


def _run_script(name: str, script: str, *args: str) -> Run:
    """Run a loader in a fresh interpreter, sampling its resident memory until it ends."""
    run = run_watched([sys.executable, "-c", script, *args], RSS_LIMIT_GIB)
    if run.returncode != 0:
        return Run(name, None, None, run.sampled_peak_gib,
                   error=run.stopped or f"exit {run.returncode}: {run.last_error_line()}")
    rows, seconds = run.stdout.split()[-2:]
    return Run(name, int(rows), float(seconds), run.sampled_peak_gib)


def _world(workdir: Path, customers: int, workers: int) -> tuple[Path, dict]:
    """The benchmark world, generated unless one with the same parameters is already there.

    Returns the world and how it was generated (seconds, workers), remembered next to it so a
    report made from a reused world still gives the generation figures.
    """
    from footfall.synth import WorldManifest, generate

    wanted = {"customers": customers, "stores": 100, "days": 90, "seed": 1}
    # One folder per size, so a small trial run never replaces a large world that took minutes.
    world = workdir / f"world-{customers}"
    record = world / "generation.json"
    if (world / "manifest.json").exists() and record.exists():
        existing = WorldManifest.read(world).parameters
        if all(existing.get(k) == v for k, v in wanted.items()):
            return world, {**json.loads(record.read_text()), "reused": True}
    shutil.rmtree(world, ignore_errors=True)
    start = time.perf_counter()
    generate(world, workers=workers, **wanted)
    generation = {"seconds": time.perf_counter() - start, "workers": workers}
    record.write_text(json.dumps(generation))
    return world, {**generation, "reused": False}


SUBSET_PARTS = 10  # 200,000 customers: small enough for pandas to hold in memory on this machine


def _side_by_side(world: Path, workdir: Path, parts: int) -> list[Run]:
    runs = []
    for name, script, out in (("footfall import", FOOTFALL_LOAD, "footfall-project"),
                              ("pandas read+concat+dedupe+write", PANDAS_LOAD, "pandas-out")):
        shutil.rmtree(workdir / out, ignore_errors=True)
        runs.append(_run_script(name, script, str(world), str(workdir / out), str(parts)))
        shutil.rmtree(workdir / out, ignore_errors=True)
    return runs


def run(workdir: Path, customers: int, workers: int = 2) -> dict:
    world, generation = _world(workdir, customers, workers)
    part_files = sorted((world / "events").glob("*.parquet"))
    events_in_world = sum(pq.ParquetFile(p).metadata.num_rows for p in part_files)
    result = {"customers": customers, "events": events_in_world, "generation": generation,
              "runs": _side_by_side(world, workdir, len(part_files)), "subset": None}
    if result["runs"][1].error and len(part_files) > SUBSET_PARTS:
        # pandas could not load the whole world: compare both on the largest share pandas can hold.
        result["subset"] = {"parts": SUBSET_PARTS, "runs": _side_by_side(world, workdir, SUBSET_PARTS)}
    return result


def _table(runs: list[Run]) -> list[str]:
    lines = ["| loader | events stored | seconds | events/s | peak RSS (GiB) |", "|---|---:|---:|---:|---:|"]
    for run_ in runs:
        if run_.error:
            lines.append(f"| {run_.name} | failed: {run_.error} | | | {run_.peak_rss_gib:.1f} |")
        else:
            lines.append(f"| {run_.name} | {run_.rows:,} | {run_.seconds:.1f} | {run_.rows_per_second:,.0f} "
                         f"| {run_.peak_rss_gib:.1f} |")
    footfall, pandas = runs
    if footfall.seconds and pandas.seconds:
        lines += ["", f"**Ratio (pandas seconds / Footfall seconds): {pandas.seconds / footfall.seconds:.2f}** "
                  "— above 1 means Footfall loads faster."]
    return lines


def report(result: dict) -> str:
    lines = [f"## Generate and import a {result['customers']:,}-customer world", ""]
    generation = result["generation"]
    reused = " (world generated by an earlier run with the same parameters and reused)" if generation["reused"] else ""
    lines += [f"Generated {result['events']:,} events in {generation['seconds']:.0f} s "
              f"({result['events'] / generation['seconds']:,.0f} events/s, {generation['workers']} worker "
              f"processes){reused}.", "", "Whole world:", ""]
    lines += _table(result["runs"])
    if result.get("subset"):
        subset = result["subset"]
        lines += ["", f"pandas cannot hold the whole world in memory here, so both loaders also ran on the first "
                  f"{subset['parts']} event files ({subset['parts'] * 20_000:,} customers):", ""]
        lines += _table(subset["runs"])
    lines += ["", "Footfall validates every column, dedupes against the lake per month partition and commits each "
              "file atomically (fsync'd), in bounded memory; the pandas load only reads, concatenates, dedupes "
              "and writes one file, holding everything in memory.", ""]
    return "\n".join(lines)


def _as_json(result: dict) -> str:
    def runs(items: list[Run]) -> list[dict]:
        return [vars(r) for r in items]

    subset = result.get("subset")
    return json.dumps({**result, "runs": runs(result["runs"]),
                       "subset": subset and {**subset, "runs": runs(subset["runs"])}}, indent=2)


def section(workdir: Path, customers: int) -> str:
    result = run(workdir, customers)
    (workdir / "import.json").write_text(_as_json(result))
    return report(result)
