"""Reading import files (CSV, JSONL, Parquet) into Arrow, with errors that say file, row and column.

Text formats are decoded strictly as UTF-8 first, so bad bytes are reported where they are instead
of turning into replacement characters. CSV and JSONL values arrive as text (nested JSON objects as
JSON text); Parquet keeps its types. Conversion to the canonical types happens in `columns`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from footfall.errors import InputFileError, InputLocation

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputFileError(
            InputLocation(str(path)),
            f"unknown file type '{path.suffix}'",
            "use .csv, .tsv, .jsonl/.ndjson or .parquet, or pass --format",
        )
    return fmt


def read_table(path: Path, fmt: str | None = None) -> pa.Table:
    """The rows of an import file as an Arrow table (1 row = 1 data row of the file)."""
    if not path.exists():
        raise InputFileError(InputLocation(str(path)), "file not found")
    if path.is_dir():
        raise InputFileError(InputLocation(str(path)), "is a directory, not a file")
    fmt = fmt or detect_format(path)
    if fmt == "parquet":
        table = _read_parquet(path)
    else:
        raw = path.read_bytes()
        text = _decode_utf8(path, raw, fmt)
        table = _read_jsonl(path, text) if fmt == "jsonl" else _read_csv(path, raw, fmt)
    if table.num_rows == 0:
        raise InputFileError(InputLocation(str(path)), "file is empty (no data rows)")
    return table


def _decode_utf8(path: Path, raw: bytes, fmt: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line_no = raw.count(b"\n", 0, exc.start) + 1
        column = None
        if fmt in ("csv", "tsv"):
            delimiter = b"\t" if fmt == "tsv" else b","
            header = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip("\r\ufeff")
            names = next(csv.reader([header], delimiter=delimiter.decode()))
            index = raw.count(delimiter, line_start, exc.start)
            column = names[index] if index < len(names) else None
        row = line_no - 1 if fmt in ("csv", "tsv") else line_no
        raise InputFileError(
            InputLocation(str(path), row=row, column=column),
            f"bytes are not valid UTF-8 (byte offset {exc.start}: {raw[exc.start:exc.start + 4]!r})",
            "re-export the file as UTF-8",
        ) from None


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputFileError(InputLocation(str(path)), f"not a readable Parquet file ({exc})") from None


def _read_csv(path: Path, raw: bytes, fmt: str) -> pa.Table:
    delimiter = "\t" if fmt == "tsv" else ","
    if not raw.strip():
        raise InputFileError(InputLocation(str(path)), "file is empty (no header, no rows)")
    first_line = raw.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
    names = next(csv.reader([first_line], delimiter=delimiter))
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise InputFileError(InputLocation(str(path), column=duplicate), "column appears twice in the header")
    try:
        return pacsv.read_csv(
            io.BytesIO(raw.removeprefix(b"\xef\xbb\xbf")),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise InputFileError(InputLocation(str(path)), f"malformed CSV: {exc}") from None


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_jsonl(path: Path, text: str) -> pa.Table:
    columns: dict[str, list[str | None]] = {}
    row_count = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputFileError(
                InputLocation(str(path), row=line_no), f"not valid JSON ({exc.msg} at character {exc.pos})"
            ) from None
        if not isinstance(record, dict):
            raise InputFileError(InputLocation(str(path), row=line_no), "each line must be a JSON object")
        for key, value in record.items():
            column = columns.setdefault(key, [None] * row_count)
            column.append(_as_text(value))
        row_count += 1
        for column in columns.values():
            if len(column) < row_count:
                column.append(None)
    return pa.table({key: pa.array(values, type=pa.string()) for key, values in columns.items()})
