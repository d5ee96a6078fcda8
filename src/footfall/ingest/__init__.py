"""Getting data in: file import (CSV, JSONL, Parquet) into the lake, all-or-nothing per file."""

from footfall.ingest.importer import KINDS, Importer, ImportResult, import_files

__all__ = ["KINDS", "ImportResult", "Importer", "import_files"]
