"""Opening the analytical engine for a project: DuckDB by default, PySpark when `engine = "spark"`.

This is the only module that knows which engine runs. Everything else receives Ibis tables from a
`Warehouse` and returns Ibis expressions, so the same code runs on both engines.

Both engines read the same lake files (`footfall.lake`): lake tables are registered as views over
the Parquet files (on DuckDB when first used after a warehouse opens or `refresh()` is called), derived tables
(`footfall.schema.derived`) are Ibis expressions over them, and `materialize()` stores a computed
table: in the DuckDB file, or as Parquet under `lake/_derived/` on Spark.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from footfall.errors import FootfallError
from footfall.lake import Lake
from footfall.project import Engine, Project
from footfall.schema import LAKE_TABLES
from footfall.schema.derived import DERIVED_TABLES

DERIVED_DIR = "_derived"
VERSIONS_TABLE = "_footfall_versions"  # DuckDB: the version of every materialised table
VERSION_FILE = "_footfall_version"  # Spark: the same, beside the table's Parquet files


class UnknownTableError(FootfallError):
    """A table name that is neither a lake table, a derived table nor a materialised one."""


def _spark_session(project: Project) -> Any:
    """The process-wide SparkSession (getOrCreate), configured from the project's settings."""
    from pyspark.sql import SparkSession  # imported lazily: `import footfall` must not load PySpark

    spark = project.settings.spark
    return (
        SparkSession.builder.master(spark.master)
        .appName(f"footfall-{project.settings.name}")
        .config("spark.driver.memory", spark.driver_memory)
        .config("spark.sql.shuffle.partitions", str(spark.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.warehouse.dir", str(project.lake_dir / DERIVED_DIR / "spark-warehouse"))
        .getOrCreate()
    )


class Warehouse:
    """The project's tables as Ibis expressions on the configured engine."""

    def __init__(self, project: Project, engine: Engine | None = None, read_only: bool = False) -> None:
        self.project = project
        self.engine: Engine = engine or project.engine
        self.lake = Lake(project.lake_dir)
        self._spark_views: set[str] = set()  # materialised tables this warehouse registered on Spark
        self._lake_views: set[str] = set()  # lake tables registered over their current files
        if self.engine == "duckdb":
            self.con = ibis.duckdb.connect(str(project.warehouse_path), read_only=read_only)
        elif self.engine == "spark":
            self.con = ibis.pyspark.connect(_spark_session(project))
        else:  # settings validation makes this unreachable; kept for a clear message
            raise FootfallError(f"unknown engine {self.engine!r}: use duckdb or spark")
        self.refresh()

    # -- lake tables ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """See the lake's current files: every lake table is registered again as a view over them.

        On DuckDB a view is registered when first used (its temporary views belong to this connection;
        listing and reading the footers of seven tables' files costs more than a small job that reads
        none of them). Spark's views live in the process-wide session, where another project may have
        registered the same names, so there every one is registered now."""
        self._lake_views.clear()
        if self.engine != "duckdb":
            for name in LAKE_TABLES:
                self._lake_view(name)

    def _lake_view(self, name: str) -> Table:
        if name not in self._lake_views:
            self._register_lake_table(name)
            self._lake_views.add(name)
        return self.con.table(name)

    def _register_lake_table(self, name: str) -> None:
        files = self.lake.files(name)
        if self.engine == "duckdb":
            native = self.con.con
            native.execute(f'DROP VIEW IF EXISTS temp."{name}"')
            if files:
                file_list = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
                native.execute(f'CREATE TEMP VIEW "{name}" AS SELECT * FROM read_parquet([{file_list}])')
            else:
                native.register(f"_empty_{name}", LAKE_TABLES[name].empty_table())
                native.execute(f'CREATE TEMP VIEW "{name}" AS SELECT * FROM "_empty_{name}"')
        else:
            if files:
                self.con.read_parquet(self.lake.glob(name), table_name=name)
            else:
                empty = ibis.memtable(LAKE_TABLES[name].empty_table())
                self.con.create_view(name, empty, overwrite=True)

    # -- access --------------------------------------------------------------------------------
    def table(self, name: str) -> Table:
        """A lake, derived or materialised table by name."""
        if name in LAKE_TABLES:
            return self._lake_view(name)
        if name in DERIVED_TABLES:
            return DERIVED_TABLES[name](self._lake_view("events"))
        if name in self.materialized_tables():
            return self._materialized_table(name)
        known = sorted({*LAKE_TABLES, *DERIVED_TABLES, *self.materialized_tables()})
        raise UnknownTableError(f"no table named {name!r}; known tables: {', '.join(known)}")

    def _materialized_table(self, name: str) -> Table:
        if self.engine == "spark" and name not in self._spark_views:
            # Spark's views live in the process-wide session, so a view of this name may belong to
            # another project (or be missing: another process wrote the table). Register this
            # project's Parquet folder on first use.
            self._spark_views.add(name)
            return self.con.read_parquet(str(self.project.lake_dir / DERIVED_DIR / name), table_name=name)
        return self.con.table(name)

    def materialized_tables(self) -> list[str]:
        if self.engine == "duckdb":
            return [t for t in self.con.list_tables() if t not in LAKE_TABLES and not t.startswith("_")]
        derived = self.project.lake_dir / DERIVED_DIR
        return sorted(p.name for p in derived.iterdir() if p.is_dir() and p.name != "spark-warehouse") if derived.is_dir() else []

    def materialize(self, name: str, expr: Table) -> Table:
        """Compute `expr` once and store it under `name`, replacing an earlier version (which gets a
        new `version_of`)."""
        if name in LAKE_TABLES or name in DERIVED_TABLES:
            raise FootfallError(f"{name!r} is a built-in table and cannot be overwritten")
        if self.engine == "duckdb":
            # a new version before the replacement as well as after it: whoever read a version and then
            # the table, at any moment (or after a crash in between), holds a version that is current
            # only if what it read is
            self._set_version(name)
            stored = self.con.create_table(name, expr, overwrite=True)
            self._set_version(name)
            return stored
        path = self.project.lake_dir / DERIVED_DIR / name
        frame = self.con._session.sql(self.con.compile(expr))
        frame.write.mode("overwrite").parquet(str(path))
        # (the overwrite removed the previous version first) a name starting with "_": Spark's readers skip it
        (path / VERSION_FILE).write_text(uuid.uuid4().hex)
        self._spark_views.add(name)
        return self.con.read_parquet(str(path), table_name=name)

    def _set_version(self, name: str) -> None:
        self.con.raw_sql(f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} (name VARCHAR PRIMARY KEY, version VARCHAR)")
        self.con.con.execute(f"INSERT OR REPLACE INTO {VERSIONS_TABLE} VALUES (?, ?)", [name, uuid.uuid4().hex])

    def version_of(self, name: str) -> str | None:
        """A token that changes whenever `materialize` replaces the table (None: not known, e.g. a table
        stored before versions were kept): what lets a refresh skip inputs that did not change."""
        if self.engine == "duckdb":
            if VERSIONS_TABLE not in self.con.list_tables():
                return None
            found = self.con.con.execute(f"SELECT version FROM {VERSIONS_TABLE} WHERE name = ?", [name]).fetchone()
            return found[0] if found else None
        path = self.project.lake_dir / DERIVED_DIR / name / VERSION_FILE
        return path.read_text() if path.exists() else None

    def to_arrow(self, expr: Any) -> pa.Table:
        """Execute an expression into Arrow (for small results: display, tests, exports)."""
        return self.con.to_pyarrow(expr)

    def close(self) -> None:
        # Spark's session is process-wide and shared, so only DuckDB connections are closed.
        if self.engine == "duckdb":
            self.con.disconnect()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_warehouse(project: Project, engine: Engine | None = None, read_only: bool = False) -> Warehouse:
    """The project's warehouse on its configured engine (or `engine`, when given)."""
    return Warehouse(project, engine=engine, read_only=read_only)


def create_warehouse_file(project: Project) -> Path:
    """Create the analytical DuckDB file (the embedded engine's home for materialised tables)."""
    import duckdb

    with duckdb.connect(str(project.warehouse_path)) as con:
        con.execute("CREATE TABLE IF NOT EXISTS _footfall_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT OR IGNORE INTO _footfall_meta VALUES ('format_version', '1')")
    return project.warehouse_path
