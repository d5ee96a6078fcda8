"""Segment members as files: CSV or Parquet, one row per person (for campaign tools and spreadsheets)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from footfall.errors import FootfallError

ExportFormat = Literal["csv", "parquet"]
FORMATS: tuple[str, ...] = ("csv", "parquet")
MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def check_format(format: str) -> ExportFormat:
    if format not in FORMATS:
        raise FootfallError(f"unknown export format {format!r}: use csv or parquet")
    return format  # type: ignore[return-value]


def sorted_members(members: pa.Table) -> pa.Table:
    """The person_id column only, sorted: the same members always give the same file."""
    return members.select(["person_id"]).sort_by("person_id")


def members_bytes(members: pa.Table, format: str) -> bytes:
    """The members as the bytes of a CSV (with header) or Parquet file."""
    sink = io.BytesIO()
    _write(sorted_members(members), sink, check_format(format))
    return sink.getvalue()


def write_members(members: pa.Table, path: Path, format: str) -> int:
    """Write the members to `path` (via a temporary file, so a failed export leaves no half file); returns rows."""
    rows = sorted_members(members)
    temporary = path.with_name(path.name + ".partial")
    try:
        with temporary.open("wb") as handle:
            _write(rows, handle, check_format(format))
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise FootfallError(f"cannot write {path}: {error.strerror}") from None
    return rows.num_rows


def _write(rows: pa.Table, sink, format: ExportFormat) -> None:
    if format == "csv":
        pacsv.write_csv(rows, sink)
    else:
        pq.write_table(rows, sink, compression="zstd")
