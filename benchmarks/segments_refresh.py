"""Incremental refresh in the segment benchmark: a day passes and 1% new events land, then Footfall's
refresh (rollups updated from the new lake batch only) is timed against full evaluations that rescan
raw events, and its members are checked against theirs.

The new batch is realistic and honest: 1% of the project's events (every 100th by a hash of the message
id), re-issued under new message ids for the same persons (their order lines too): nine in ten move to
the next day (same time of day), one in ten keeps its old timestamp — late events landing in old
buckets. `as_of` moves forward by one day, so windows slide as well. The work happens in a copy of the
project (hard links to its immutable lake files) so the measured project stays reusable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

NEW_PREFIX = "inc1-"
SAMPLE_MODULO = 100  # 1% of events
LATE_MODULO = 10  # of those, one in ten keeps its past timestamp
REFRESH_REPEATS = 2  # runs of each way of refreshing; the fastest is reported


def grown_copy(project_dir: Path, target: Path) -> Path:
    """A working copy of the project: hard links to the lake (files are never rewritten), copied databases."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    subprocess.run(["cp", "-al", str(project_dir / "lake"), str(target / "lake")], check=True)
    for name in ("footfall.toml", "footfall.sqlite", "footfall.duckdb", "event_persons.parquet"):
        shutil.copy2(project_dir / name, target / name)
    return target


def new_batch(project_dir: Path, as_of: datetime) -> dict:
    """Commit 1% new events (and their order lines) as one lake batch; map them to their persons.

    Returns counts and the Parquet file of the new (message_id, person_id) rows.
    """
    from footfall.lake import Lake
    from footfall.schema import LAKE_TABLES

    lake = project_dir / "lake"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    day = f"TIMESTAMPTZ '{as_of.isoformat()}'"
    picked = f"hash(message_id) % {SAMPLE_MODULO} = 7"
    late = f"hash(message_id || 'late') % {LATE_MODULO} = 0"
    # Moved events keep their time of day on the new day; late ones keep their timestamp.
    shift = f"CASE WHEN {late} THEN INTERVAL 0 DAY ELSE {day} - date_trunc('day', timestamp) END"
    con.execute(f"""CREATE TEMP TABLE picked AS SELECT message_id, {shift} AS shift,
                    {late} AS is_late FROM read_parquet('{lake}/events/*/*.parquet') WHERE {picked}""")
    events = con.execute(f"""
        SELECT e.* REPLACE ('{NEW_PREFIX}' || e.message_id AS message_id, e.timestamp + p.shift AS timestamp,
                          e.sent_at + p.shift AS sent_at, e.received_at + p.shift AS received_at,
                          e.ended_at + p.shift AS ended_at)
        FROM read_parquet('{lake}/events/*/*.parquet') e JOIN picked p USING (message_id)""").fetch_arrow_table()
    lines = con.execute(f"""
        SELECT l.* REPLACE ('{NEW_PREFIX}' || l.message_id AS message_id, l.timestamp + p.shift AS timestamp)
        FROM read_parquet('{lake}/order_lines/*/*.parquet') l JOIN picked p USING (message_id)""").fetch_arrow_table()
    persons_file = project_dir / "event_persons-new.parquet"
    con.execute(f"""COPY (SELECT '{NEW_PREFIX}' || m.message_id AS message_id, m.person_id
                          FROM read_parquet('{project_dir / 'event_persons.parquet'}') m JOIN picked p USING (message_id))
                    TO '{persons_file}' (FORMAT parquet)""")
    late_count = con.execute("SELECT count(*) FROM picked WHERE is_late").fetchone()[0]
    con.close()
    start = time.perf_counter()
    batch_id = Lake(lake).commit({"events": events.cast(LAKE_TABLES["events"]),
                                  "order_lines": lines.cast(LAKE_TABLES["order_lines"])})
    commit_seconds = time.perf_counter() - start
    # identity given: the new events' owners join the warehouse's mapping, as `footfall resolve` would add them
    from footfall.project import open_project

    warehouse = duckdb.connect(str(open_project(project_dir).warehouse_path))
    warehouse.execute(f"INSERT INTO event_persons SELECT message_id, person_id FROM '{persons_file}'")
    warehouse.execute(f"""INSERT INTO persons SELECT DISTINCT person_id, 0 FROM '{persons_file}'
                          WHERE person_id NOT IN (SELECT person_id FROM persons)""")
    warehouse.close()
    return {"batch_id": batch_id, "events": events.num_rows, "order_lines": lines.num_rows, "late": late_count,
            "commit_seconds": commit_seconds, "persons_file": str(persons_file)}


def measure_refresh(workdir: Path, project, as_of: datetime, scratch: Path, full_runs: list) -> dict | None:
    """Rollups built at `as_of`, 1% new events, refresh at `as_of + 1 day`; full evaluations after it."""
    from benchmarks.bench_segments import ENGINES, agreement, best_of, run_engine, spec_of

    try:
        from footfall.segments import refresh  # noqa: F401  (F's incremental refresh)
    except ImportError:
        return {"error": "footfall.segments.refresh is not there yet"}
    copy = grown_copy(project.directory, scratch.parent / f"{scratch.name}-grown" / "project")
    grown = type(project)(copy, project.events, project.persons, project.parameters, None)
    setup = run_engine("rollups", spec_of(grown, as_of), scratch / "rollups")
    batch = new_batch(copy, as_of)
    later = as_of + timedelta(days=1)
    spec = spec_of(grown, later, persons=[copy / "event_persons.parquet", Path(batch["persons_file"])])
    # Two ways to run it, from the same state: the refresh rolls the batch up itself (one command after
    # a load), or the loader ran `footfall segment rollups` when it wrote the batch and its owners and
    # the refresh finds that done. A refresh changes the state, so every run gets its own copy, made
    # and flushed to disk before anything is timed (writing back gigabytes of copies otherwise lands in
    # the refresh's fsyncs: single runs varied by half). Each way runs twice; the faster run is kept,
    # as the full evaluations keep their fastest.
    runs: dict[str, list] = {"refresh": [], "at_load": [], "refresh_after_load": []}
    for attempt in range(REFRESH_REPEATS):
        one, loaded = (state_copy(copy, scratch.parent / f"{scratch.name}-grown" / f"{way}-{attempt}")
                       for way in ("one-command", "loaded"))
        os.sync()
        runs["refresh"].append(run_engine("refresh", {**spec, "project": str(one)}, scratch / "refresh"))
        loaded_spec = {**spec, "project": str(loaded)}
        runs["at_load"].append(run_engine("rollup-update", loaded_spec, scratch / "rollup-update"))
        runs["refresh_after_load"].append(run_engine("refresh", loaded_spec, scratch / "refresh-after-load"))
        for path in (one, loaded):
            shutil.rmtree(path, ignore_errors=True)
    best = {way: min(done, key=lambda r: float("inf") if r.error else r.seconds) for way, done in runs.items()}
    # pandas is left out here: it is never the fastest, and the others check the refresh's members
    after = [best_of(engine, spec, scratch / "after", repeats=1) for engine in ENGINES if engine != "pandas"]
    return {"batch": batch, "setup": setup, **best, "after": after, "as_of": later.isoformat(),
            "repeats": REFRESH_REPEATS, "problems": agreement([*runs["refresh"], *runs["refresh_after_load"], *after])}


def state_copy(project_dir: Path, target: Path) -> Path:
    """A copy of a project whose rollups are a real copy too (a refresh adds and replaces files there)."""
    copied = grown_copy(project_dir, target)
    shutil.rmtree(copied / "lake" / "_rollups")
    shutil.copytree(project_dir / "lake" / "_rollups", copied / "lake" / "_rollups")
    return copied


def refresh_lines(incremental: dict, full_runs: list) -> list[str]:
    if incremental.get("error"):
        return [f"Incremental refresh: not measured ({incremental['error']})."]
    batch, refreshed, setup = incremental["batch"], incremental["refresh"], incremental["setup"]
    lines = [f"**Incremental refresh** (as_of + 1 day = {incremental['as_of']}): one new lake batch of "
             f"{batch['events']:,} events (1%; {batch['late']:,} of them late, with past timestamps) and "
             f"{batch['order_lines']:,} order lines. Each way of refreshing ran "
             f"{incremental.get('repeats', 1)} times, each run on its own copy of the state after the batch; the "
             "fastest is shown.", ""]
    lines += ["| run | seconds | peak RSS (GiB) |", "|---|---:|---:|"]
    if setup.error:
        lines.append(f"| rollups built before the batch (one-off) | failed: {setup.error} | |")
    else:
        peak = "—" if setup.peak_rss_gib is None else f"{setup.peak_rss_gib:.2f}"
        lines.append(f"| rollups built before the batch (one-off) | {setup.seconds:.2f} | {peak} |")
    at_load, after_load = incremental.get("at_load"), incremental.get("refresh_after_load")

    def row(label: str, run: Any) -> str:
        if run is None:
            return f"| {label} | not measured in this run | |"
        if run.error:
            return f"| {label} | failed: {run.error} | |"
        return f"| {label} | {run.seconds:.3f} | {run.peak_rss_gib:.2f} |"

    lines.append(row("**Footfall refresh** (rolls the batch up itself)", refreshed))
    lines.append(row("`footfall segment rollups` at load (the batch rolled up when it was written)", at_load))
    lines.append(row("**Footfall refresh** after that (segments only)", after_load))
    good = [r for r in incremental["after"] if r.error is None]
    for run in incremental["after"]:
        lines.append(row(f"full evaluation after the batch: {run.engine}", run))
    if good and not refreshed.error:
        best = min(good, key=lambda r: r.seconds)
        lines += ["", f"Against the fastest full evaluation ({best.engine}, {best.seconds:.2f} s; target ≥ 20×): "
                  f"the refresh that rolls the batch up itself is **{best.seconds / refreshed.seconds:.1f}× faster**"]
        if after_load is not None and not after_load.error and at_load is not None and not at_load.error:
            lines[-1] += (f"; with the batch rolled up at load, the refresh is **{best.seconds / after_load.seconds:.1f}× "
                          f"faster** ({best.seconds / (at_load.seconds + after_load.seconds):.1f}× counting the "
                          "load's rollup update too)")
        lines[-1] += "."
    if refreshed.details:
        touched = "; ".join(f"{d['segment']}: {d['mode']} (rollups {d['rollups']}, {d['new_events']:,} new events rolled up, "
                            + ("everyone" if d["persons_evaluated"] is None else f"{d['persons_evaluated']:,} persons")
                            + " re-evaluated)" for d in refreshed.details)
        lines += ["", f"What the refresh touched — {touched}."]
    if incremental["problems"]:
        lines += ["", "**Members differ after the batch:** " + "; ".join(incremental["problems"])]
    elif not refreshed.error:
        lines += ["", "The refresh returns exactly the members every full evaluation finds after the batch."]
    return lines

