"""What identity resolution needs from the engine beyond plain Ibis expressions, in one place.

- `cached`: an intermediate table computed once. On DuckDB that is `Table.cache()` (a temporary
  table). On Spark, `Table.cache()` persists the data but keeps the whole lineage in the plan, and
  every reference to a cached table copies that lineage into the next plan: resolution reads its
  tables several times over (the events eight times to extract identifiers, each component round
  twice), so the analysed plans grow multiplicatively and Spark's analyser takes minutes and runs
  out of heap. So on Spark the table is checkpointed (`localCheckpoint`, eager), which cuts the
  lineage, coalesced to at most `spark.sql.shuffle.partitions` partitions (a scan of the lake has one
  per file, and every later query would run that many tasks), and registered as a temporary view,
  dropped when the Ibis table is garbage-collected. Ibis 12's PySpark cache also forgets to register
  the memtables an expression joins; the backend's pre-execute hooks run first, as `execute` and
  `create_table` do.
- `materialized`: a table an earlier run materialised (`Warehouse.table` registers one written by an
  earlier process from its Parquet folder on Spark).
- `bind`: Arrow data as a table of the warehouse's own connection. A memtable on its own belongs to no
  backend, and caching it would place it in Ibis's default DuckDB instead of the warehouse.
"""

from __future__ import annotations

import contextlib
import uuid
import weakref
from typing import Any

import ibis
import pyarrow as pa
from ibis.expr.types import Table

def _checkpoint_spark(backend: Any, table: Table) -> Table:
    session = backend._session
    frame = session.sql(backend.compile(table)).coalesce(int(session.conf.get("spark.sql.shuffle.partitions")))
    frame = frame.localCheckpoint(eager=True)
    name = f"footfall_identity_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)
    result = backend.table(name)
    # Tied to the operation node, which every expression built on `result` keeps alive.
    weakref.finalize(result.op(), _release_spark, session, name, frame)
    return result


def _release_spark(session: Any, name: str, frame: Any) -> None:
    with contextlib.suppress(Exception):  # the session may be gone at interpreter exit
        session.catalog.dropTempView(name)
        frame.unpersist()  # the checkpointed blocks


def _cache_duckdb(backend: Any, table: Table) -> Table:
    return table.cache()  # a temporary table: data, no lineage


_CACHERS = {"pyspark": _checkpoint_spark, "duckdb": _cache_duckdb}


def cached(table: Table) -> Table:
    """`table` computed once and kept (see the module docstring)."""
    backend = table._find_backend(use_default=True)
    backend._run_pre_execute_hooks(table)
    return _CACHERS[backend.name](backend, table)


def _bind_duckdb(warehouse: Any, name: str, data: pa.Table) -> Table:
    return warehouse.con.create_table(name, data, temp=True, overwrite=True)


def _bind_spark(warehouse: Any, name: str, data: pa.Table) -> Table:
    # Ibis has no temporary tables on PySpark; a temporary view of the registered data serves.
    return warehouse.con.create_view(name, ibis.memtable(data), overwrite=True)


_BINDERS = {"duckdb": _bind_duckdb, "spark": _bind_spark}


def bind(warehouse: Any, name: str, data: pa.Table) -> Table:
    """`data` as a temporary table named `name` on the warehouse's connection."""
    return _BINDERS[warehouse.engine](warehouse, name, data)


def materialized(warehouse: Any, name: str) -> Table:
    """A materialised table by name (the warehouse also finds those an earlier process wrote)."""
    return warehouse.table(name)
