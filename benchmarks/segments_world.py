"""The segment benchmark's project: the 1M-customer world imported into Footfall, grown past 50M events
with a relabelled copy of part of it, persons given by the world's truth.

Growing the world honestly and cheaply: the first `copy_parts` chunks of people (20,000 each) are
imported a second time as *different* people — every message id, receipt id, order id and
identifier (columns and inside the JSON objects) gets a prefix, timestamps and everything else stay.
Their truth records get the same prefix, so the copy is a second population with the same behaviour.

Store visits: the world's raw events hold pings and beacon sightings, not visits; Footfall's own
detection (`footfall visits detect`) adds the `Store Visited` events the segments need, as it would
in production.

Persons: `footfall resolve` on 50M events does not fit the benchmark's time on this machine, so
`event_persons` (message_id → person_id) is written from the world's truth records ("identity
given"; a detected visit belongs to the true owner of the device whose pings made it). Every engine reads that one mapping: Footfall from the warehouse table `event_persons` (where
`footfall resolve` would put it), the baselines from `event_persons.parquet`, written from it.
The project is kept in bench-work/ and reused while its parameters match (importing takes minutes).

Profiles: `online_only_near_store` compares the `nearest_store_km` trait, which Footfall reads from its
`profiles` table. The build runs Footfall's profile build (`footfall profile build`: homes from pings —
the 1M world predates the postcode directory, so there are no postcode homes) and writes the trait the
rule reads, (person_id, nearest_store_km), to `profile_traits.parquet` for the other engines: every
engine starts from the same computed distance, as they all start from the same event → person mapping.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

COPY_PREFIX = "x1-"
TRAITS_FILE = "profile_traits.parquet"
PROFILE_MEMORY_LIMIT = "8GB"  # the profile build's DuckDB cap on this shared machine
FORMAT_VERSION = 1
# Identifiers inside the JSON objects: the text before the value gets the prefix after it.
JSON_IDENTIFIERS = ('"email":"', '"phone":"', '"loyalty_id":"', '"card_token":"', '"order_id":"',
                    '"device":{"id":"', '"userId":"', '"anonymousId":"')
EVENT_ID_COLUMNS = ("message_id", "anonymous_id", "user_id", "previous_id", "order_id", "email", "phone",
                    "loyalty_id", "card_token", "device_id")
RECEIPT_ID_COLUMNS = ("receipt_id", "loyalty_id", "card_token", "email", "phone")


@dataclass(frozen=True)
class SegmentsProject:
    """A prepared benchmark project and the files every engine reads."""

    directory: Path
    events: int
    persons: int
    parameters: dict
    build_seconds: float | None

    @property
    def event_files(self) -> list[Path]:
        return sorted((self.directory / "lake" / "events").glob("*/*.parquet"))

    @property
    def order_line_files(self) -> list[Path]:
        return sorted((self.directory / "lake" / "order_lines").glob("*/*.parquet"))

    @property
    def persons_file(self) -> Path:
        return self.directory / "event_persons.parquet"

    @property
    def traits_file(self) -> Path:
        """The profiles' `nearest_store_km` (written from the warehouse's `profiles` table when missing,
        e.g. in a working copy of the project that copied the warehouse only)."""
        path = self.directory / TRAITS_FILE
        if not path.exists():
            write_profile_traits(self.directory)
        return path


def _prefixed(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return pc.if_else(pc.is_valid(column), pc.binary_join_element_wise(COPY_PREFIX, column, ""), None)


def _relabel_json(column: pa.ChunkedArray) -> pa.ChunkedArray:
    for key in JSON_IDENTIFIERS:
        column = pc.replace_substring(column, key, key + COPY_PREFIX)
    return column


def relabel_events(source: Path, target: Path) -> None:
    """A copy of an events part whose ids and identifiers all carry `COPY_PREFIX`."""
    table = pq.read_table(source)
    for name in EVENT_ID_COLUMNS:
        table = table.set_column(table.column_names.index(name), name, _prefixed(table[name]))
    for name in ("context", "properties", "traits"):
        table = table.set_column(table.column_names.index(name), name, _relabel_json(table[name]))
    pq.write_table(table, target, compression="zstd")


def relabel_receipts(source: Path, target: Path) -> None:
    """A copy of a receipts part (one row per line) with prefixed receipt ids and identifiers."""
    table = pq.read_table(source)
    for name in RECEIPT_ID_COLUMNS:
        table = table.set_column(table.column_names.index(name), name, _prefixed(table[name]))
    pq.write_table(table, target, compression="zstd")


def _already_imported(project_dir: Path) -> set[str]:
    """Files the project's import log records (an interrupted build resumes after them; a file whose
    commit landed but was not logged is imported again and deduplicated by message id)."""
    import sqlite3

    with sqlite3.connect(project_dir / "footfall.sqlite") as con:
        return {row[0] for row in con.execute("SELECT file FROM imports")}


def _import(project_dir: Path, files: list[tuple[str, Path]]) -> int:
    from footfall.ingest import Importer
    from footfall.project import open_project

    project = open_project(project_dir)
    done = _already_imported(project_dir)
    todo = [(kind, path) for kind, path in files if str(path.resolve()) not in done]
    added = 0
    with Importer(project, source="bench") as importer:
        for index, (kind, path) in enumerate(todo):
            result = importer.import_file(kind, path)
            added += result.added_by_table.get("events", 0)
            if index % 10 == 0:
                print(f"  imported {index + 1}/{len(todo)} files ({len(files) - len(todo)} done before), "
                      f"{added:,} events", flush=True)
    return added


def _truth_mapping(world: Path, parts: int, copy_parts: int, target: Path) -> None:
    """event_persons from truth: every imported event's message id → its true person (copies prefixed)."""
    records = str(world / "truth" / "records.parquet")
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")

    def persons_of(count: int) -> str:
        files = ", ".join(f"'{world / 'events' / f'part-{i:05d}.parquet'}'" for i in range(count))
        receipts = ", ".join(f"'{world / 'receipts' / f'part-{i:05d}.parquet'}'" for i in range(count))
        # The people of the first `count` chunks: owners of their events or their receipts.
        return (f"SELECT person_id FROM '{records}' WHERE message_id IN (SELECT message_id FROM read_parquet([{files}])) "
                f"UNION SELECT person_id FROM '{records}' WHERE record_kind = 'receipt' AND record_id IN "
                f"(SELECT receipt_id FROM read_parquet([{receipts}]))")

    con.execute(f"CREATE TEMP TABLE kept AS {persons_of(parts)}")
    con.execute(f"CREATE TEMP TABLE copied AS {persons_of(copy_parts)}" if copy_parts else
                "CREATE TEMP TABLE copied AS SELECT NULL::VARCHAR AS person_id WHERE false")
    con.execute(f"""
        COPY (
          SELECT message_id, person_id FROM '{records}' WHERE person_id IN (SELECT person_id FROM kept)
          UNION ALL
          SELECT CASE WHEN record_kind = 'receipt'
                      THEN regexp_replace(message_id, '^pos:([^:]+):', 'pos:\\1:{COPY_PREFIX}')
                      ELSE '{COPY_PREFIX}' || message_id END,
                 '{COPY_PREFIX}' || person_id
          FROM '{records}' WHERE person_id IN (SELECT person_id FROM copied)
        ) TO '{target}' (FORMAT parquet, COMPRESSION zstd)""")
    con.close()


def _visit_owners(project_dir: Path, persons_file: Path, target: Path) -> int:
    """Owners of the detected `Store Visited` events: the true person of the device whose pings made them.

    Visit events are Footfall's own (from `footfall visits detect`), so truth has no record of them;
    their device key (anonymous id, else user id) belongs to one person in the world.
    """
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    events = f"read_parquet('{project_dir / 'lake' / 'events'}/*/*.parquet')"
    con.execute(f"""
        CREATE TEMP TABLE devices AS
        SELECT coalesce(e.anonymous_id, e.user_id) AS device, any_value(p.person_id) AS person_id,
               count(DISTINCT p.person_id) AS owners
        FROM {events} e JOIN '{persons_file}' p USING (message_id)
        WHERE e.event IN ('Location Updated', 'Beacon Sighted') GROUP BY 1""")
    shared = con.execute("SELECT count(*) FROM devices WHERE owners > 1").fetchone()[0]
    if shared:
        raise RuntimeError(f"{shared} devices have pings of more than one true person")
    con.execute(f"""
        COPY (SELECT e.message_id, d.person_id FROM {events} e
              JOIN devices d ON d.device = coalesce(e.anonymous_id, e.user_id)
              WHERE e.event = 'Store Visited') TO '{target}' (FORMAT parquet, COMPRESSION zstd)""")
    visits = con.execute(f"SELECT count(*) FROM {events} WHERE event = 'Store Visited'").fetchone()[0]
    owned = con.execute(f"SELECT count(*) FROM '{target}'").fetchone()[0]
    con.close()
    if owned != visits:
        raise RuntimeError(f"{visits - owned} Store Visited events have no owner")
    return visits


def _detect_visits(project_dir: Path) -> int:
    """Footfall's own visit detection (`footfall visits detect`): pings and sightings → Store Visited."""
    from footfall.ingest.visits import detect_store_visits
    from footfall.project import open_project
    from footfall.warehouse import open_warehouse

    with open_warehouse(open_project(project_dir), read_only=True) as warehouse:
        return detect_store_visits(warehouse).visits_added


def _materialize_persons(project_dir: Path, persons_file: Path) -> int:
    """Store the mapping as the warehouse tables `event_persons` and `persons`, as `footfall resolve` would."""
    from footfall.project import open_project

    project = open_project(project_dir)
    con = duckdb.connect(str(project.warehouse_path))
    con.execute(f"CREATE OR REPLACE TABLE event_persons AS SELECT message_id, person_id FROM '{persons_file}'")
    con.execute("CREATE OR REPLACE TABLE persons AS SELECT person_id, count(*) AS events FROM event_persons GROUP BY 1")
    persons = con.execute("SELECT count(*) FROM persons").fetchone()[0]
    con.close()
    return persons


def _build_profiles(project_dir: Path) -> dict:
    """`footfall profile build`: every trait of every person, stored as the warehouse's `profiles` table."""
    from footfall.profiles.traits import PROFILES_TABLE, build_profiles, summarise_profiles
    from footfall.project import open_project
    from footfall.warehouse import open_warehouse

    with open_warehouse(open_project(project_dir)) as warehouse:
        warehouse.con.con.execute(f"SET memory_limit = '{PROFILE_MEMORY_LIMIT}'")
        stored = warehouse.materialize(PROFILES_TABLE, build_profiles(warehouse))
        summary = summarise_profiles(stored)
    write_profile_traits(project_dir)
    return {"profiles": summary["persons"], "homes_from_pings": summary["homes_from_pings"],
            "homes_from_postcode": summary["homes_from_postcode"]}


def _version_profiles(project_dir: Path) -> dict:
    """Profiles stored before `Warehouse.materialize` kept versions are stored again through it, so a
    refresh can tell they did not change (as it can for any `footfall profile build` since)."""
    import ibis

    from footfall.project import open_project
    from footfall.warehouse import open_warehouse

    with open_warehouse(open_project(project_dir)) as warehouse:
        if warehouse.version_of("profiles") is None:
            warehouse.materialize("profiles", ibis.memtable(warehouse.to_arrow(warehouse.table("profiles"))))
        return {"version": warehouse.version_of("profiles")}


def write_profile_traits(project_dir: Path) -> None:
    """The trait `online_only_near_store` reads, from the `profiles` table, for the non-Footfall engines."""
    from footfall.project import open_project

    con = duckdb.connect(str(open_project(project_dir).warehouse_path), read_only=True)
    con.execute(f"COPY (SELECT person_id, nearest_store_km FROM profiles) TO '{project_dir / TRAITS_FILE}' "
                "(FORMAT parquet, COMPRESSION zstd)")
    con.close()


def _stage(home: Path, name: str, parameters: dict, work: Callable[[], dict]) -> dict:
    """Run one build step unless a record of it with the same parameters exists (steps take minutes)."""
    record = home / f"{name}.json"
    if record.exists():
        done = json.loads(record.read_text())
        if done["parameters"] == parameters:
            return done
    start = time.perf_counter()
    done = {"parameters": parameters, **work(), "seconds": time.perf_counter() - start}
    record.write_text(json.dumps(done))
    return done


def _seeded(home: Path, seed: Path | None) -> int:
    """Start from a smaller project of the same world (hard links to its immutable lake files, copies
    of its databases) and return how many of its event parts it already holds; 0 without a seed."""
    shutil.rmtree(home / "project", ignore_errors=True)
    if seed is None or not (seed / "imported.json").exists():
        return 0
    done = json.loads((seed / "imported.json").read_text())
    if done["parameters"]["copy_parts"]:
        return 0
    (home / "project").mkdir(parents=True)
    subprocess.run(["cp", "-al", str(seed / "project" / "lake"), str(home / "project" / "lake")], check=True)
    for name in ("footfall.toml", "footfall.sqlite", "footfall.duckdb"):
        shutil.copy2(seed / "project" / name, home / "project" / name)
    # visits and persons are recomputed for the larger project (detection dedupes by message id)
    return done["parameters"]["parts"]


def _import_world(home: Path, world: Path, parameters: dict, seed: Path | None) -> dict:
    from footfall.project import init_project

    parts, copy_parts = parameters["parts"], parameters["copy_parts"]
    marker = home / "importing.json"
    started = json.loads(marker.read_text()) if marker.exists() else None
    if started and started["parameters"] == parameters and (home / "project" / "footfall.toml").exists():
        seeded = started["seeded_parts"]  # resume an interrupted import
    else:
        seeded = _seeded(home, seed)
        if not seeded:
            init_project(home / "project")
        marker.write_text(json.dumps({"parameters": parameters, "seeded_parts": seeded}))
    copies = home / "copies"
    (copies / "events").mkdir(parents=True, exist_ok=True)
    (copies / "receipts").mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, Path]] = [] if seeded else [("stores", world / "stores.parquet"),
                                                       ("products", world / "products.parquet")]
    for i in range(seeded, parts):
        files += [("events", world / "events" / f"part-{i:05d}.parquet"),
                  ("receipts", world / "receipts" / f"part-{i:05d}.parquet")]
    for i in range(copy_parts):
        name = f"part-{i:05d}.parquet"
        relabel_events(world / "events" / name, copies / "events" / name)
        relabel_receipts(world / "receipts" / name, copies / "receipts" / name)
        files += [("events", copies / "events" / name), ("receipts", copies / "receipts" / name)]
    _import(home / "project", files)
    shutil.rmtree(copies)
    held = sum(pq.ParquetFile(p).metadata.num_rows for p in (home / "project" / "lake" / "events").glob("*/*.parquet"))
    return {"imported": held, "seeded_parts": seeded}


def build(workdir: Path, world: Path, parts: int, copy_parts: int, seed: Path | None = None) -> SegmentsProject:
    """The benchmark project for the first `parts` chunks of `world` plus `copy_parts` relabelled ones:
    imported, store visits detected, persons from truth, profiles built. Each step is kept and reused."""
    parameters = {"world": str(world.resolve()), "parts": parts, "copy_parts": copy_parts, "format": FORMAT_VERSION}
    home = workdir / f"segments-p{parts}-c{copy_parts}"
    home.mkdir(parents=True, exist_ok=True)
    project_dir = home / "project"
    persons_file = project_dir / "event_persons.parquet"
    imported = _stage(home, "imported", parameters, lambda: _import_world(home, world, parameters, seed))
    visits = _stage(home, "visits", parameters, lambda: {"visits": _detect_visits(project_dir)})

    def owners() -> dict:
        _truth_mapping(world, parts, copy_parts, home / "truth-records.parquet")
        _visit_owners(project_dir, home / "truth-records.parquet", home / "visit-owners.parquet")
        duckdb.execute(f"COPY (SELECT * FROM read_parquet(['{home / 'truth-records.parquet'}', "
                       f"'{home / 'visit-owners.parquet'}'])) TO '{persons_file}' (FORMAT parquet, COMPRESSION zstd)")
        mapped = pq.ParquetFile(persons_file).metadata.num_rows
        held = sum(pq.ParquetFile(p).metadata.num_rows for p in (project_dir / "lake" / "events").glob("*/*.parquet"))
        if mapped != held:
            raise RuntimeError(f"truth maps {mapped:,} events but the lake holds {held:,}")
        return {"events": mapped, "persons": _materialize_persons(project_dir, persons_file)}

    mapping = _stage(home, "persons", parameters, owners)
    profiles = _stage(home, "profiles", parameters, lambda: _build_profiles(project_dir))
    _stage(home, "profiles-version", parameters, lambda: _version_profiles(project_dir))
    seconds = imported["seconds"] + visits["seconds"] + mapping["seconds"] + profiles["seconds"]
    return SegmentsProject(project_dir, mapping["events"], mapping["persons"], parameters, seconds)


if __name__ == "__main__":  # python -m benchmarks.segments_world PARTS COPY_PARTS: prepare a project ahead
    import sys

    root = Path(__file__).resolve().parent.parent / "bench-work"
    seed = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    built = build(root, root / "world-1000000", int(sys.argv[1]), int(sys.argv[2]), seed)
    print(built)
