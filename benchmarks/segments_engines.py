"""One engine evaluating the benchmark's segments, run as its own process so its peak memory is its own.

`python -m benchmarks.segments_engines ENGINE SPEC OUT` reads the job (files, as_of, segments) from the
JSON file SPEC, evaluates every segment, writes the members to OUT (Parquet: segment, person_id) and
prints one JSON line: total seconds, peak RSS, members per segment and, for the engines that
evaluate one segment after another, seconds per segment. Time starts before any file is
read (the engines' own imports excluded) and ends when the last member set is in memory.

The baselines are what a data engineer would write by hand against the same files (the lake's event
and order-line Parquet files, the event → person mapping `event_persons.parquet` and the profiles'
`nearest_store_km` in `profile_traits.parquet`), following the semantics of Footfall's built-in
definitions (`footfall.segments.builtin`):

- ropo: a `Product Viewed` (online) event, then strictly later and at most 14 days after it an
  offline `Order Completed` whose order lines (or the event itself) carry the same sku.
- showroomers: a `Store Visited` event, then strictly later and at most 7 days after it an online
  `Order Completed`; and no offline `Order Completed` at all.
- omnichannel: an online `Order Completed` and an offline one.
- online_only_near_store: an online `Order Completed`, no offline one, no `Store Visited`, and a
  profile whose `nearest_store_km` is below 8 (an unknown distance is not below 8).
- lapsed_store_active_online: an offline `Order Completed`, none in the last 45 days, a `Product
  Viewed` in the last 30 days, no online `Order Completed`, not a ropo member, no `Event Checked In`.
- event_attendees: an `Event Checked In`.
- store_only: an offline `Order Completed` and no event at all (of any name) whose realm is online.
Every event counts only up to as_of; "in 30d" means as_of - 30d < timestamp <= as_of. Segments are
evaluated in this order, so a segment can reuse one evaluated before it (lapsed excludes ropo).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from benchmarks.machine import process_memory_gib

SEGMENTS = ("ropo", "showroomers", "omnichannel", "online_only_near_store", "lapsed_store_active_online",
            "event_attendees", "store_only")
# The built-in definitions the baselines below implement; the benchmark reports any drift.
BASELINE_DEFINITIONS = {
    "ropo": 'did "Product Viewed"[realm=online] then "Order Completed"[realm=offline] within 14d same sku',
    "showroomers": 'did "Store Visited" then "Order Completed"[realm=online] within 7d'
                   ' and not did "Order Completed"[realm=offline]',
    "omnichannel": 'did "Order Completed"[realm=online] and did "Order Completed"[realm=offline]',
    "online_only_near_store": 'did "Order Completed"[realm=online] and not did "Order Completed"[realm=offline]'
                              ' and not did "Store Visited" and nearest_store_km < 8',
    "lapsed_store_active_online": 'did "Order Completed"[realm=offline] and not did "Order Completed"[realm=offline] in 45d'
                                  ' and did "Product Viewed" in 30d and not did "Order Completed"[realm=online]'
                                  ' and not in segment ropo and not did "Event Checked In"',
    "event_attendees": 'did "Event Checked In"',
    "store_only": 'did "Order Completed"[realm=offline] and not did any[realm=online]',
}
NEAR_STORE_KM = 8
DAY = timedelta(days=1)
# Seconds per segment, for the engines that evaluate one segment after another (DuckDB SQL, Footfall);
# pandas and Polars share their frames between segments, so only their total means anything.
SEGMENT_SECONDS: dict[str, float] = {}


# -- hand-written DuckDB SQL -----------------------------------------------------------------------
def duckdb_segments(spec: dict) -> dict[str, list[str]]:
    import duckdb

    con = duckdb.connect()
    files = lambda paths: "[" + ", ".join(f"'{p}'" for p in paths) + "]"  # noqa: E731
    as_of = f"TIMESTAMPTZ '{spec['as_of']}'"
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({files(spec['events'])}) WHERE timestamp <= {as_of}")
    con.execute(f"CREATE VIEW order_lines AS SELECT * FROM read_parquet({files(spec['order_lines'])})")
    con.execute(f"CREATE VIEW event_persons AS SELECT * FROM read_parquet({files(spec['persons'])})")
    con.execute(f"CREATE VIEW profile_traits AS SELECT * FROM read_parquet('{spec['traits']}')")
    queries = {
        "ropo": """
            CREATE TEMP TABLE ropo AS
            WITH views AS (
              SELECT p.person_id, e.timestamp, e.sku FROM events e JOIN event_persons p USING (message_id)
              WHERE e.event = 'Product Viewed' AND e.realm = 'online'),
            store_lines AS (
              SELECT p.person_id, e.timestamp, coalesce(l.sku, e.sku) AS sku
              FROM events e LEFT JOIN order_lines l USING (message_id) JOIN event_persons p USING (message_id)
              WHERE e.event = 'Order Completed' AND e.realm = 'offline')
            SELECT DISTINCT v.person_id FROM views v JOIN store_lines o
              ON o.person_id = v.person_id AND o.sku = v.sku
             AND o.timestamp > v.timestamp AND o.timestamp <= v.timestamp + INTERVAL 14 DAY""",
        "showroomers": """
            CREATE TEMP TABLE showroomers AS
            WITH visits AS (
              SELECT p.person_id, e.timestamp FROM events e JOIN event_persons p USING (message_id)
              WHERE e.event = 'Store Visited'),
            web_orders AS (
              SELECT p.person_id, e.timestamp FROM events e JOIN event_persons p USING (message_id)
              WHERE e.event = 'Order Completed' AND e.realm = 'online'),
            store_buyers AS (
              SELECT DISTINCT p.person_id FROM events e JOIN event_persons p USING (message_id)
              WHERE e.event = 'Order Completed' AND e.realm = 'offline')
            SELECT DISTINCT v.person_id FROM visits v JOIN web_orders o
              ON o.person_id = v.person_id AND o.timestamp > v.timestamp
             AND o.timestamp <= v.timestamp + INTERVAL 7 DAY
            WHERE v.person_id NOT IN (SELECT person_id FROM store_buyers)""",
        "omnichannel": """
            CREATE TEMP TABLE omnichannel AS
            SELECT p.person_id FROM events e JOIN event_persons p USING (message_id)
            WHERE e.event = 'Order Completed'
            GROUP BY p.person_id
            HAVING count(*) FILTER (e.realm = 'online') > 0 AND count(*) FILTER (e.realm = 'offline') > 0""",
        "online_only_near_store": f"""
            CREATE TEMP TABLE online_only_near_store AS
            SELECT p.person_id FROM events e JOIN event_persons p USING (message_id)
            WHERE e.event IN ('Order Completed', 'Store Visited')
            GROUP BY p.person_id
            HAVING count(*) FILTER (e.event = 'Order Completed' AND e.realm = 'online') > 0
               AND count(*) FILTER (e.event = 'Order Completed' AND e.realm = 'offline') = 0
               AND count(*) FILTER (e.event = 'Store Visited') = 0
               AND p.person_id IN (SELECT person_id FROM profile_traits WHERE nearest_store_km < {NEAR_STORE_KM})""",
        "lapsed_store_active_online": f"""
            CREATE TEMP TABLE lapsed_store_active_online AS
            SELECT p.person_id FROM events e JOIN event_persons p USING (message_id)
            WHERE e.event IN ('Order Completed', 'Product Viewed', 'Event Checked In')
            GROUP BY p.person_id
            HAVING count(*) FILTER (e.event = 'Order Completed' AND e.realm = 'offline') > 0
               AND count(*) FILTER (e.event = 'Order Completed' AND e.realm = 'offline'
                                    AND e.timestamp > {as_of} - INTERVAL 45 DAY) = 0
               AND count(*) FILTER (e.event = 'Product Viewed' AND e.timestamp > {as_of} - INTERVAL 30 DAY) > 0
               AND count(*) FILTER (e.event = 'Order Completed' AND e.realm = 'online') = 0
               AND count(*) FILTER (e.event = 'Event Checked In') = 0
               AND p.person_id NOT IN (SELECT person_id FROM ropo)""",
        "event_attendees": """
            CREATE TEMP TABLE event_attendees AS
            SELECT DISTINCT p.person_id FROM events e JOIN event_persons p USING (message_id)
            WHERE e.event = 'Event Checked In'""",
        "store_only": """
            CREATE TEMP TABLE store_only AS
            SELECT p.person_id FROM events e JOIN event_persons p USING (message_id)
            WHERE e.realm = 'online' OR (e.event = 'Order Completed' AND e.realm = 'offline')
            GROUP BY p.person_id
            HAVING count(*) FILTER (e.event = 'Order Completed' AND e.realm = 'offline') > 0
               AND count(*) FILTER (e.realm = 'online') = 0""",
    }
    members = {}
    for name in spec["segments"]:
        started = time.perf_counter()
        con.execute(queries[name])
        members[name] = [row[0] for row in con.execute(f"SELECT person_id FROM {name}").fetchall()]
        SEGMENT_SECONDS[name] = time.perf_counter() - started
    return members


# -- straightforward pandas ------------------------------------------------------------------------
def pandas_segments(spec: dict) -> dict[str, list[str]]:
    import pandas as pd

    as_of = pd.Timestamp(spec["as_of"])
    columns = ["message_id", "event", "realm", "timestamp", "sku"]
    wanted = ["Product Viewed", "Order Completed", "Store Visited", "Event Checked In"]
    events = pd.concat([pd.read_parquet(f, columns=columns, filters=[("event", "in", wanted)]) for f in spec["events"]],
                       ignore_index=True)
    events = events[events["timestamp"] <= as_of]
    persons = pd.concat([pd.read_parquet(f) for f in spec["persons"]], ignore_index=True)
    events = events.merge(persons, on="message_id")
    lines = pd.concat([pd.read_parquet(f, columns=["message_id", "sku"]) for f in spec["order_lines"]], ignore_index=True)
    orders = events[events["event"] == "Order Completed"]
    views = events[events["event"] == "Product Viewed"]
    store_orders = orders[orders["realm"] == "offline"]
    web_orders = orders[orders["realm"] == "online"]

    lined = store_orders.merge(lines.rename(columns={"sku": "line_sku"}), on="message_id", how="left")
    lined["sku"] = lined["line_sku"].fillna(lined["sku"])
    pairs = views[views["realm"] == "online"].merge(lined, on=["person_id", "sku"], suffixes=("", "_order"))
    pairs = pairs[(pairs["timestamp_order"] > pairs["timestamp"]) & (pairs["timestamp_order"] <= pairs["timestamp"] + 14 * DAY)]
    ropo = set(pairs["person_id"])

    visits = events[events["event"] == "Store Visited"]
    pairs = visits.merge(web_orders, on="person_id", suffixes=("", "_order"))
    pairs = pairs[(pairs["timestamp_order"] > pairs["timestamp"]) & (pairs["timestamp_order"] <= pairs["timestamp"] + 7 * DAY)]
    store_buyers = set(store_orders["person_id"])
    showroomers = set(pairs["person_id"]) - store_buyers

    web_buyers = set(web_orders["person_id"])
    omnichannel = web_buyers & store_buyers

    traits = pd.read_parquet(spec["traits"])
    near = set(traits.loc[traits["nearest_store_km"] < NEAR_STORE_KM, "person_id"])
    visitors = set(visits["person_id"])
    online_only_near_store = (web_buyers - store_buyers - visitors) & near

    recent_store = set(store_orders.loc[store_orders["timestamp"] > as_of - 45 * DAY, "person_id"])
    recent_views = set(views.loc[views["timestamp"] > as_of - 30 * DAY, "person_id"])
    attendees = set(events.loc[events["event"] == "Event Checked In", "person_id"])
    lapsed = ((store_buyers - recent_store) & recent_views) - web_buyers - ropo - attendees

    # store_only needs every online event (of any name): only their message ids, in a second read.
    online = pd.concat([pd.read_parquet(f, columns=["message_id"],
                                        filters=[("realm", "==", "online"), ("timestamp", "<=", as_of)])
                        for f in spec["events"]], ignore_index=True)
    online_people = set(persons.loc[persons["message_id"].isin(online["message_id"]), "person_id"])
    store_only = store_buyers - online_people
    found = {"ropo": ropo, "showroomers": showroomers, "omnichannel": omnichannel,
             "online_only_near_store": online_only_near_store, "lapsed_store_active_online": lapsed,
             "event_attendees": attendees, "store_only": store_only}
    return {name: list(found[name]) for name in spec["segments"]}


# -- Polars (lazy scan) ----------------------------------------------------------------------------
def polars_segments(spec: dict) -> dict[str, list[str]]:
    import polars as pl

    as_of = datetime.fromisoformat(spec["as_of"])
    persons = pl.scan_parquet(spec["persons"])
    events = (pl.scan_parquet(spec["events"]).select("message_id", "event", "realm", "timestamp", "sku")
              .filter(pl.col("timestamp") <= as_of)
              .filter(pl.col("event").is_in(["Product Viewed", "Order Completed", "Store Visited", "Event Checked In"]))
              .join(persons, on="message_id"))
    events = events.collect().lazy()  # one scan of the files, shared by the segments
    lines = pl.scan_parquet(spec["order_lines"]).select("message_id", line_sku="sku")
    views = events.filter(pl.col("event") == "Product Viewed")
    orders = events.filter(pl.col("event") == "Order Completed")
    store_orders = orders.filter(pl.col("realm") == "offline")
    web_orders = orders.filter(pl.col("realm") == "online")

    lined = (store_orders.join(lines, on="message_id", how="left")
             .with_columns(sku=pl.coalesce("line_sku", "sku")).select("person_id", "sku", ordered="timestamp"))
    ropo = (views.filter(pl.col("realm") == "online").join(lined, on=["person_id", "sku"])
            .filter((pl.col("ordered") > pl.col("timestamp")) & (pl.col("ordered") <= pl.col("timestamp") + 14 * DAY))
            .select("person_id").unique())
    store_buyers = store_orders.select("person_id").unique()
    web_buyers = web_orders.select("person_id").unique()
    visits = events.filter(pl.col("event") == "Store Visited")
    showroomers = (visits
                   .join(web_orders.select("person_id", ordered="timestamp"), on="person_id")
                   .filter((pl.col("ordered") > pl.col("timestamp")) & (pl.col("ordered") <= pl.col("timestamp") + 7 * DAY))
                   .select("person_id").unique().join(store_buyers, on="person_id", how="anti"))
    omnichannel = web_buyers.join(store_buyers, on="person_id", how="semi")
    near = pl.scan_parquet(spec["traits"]).filter(pl.col("nearest_store_km") < NEAR_STORE_KM).select("person_id")
    online_only_near_store = (web_buyers.join(store_buyers, on="person_id", how="anti")
                              .join(visits.select("person_id"), on="person_id", how="anti")
                              .join(near, on="person_id", how="semi"))
    attendees = events.filter(pl.col("event") == "Event Checked In").select("person_id").unique()
    lapsed = (store_buyers
              .join(store_orders.filter(pl.col("timestamp") > as_of - 45 * DAY).select("person_id"), on="person_id", how="anti")
              .join(views.filter(pl.col("timestamp") > as_of - 30 * DAY).select("person_id").unique(), on="person_id", how="semi")
              .join(web_orders.select("person_id"), on="person_id", how="anti")
              .join(ropo, on="person_id", how="anti")
              .join(attendees, on="person_id", how="anti"))
    # store_only needs every online event (of any name): a second scan of the files, message ids only.
    online_people = (pl.scan_parquet(spec["events"]).select("message_id", "realm", "timestamp")
                     .filter((pl.col("timestamp") <= as_of) & (pl.col("realm") == "online"))
                     .join(persons, on="message_id").select("person_id").unique())
    store_only = store_buyers.join(online_people, on="person_id", how="anti")
    plans = {"ropo": ropo, "showroomers": showroomers, "omnichannel": omnichannel,
             "online_only_near_store": online_only_near_store, "lapsed_store_active_online": lapsed,
             "event_attendees": attendees, "store_only": store_only}
    frames = pl.collect_all([plans[name] for name in spec["segments"]])
    return {name: frame["person_id"].to_list() for name, frame in zip(spec["segments"], frames)}


# -- Footfall --------------------------------------------------------------------------------------
def footfall_segments(spec: dict) -> dict[str, list[str]]:
    """Footfall's compiled built-in definitions, evaluated from raw events (one expression each); a
    segment evaluated earlier in the run is reused by later ones (`in segment ropo`), as the hand SQL does."""
    from footfall.identity.engine import bind
    from footfall.project import open_project
    from footfall.segments import BUILTIN_SEGMENTS, compile_rule
    from footfall.warehouse import open_warehouse

    as_of = datetime.fromisoformat(spec["as_of"])
    members, evaluated = {}, {}
    with open_warehouse(open_project(spec["project"]), read_only=True) as warehouse:
        for name in spec["segments"]:
            started = time.perf_counter()
            found = warehouse.to_arrow(compile_rule(BUILTIN_SEGMENTS[name], warehouse, as_of, segments=evaluated))
            evaluated[name] = bind(warehouse, f"_members_{name}", found)
            members[name] = found["person_id"].to_pylist()
            SEGMENT_SECONDS[name] = time.perf_counter() - started
    return members


def footfall_refresh(spec: dict) -> dict[str, list[str]]:
    """`footfall segment refresh` for the segments: roll up new lake batches, re-evaluate who may have changed.

    The first run in a project builds the rollups and evaluates everyone (the one-off setup); later runs
    are incremental. What each refresh touched goes to stderr for the report.
    """
    from footfall.project import open_project
    from footfall.segments import BUILTIN_SEGMENTS
    from footfall.segments.refresh import refresh_segments, refreshed_members
    from footfall.warehouse import open_warehouse

    as_of = datetime.fromisoformat(spec["as_of"])
    with open_warehouse(open_project(spec["project"])) as warehouse:
        reports = refresh_segments(warehouse, {name: BUILTIN_SEGMENTS[name] for name in spec["segments"]}, as_of)
        members = {name: refreshed_members(warehouse, name)["person_id"].to_pylist() for name in spec["segments"]}
    for report in reports:
        print(json.dumps({"segment": report.segment, "mode": report.mode, "rollups": report.rollups,
                          "new_events": report.new_events, "persons_evaluated": report.persons_evaluated,
                          "reason": report.reason}), file=sys.stderr)
    return members


def footfall_rollup_update(spec: dict) -> dict[str, list[str]]:
    """`footfall segment rollups`: roll the new lake batches up at load time (no segment evaluated)."""
    from footfall.project import open_project
    from footfall.segments.rollups import update_rollups
    from footfall.warehouse import open_warehouse

    with open_warehouse(open_project(spec["project"])) as warehouse:
        update_rollups(warehouse)
    return {}


ENGINES = {"duckdb": duckdb_segments, "pandas": pandas_segments, "polars": polars_segments,
           "footfall": footfall_segments, "rollups": footfall_refresh, "refresh": footfall_refresh,
           "rollup-update": footfall_rollup_update}


def main(engine: str, spec_path: str, out: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    run = ENGINES[engine]
    if engine in ("footfall", "rollups", "refresh", "rollup-update"):
        import footfall.segments  # noqa: F401  (imported before the clock starts, like the other engines)
        import ibis  # noqa: F401
        # the engine's client and what its first result imports (ibis' converters import pandas), as the
        # other engines import theirs
        import ibis.backends.duckdb  # noqa: F401
        import ibis.backends.duckdb.converter  # noqa: F401
    elif engine in ("pandas", "polars", "duckdb"):
        __import__(engine)
    start = time.perf_counter()
    members = run(spec)
    seconds = time.perf_counter() - start
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [(name, person) for name, people in members.items() for person in people]
    pq.write_table(pa.table({"segment": [r[0] for r in rows], "person_id": [r[1] for r in rows]}), out)
    print(json.dumps({"engine": engine, "seconds": seconds, "peak_rss_gib": process_memory_gib(field="VmHWM"),
                      "sizes": {name: len(set(people)) for name, people in members.items()},
                      "segment_seconds": SEGMENT_SECONDS}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
