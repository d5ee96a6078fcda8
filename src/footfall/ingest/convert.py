"""Turning a source table into canonical columns: column mapping, constants, types, required values."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc

from footfall.errors import InputFileError, InputLocation
from footfall.ingest.columns import (
    ColumnContext,
    to_float,
    to_int,
    to_json_object_text,
    to_string,
    to_timestamp,
)

JSON_COLUMNS = ("context", "properties", "traits", "opening_hours")


def apply_mapping(
    table: pa.Table, file: str, mapping: Mapping[str, str], constants: Mapping[str, str]
) -> pa.Table:
    """Rename source columns (`--map source=field`) and add constant columns (`--set field=value`)."""
    names = list(table.column_names)
    for source, field in mapping.items():
        if source not in names:
            raise InputFileError(
                InputLocation(file, column=source),
                f"--map names column '{source}', which the file does not have",
                f"columns in the file: {', '.join(names)}",
            )
        if field in names and field != source:
            table = table.drop_columns([field])
            names = list(table.column_names)
        names[names.index(source)] = field
        table = table.rename_columns(names)
    for field, value in constants.items():
        column = pa.array([value] * table.num_rows, type=pa.string())
        if field in table.column_names:
            table = table.set_column(table.column_names.index(field), field, column)
        else:
            table = table.append_column(field, column)
    return table


def convert_column(values: pa.ChunkedArray, field: pa.Field, ctx: ColumnContext, timezone: str) -> pa.ChunkedArray:
    """One column in the canonical type of `field`."""
    if field.name in JSON_COLUMNS:
        return to_json_object_text(values, ctx)
    kind = field.type
    if pa.types.is_timestamp(kind):
        return to_timestamp(values, ctx, timezone)
    if pa.types.is_floating(kind):
        return to_float(values, ctx)
    if pa.types.is_integer(kind):
        return to_int(values, ctx).cast(kind)
    return to_string(values, ctx)


def conform(
    table: pa.Table,
    schema: pa.Schema,
    file: str,
    timezone: str,
    required: Iterable[str],
) -> tuple[pa.Table, list[str]]:
    """Columns of `schema` converted from `table` (absent optional ones as nulls), plus the names of
    source columns that have no place in the schema (reported, not stored)."""
    required = set(required)
    present = set(table.column_names)
    missing = sorted(required - present)
    if missing:
        raise InputFileError(
            InputLocation(file, column=missing[0]),
            f"missing required column '{missing[0]}'",
            f"columns in the file: {', '.join(table.column_names)}; rename with --map SOURCE={missing[0]}",
        )

    def convert(field: pa.Field) -> pa.ChunkedArray | pa.Array:
        if field.name not in present:
            return pa.nulls(table.num_rows, type=field.type)
        return convert_column(table[field.name], field, ColumnContext(file, field.name), timezone)

    # Arrow kernels release the GIL, so columns convert in parallel; `map` keeps schema order, so the
    # error raised is the one of the leftmost bad column, as in a sequential pass.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        columns = list(pool.map(convert, schema))
    conformed = pa.Table.from_arrays(columns, schema=pa.schema([f.with_nullable(True) for f in schema]))
    ignored = [name for name in table.column_names if name not in schema.names]
    return conformed, ignored


def refuse_rows(mask: pa.ChunkedArray | pa.Array, file: str, column: str, problem: str) -> None:
    """Raise a located error for the first row where `mask` is true (nulls count as false)."""
    mask = pc.fill_null(mask, False)
    if pc.any(mask).as_py():
        row = int(pc.index(mask, True).as_py()) + 1
        raise InputFileError(InputLocation(file, row=row, column=column), problem)


def require_values(table: pa.Table, file: str, columns: Iterable[str]) -> None:
    """Every row has a value in each of `columns`."""
    for column in columns:
        refuse_rows(pc.is_null(table[column]), file, column, f"'{column}' is empty")


def require_in(table: pa.Table, file: str, column: str, allowed: Iterable[str], what: str, hint: str = "") -> None:
    """Every non-null value of `column` is one of `allowed`."""
    allowed = list(allowed)
    values = table[column]
    outside = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(allowed, type=values.type))))
    if pc.any(outside).as_py():
        index = int(pc.index(outside, True).as_py())
        raise InputFileError(
            InputLocation(file, row=index + 1, column=column),
            f"unknown {what} {values[index].as_py()!r}",
            hint or f"expected one of: {', '.join(allowed)}",
        )


def require_unique(table: pa.Table, file: str, column: str) -> None:
    """No value of `column` appears twice in the file."""
    indexed = table.select([column]).append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    firsts = indexed.group_by(column, use_threads=False).aggregate([("_row", "min")])
    if firsts.num_rows < table.num_rows:
        first_rows = set(firsts["_row_min"].to_pylist())
        duplicate_row = next(i for i in range(table.num_rows) if i not in first_rows)
        raise InputFileError(
            InputLocation(file, row=duplicate_row + 1, column=column),
            f"{column} {table[column][duplicate_row].as_py()!r} appears more than once in the file",
        )


def require_range(table: pa.Table, file: str, column: str, low: float, high: float) -> None:
    values = table[column]
    outside = pc.or_(pc.less(values, low), pc.greater(values, high))
    outside = pc.fill_null(outside, False)
    if pc.any(outside).as_py():
        index = int(pc.index(outside, True).as_py())
        raise InputFileError(
            InputLocation(file, row=index + 1, column=column),
            f"{values[index].as_py()} is outside the range {low}..{high}",
        )


def first_occurrences(table: pa.Table, key: str) -> pa.Table:
    """The rows of `table` holding the first occurrence of each `key` value, in file order."""
    if pc.count_distinct(table[key]).as_py() == table.num_rows:
        return table  # the common case: no duplicates, nothing to copy
    indexed = table.select([key]).append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    first_rows = indexed.group_by(key, use_threads=False).aggregate([("_row", "min")])["_row_min"].combine_chunks()
    return table.take(pc.take(first_rows, pc.array_sort_indices(first_rows)))
