"""The Parquet lake: the system of record for events, order lines and reference tables.

Layout (one directory per table; partitioned tables have one folder per UTC month of `timestamp`):

    lake/events/2026-01/<batch_id>.parquet
    lake/order_lines/2026-01/<batch_id>.parquet
    lake/stores/stores.parquet          (reference tables: one snapshot, replaced on upsert)
    lake/_staging/<batch_id>/...        (a commit in progress)

A commit is all-or-nothing across tables and crash-safe: every file is written and fsync'd under
`_staging/<batch_id>/`, then a `COMMITTED` marker is written and fsync'd, then the files are renamed
into place. On open, `recover()` rolls committed batches forward and deletes uncommitted ones, so a
killed process leaves either the whole batch or none of it. Both engines read the same files.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from footfall.schema import LAKE_TABLES, PARTITIONED_TABLES
from footfall.schema.tables import PARTITION_COLUMNS

STAGING = "_staging"
COMMIT_MARKER = "COMMITTED"


def new_batch_id() -> str:
    """A unique, time-sortable batch id (also the file name of everything the batch writes)."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


def fsync_path(path: Path) -> None:
    """Make a file's bytes, or a directory's entries, durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_parquet(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    fsync_path(path)


def partition_of(micros: np.ndarray) -> np.ndarray:
    """The partition (UTC month, as numpy datetime64[M]) of each timestamp given in microseconds."""
    return micros.astype("datetime64[us]").astype("datetime64[M]")


def split_by_partition(table: pa.Table, column: str = "timestamp") -> Iterator[tuple[str, pa.Table]]:
    """(YYYY-MM, rows) per UTC month of `column`, as zero-copy slices of the table sorted by month.

    Sorting is by month only and stable, so rows keep their order within a month, and a table that
    is already in month order (the output of an earlier split) is not copied again.
    """
    micros = table[column].cast(pa.int64()).to_numpy(zero_copy_only=False)
    months = partition_of(micros).astype(np.int64)
    if len(months) > 1 and not bool(np.all(months[:-1] <= months[1:])):
        order = np.argsort(months, kind="stable")
        table, months = table.take(pa.array(order)), months[order]
    starts = [0, *(np.flatnonzero(np.diff(months)) + 1).tolist()]
    ends = [*starts[1:], len(months)]
    for start, end in zip(starts, ends):
        if end > start:
            yield str(months[start].astype("datetime64[M]")), table.slice(start, end - start)


class Lake:
    """Reads and atomically writes the Parquet files under a project's lake directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock_depth = 0

    # -- reading -----------------------------------------------------------------------------
    def files(self, table: str) -> list[Path]:
        """The committed Parquet files of `table`, in a stable order."""
        directory = self.root / table
        if not directory.is_dir():
            return []
        pattern = "*/*.parquet" if table in PARTITIONED_TABLES else "*.parquet"
        return sorted(directory.glob(pattern))

    def glob(self, table: str) -> str:
        """A glob matching every file of `table` (for engines that read Parquet by pattern)."""
        pattern = "*/*.parquet" if table in PARTITIONED_TABLES else "*.parquet"
        return str(self.root / table / pattern)

    def partition_files(self, table: str, partition: str) -> list[Path]:
        return sorted((self.root / table / partition).glob("*.parquet"))

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table as Arrow (reference tables and small results; events go through the warehouse)."""
        files = self.files(table)
        schema = LAKE_TABLES[table]
        if not files:
            return schema.empty_table() if columns is None else schema.empty_table().select(columns)
        return pa.concat_tables(pq.read_table(f, columns=columns, schema=schema) for f in files)

    def read_partition_column(self, table: str, partition: str, column: str) -> pa.ChunkedArray:
        files = self.partition_files(table, partition)
        if not files:
            return pa.chunked_array([], type=LAKE_TABLES[table].field(column).type)
        return pa.chunked_array(
            chunk for f in files for chunk in pq.read_table(f, columns=[column])[column].chunks
        )

    # -- writing -----------------------------------------------------------------------------
    @contextmanager
    def writer_lock(self, wait: bool = True) -> Iterator[bool]:
        """Serialise writers (dedupe check + commit) across processes with an OS file lock.

        Re-entrant within one `Lake`. With `wait=False` it yields False instead of blocking when
        another process holds the lock.
        """
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield True
            finally:
                self._lock_depth -= 1
            return
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            self._lock_depth = 1
            try:
                yield True
            finally:
                self._lock_depth = 0
                fcntl.flock(handle, fcntl.LOCK_UN)

    def commit(self, tables: dict[str, pa.Table], batch_id: str | None = None) -> str:
        """Write `tables` (name -> rows) as one atomic batch; reference tables are replaced whole."""
        with self.writer_lock():
            return self._commit(tables, batch_id or new_batch_id())

    def _commit(self, tables: dict[str, pa.Table], batch_id: str) -> str:
        staging = self.root / STAGING / batch_id
        staged: list[Path] = []
        for name, rows in tables.items():
            rows = rows.cast(LAKE_TABLES[name])
            if name in PARTITIONED_TABLES:
                for month, part in split_by_partition(rows, PARTITION_COLUMNS.get(name, "timestamp")):
                    relative = Path(name) / month / f"{batch_id}.parquet"
                    _write_parquet(part, staging / relative)
                    staged.append(relative)
            else:
                relative = Path(name) / f"{name}.parquet"
                _write_parquet(rows, staging / relative)
                staged.append(relative)
        if not staged:
            return batch_id
        (staging / COMMIT_MARKER).write_text("\n".join(str(p) for p in staged), encoding="utf-8")
        fsync_path(staging / COMMIT_MARKER)
        fsync_path(staging)
        self._roll_forward(staging)
        return batch_id

    def _roll_forward(self, staging: Path) -> None:
        touched_dirs: set[Path] = set()
        for line in (staging / COMMIT_MARKER).read_text(encoding="utf-8").splitlines():
            source, target = staging / line, self.root / line
            if source.exists():  # absent when a previous roll-forward moved it already
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
                touched_dirs.add(target.parent)
        for directory in touched_dirs:
            fsync_path(directory)
        shutil.rmtree(staging)

    def recover(self) -> None:
        """Finish commits that were marked committed; discard those that were not.

        Runs only when no other process is writing: a live writer's staging folder is left alone.
        """
        staging_root = self.root / STAGING
        if not staging_root.is_dir():
            return
        with self.writer_lock(wait=False) as acquired:
            if not acquired:
                return
            for staging in sorted(staging_root.iterdir()):
                if (staging / COMMIT_MARKER).exists():
                    self._roll_forward(staging)
                else:
                    shutil.rmtree(staging, ignore_errors=True)
