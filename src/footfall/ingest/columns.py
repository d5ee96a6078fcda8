"""Converting one source column to its canonical Arrow type, naming the first row that does not fit.

Conversions are vectorised (Arrow / pandas); only when a conversion fails do we look for the first
offending row, so valid files pay nothing for the error reporting.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from footfall.errors import InputFileError, InputLocation

# An ISO-8601 text that carries its own offset ("Z", "+01:00", "+0100").
_HAS_OFFSET = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)


class ColumnContext:
    """Where a column comes from, to build located errors."""

    def __init__(self, file: str, column: str) -> None:
        self.file = file
        self.column = column

    def fail(self, row_index: int | None, problem: str, hint: str = "") -> InputFileError:
        row = None if row_index is None else row_index + 1
        return InputFileError(InputLocation(self.file, row=row, column=self.column), problem, hint)


def _first_bad(values: pa.ChunkedArray | pa.Array, converted_nulls: pa.Array) -> int:
    """Index of the first row that was non-null before a conversion and null after it."""
    bad = pc.and_(pc.is_valid(values), converted_nulls)
    return int(pc.index(bad, True).as_py())


def _texts(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Strings with surrounding whitespace removed and empty strings as nulls."""
    if values.null_count == len(values):
        return values
    stripped = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)


def to_string(values: pa.ChunkedArray, ctx: ColumnContext) -> pa.ChunkedArray:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return _texts(values.cast(pa.string()))
    if pa.types.is_nested(values.type):
        raise ctx.fail(None, f"expected text, found {values.type}")
    return values.cast(pa.string())


def to_float(values: pa.ChunkedArray, ctx: ColumnContext) -> pa.ChunkedArray:
    if pa.types.is_floating(values.type) or pa.types.is_integer(values.type) or pa.types.is_decimal(values.type):
        floats = values.cast(pa.float64())
        return pc.if_else(pc.is_nan(floats), pa.scalar(None, pa.float64()), floats)  # NaN is missing
    if not pa.types.is_string(values.type):
        raise ctx.fail(None, f"expected a number, found {values.type}")
    texts = _texts(values)
    numbers = pd.to_numeric(texts.to_pandas(), errors="coerce")
    converted = pa.chunked_array([pa.array(numbers, type=pa.float64(), from_pandas=True)])
    failed = pc.is_null(converted)
    if pc.any(pc.and_(pc.is_valid(texts), failed)).as_py():
        index = _first_bad(texts, failed)
        raise ctx.fail(index, f"expected a number, found {texts[index].as_py()!r}")
    return converted


def to_int(values: pa.ChunkedArray, ctx: ColumnContext) -> pa.ChunkedArray:
    if pa.types.is_integer(values.type):
        return values.cast(pa.int64())
    floats = to_float(values, ctx)
    fractional = pc.not_equal(pc.floor(floats), floats)
    if pc.any(fractional).as_py():
        index = int(pc.index(fractional, True).as_py())
        raise ctx.fail(index, f"expected a whole number, found {floats[index].as_py()!r}")
    return floats.cast(pa.int64())


def to_timestamp(values: pa.ChunkedArray, ctx: ColumnContext, timezone: str) -> pa.ChunkedArray:
    """UTC timestamps from ISO-8601 text or Parquet timestamps; values without an offset are read in
    `timezone` (the project's)."""
    target = pa.timestamp("us", tz="UTC")
    if pa.types.is_timestamp(values.type):
        if values.type.tz is None:
            series = values.to_pandas().dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
            return pa.chunked_array([pa.array(series.dt.tz_convert("UTC"), type=target, from_pandas=True)])
        return values.cast(target)
    if pa.types.is_date(values.type):
        return to_timestamp(values.cast(pa.timestamp("us")), ctx, timezone)
    if not pa.types.is_string(values.type):
        raise ctx.fail(None, f"expected an ISO-8601 timestamp, found {values.type}")
    texts = _texts(values).to_pandas()
    with_offset = texts.str.contains(_HAS_OFFSET, na=False)
    parsed = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[us, UTC]")
    if with_offset.any():
        parsed[with_offset] = pd.to_datetime(texts[with_offset], format="ISO8601", utc=True, errors="coerce")
    naive = texts.notna() & ~with_offset
    if naive.any():
        local = pd.to_datetime(texts[naive], format="ISO8601", errors="coerce")
        parsed[naive] = local.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
    bad = texts.notna() & parsed.isna()
    if bad.any():
        index = int(bad.to_numpy().nonzero()[0][0])
        raise ctx.fail(
            index,
            f"unparseable timestamp {texts.iloc[index]!r}",
            "use ISO-8601, e.g. 2026-03-01T14:05:00Z or 2026-03-01 14:05:00+01:00",
        )
    return pa.chunked_array([pa.array(parsed, type=target, from_pandas=True)])


def to_json_object_text(values: pa.ChunkedArray, ctx: ColumnContext) -> pa.ChunkedArray:
    """JSON objects as compact JSON text (from JSON text or a Parquet struct/map column).

    Text is checked for the shape of an object (`{...}`) vectorised; it is fully parsed later only
    where a typed column has to be promoted from it, which keeps large Parquet imports fast.
    """
    if pa.types.is_struct(values.type) or pa.types.is_map(values.type):
        return pa.chunked_array(
            [pa.array([None if v is None else json.dumps(v, default=str) for v in values.to_pylist()], pa.string())]
        )
    texts = to_string(values, ctx)
    shaped = pc.and_(pc.starts_with(texts, "{"), pc.ends_with(texts, "}"))
    not_object = pc.and_(pc.is_valid(texts), pc.invert(shaped))
    if pc.any(not_object).as_py():
        index = int(pc.index(not_object, True).as_py())
        raise ctx.fail(index, f"expected a JSON object ({{...}}), found {texts[index].as_py()[:40]!r}")
    return texts
