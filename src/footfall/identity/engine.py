"""What identity resolution needs from the engine beyond plain Ibis expressions, in one place.

- `cached`: an intermediate table computed once. On DuckDB that is `Table.cache()` (a temporary
  table). On Spark, `Table.cache()` persists the data but keeps the whole lineage in the plan: an
  iterative algorithm (connected components reads each round's table twice) then hands Spark's
  analyser a plan that doubles every round, which within ten rounds takes minutes and runs out of
  heap. So on Spark the table is checkpointed (`localCheckpoint`, eager), which cuts the lineage,
  and registered as a temporary view, dropped when the Ibis table is garbage-collected; it is
  coalesced to at most `spark.sql.shuffle.partitions` partitions first. Ibis 12's
  PySpark cache also forgets to register the memtables an expression joins; both paths run the
  backend's pre-execute hooks first, as `execute` and `create_table` do.
- `materialized`: a table an earlier run materialised. On Spark, `Warehouse.table` only knows the
  materialised tables written by this process (the view is registered when written); tables from an
  earlier process are read back from their Parquet directory here.
- `bind`: Arrow data as a table of the warehouse's own connection. A memtable on its own belongs to no
  backend, and caching it would place it in Ibis's default DuckDB instead of the warehouse.
"""

from __future__ import annotations

import contextlib
import uuid
import weakref
from typing import Any

import ibis
import ibis.common.exceptions
import pyarrow as pa
from ibis.expr.types import Table

def _checkpoint_spark(backend: Any, table: Table) -> Table:
    session = backend._session
    frame = session.sql(backend.compile(table))
    # Keep no more partitions than a shuffle makes: a scan of the lake has one per file, and every
    # later query over this table would otherwise run that many tasks.
    frame = frame.coalesce(int(session.conf.get("spark.sql.shuffle.partitions"))).localCheckpoint(eager=True)
    name = f"footfall_identity_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(name)
    result = backend.table(name)
    # Tied to the operation node, which every expression built on `result` keeps alive.
    weakref.finalize(result.op(), _drop_view, backend._session, name)
    return result


def _drop_view(session: Any, name: str) -> None:
    with contextlib.suppress(Exception):  # the session may be gone at interpreter exit
        session.catalog.dropTempView(name)


_CACHERS = {"pyspark": _checkpoint_spark}


def cached(table: Table) -> Table:
    """`table` computed once and kept: a temporary table on DuckDB, a checkpointed view on Spark."""
    backend = table._find_backend(use_default=True)
    backend._run_pre_execute_hooks(table)
    cacher = _CACHERS.get(backend.name)
    return cacher(backend, table) if cacher else table.cache()


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
    """A materialised table by name, also on Spark when an earlier process wrote it."""
    try:
        return warehouse.table(name)
    except ibis.common.exceptions.TableNotFound:
        if warehouse.engine != "spark":
            raise
        from footfall.warehouse import DERIVED_DIR

        return warehouse.con.read_parquet(str(warehouse.project.lake_dir / DERIVED_DIR / name), table_name=name)
