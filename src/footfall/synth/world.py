"""`generate`: build a synthetic O2O world on disk, chunk by chunk, with its ground truth.

People are generated in chunks of consecutive indices; each chunk is built, written and freed, so
memory stays flat whatever the number of customers. Every person draws from their own seeded random
streams, so the rows produced depend on the seed and the world's size only — not on `chunk_customers`
or `workers` (only how rows are split into part files does).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import date
from multiprocessing import get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from footfall.errors import FootfallError
from footfall.synth.behaviour import plan_life
from footfall.synth.trail import Trail
from footfall.synth.people import MAX_CUSTOMERS, make_person
from footfall.synth.postcodes import write_postcode_directory
from footfall.synth.setting import Setting, build_setting
from footfall.synth.writer import TRUTH_TABLES, ChunkWriter, concatenate_truth_parts, write_reference_tables

MANIFEST = "manifest.json"
_OUTPUTS = ("events", "receipts", "truth", "stores.parquet", "products.parquet", "postcodes.parquet", MANIFEST)


class WorldParameterError(FootfallError):
    """A parameter of `generate` is out of range."""

    def __init__(self, name: str, value: Any, expected: str) -> None:
        super().__init__(f"synthetic world: {name}={value!r} is not valid; use {expected}.")


@dataclass
class WorldManifest:
    """What was generated: the parameters, row counts per output and where each output is.

    `paths` are relative to `out_dir`; "events" and "receipts" are directories of part files
    (`part-00000.parquet`, ...), one per chunk of people.
    """

    out_dir: str
    parameters: dict[str, Any]
    row_counts: dict[str, int]
    archetypes: dict[str, int]
    paths: dict[str, str] = field(
        default_factory=lambda: {
            "stores": "stores.parquet",
            "products": "products.parquet",
            "postcodes": "postcodes.parquet",
            "events": "events",
            "receipts": "receipts",
            **{name: f"truth/{name}.parquet" for name in TRUTH_TABLES},
        }
    )

    def path(self, name: str) -> Path:
        """Absolute path of an output ("events", "persons", ...)."""
        return Path(self.out_dir) / self.paths[name]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def read(cls, out_dir: str | Path) -> WorldManifest:
        """The manifest of a world generated earlier into `out_dir`."""
        return cls(**json.loads((Path(out_dir) / MANIFEST).read_text()))


@dataclass(frozen=True)
class _Chunk:
    number: int
    first_index: int
    size: int


def _build_chunk(setting: Setting, out_dir: Path, chunk: _Chunk) -> tuple[dict[str, int], Counter[str]]:
    """Generate, write and forget one chunk of people; returns row counts and archetype counts."""
    writer = ChunkWriter(out_dir, chunk.number)
    archetypes: Counter[str] = Counter()
    for index in range(chunk.first_index, chunk.first_index + chunk.size):
        trail = Trail(setting, make_person(setting, index))
        plan_life(trail)
        trail.live()
        writer.add(trail)
        archetypes[trail.person.archetype] += 1
    return writer.close(), archetypes


def _check(customers: int, stores: int, days: int, chunk_customers: int, workers: int) -> None:
    for name, value, low, high in (
        ("customers", customers, 1, MAX_CUSTOMERS),
        ("stores", stores, 1, 999),
        ("days", days, 7, 3660),  # a week at least: lapsed customers need a before and an after
        ("chunk_customers", chunk_customers, 1, MAX_CUSTOMERS),
        ("workers", workers, 1, 1024),
    ):
        if not isinstance(value, int) or not low <= value <= high:
            raise WorldParameterError(name, value, f"a whole number from {low} to {high}")


def _process_context() -> BaseContext:
    """Fork on Linux: workers inherit the stage and callers need no `if __name__ == "__main__"` guard
    (Arrow re-creates its thread pools after a fork). Elsewhere the platform's default (spawn)."""
    return get_context("fork") if sys.platform.startswith("linux") else get_context()


def _clear_outputs(out: Path) -> None:
    """Remove what an earlier run wrote here (stale part files would otherwise be read as data)."""
    for name in _OUTPUTS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def generate(
    out_dir: str | Path,
    customers: int = 1000,
    stores: int = 20,
    days: int = 90,
    seed: int = 0,
    start: date = date(2026, 1, 1),
    chunk_customers: int = 20_000,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> WorldManifest:
    """Generate a synthetic O2O world into `out_dir` and return its manifest (also in manifest.json).

    progress: called after each chunk with the total number of customers finished so far.
    workers: chunks are built in that many processes (forked on Linux; elsewhere spawned, which needs
        the calling script to guard its entry point with `if __name__ == "__main__":`).
    """
    _check(customers, stores, days, chunk_customers, workers)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear_outputs(out)
    setting = build_setting(seed, customers, stores, days, start)
    row_counts = write_reference_tables(out, setting)
    chunks = [
        _Chunk(number, first, min(chunk_customers, customers - first))
        for number, first in enumerate(range(0, customers, chunk_customers))
    ]
    totals: Counter[str] = Counter()
    archetypes: Counter[str] = Counter()
    finished = 0

    def collect(chunk: _Chunk, result: tuple[dict[str, int], Counter[str]]) -> None:
        nonlocal finished
        totals.update(result[0])
        archetypes.update(result[1])
        finished += chunk.size
        if progress is not None:
            progress(finished)

    if workers == 1 or len(chunks) == 1:
        for chunk in chunks:
            collect(chunk, _build_chunk(setting, out, chunk))
    else:
        with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=_process_context()) as pool:
            futures = {pool.submit(_build_chunk, setting, out, chunk): chunk for chunk in chunks}
            for future in as_completed(futures):
                collect(futures[future], future.result())
    concatenate_truth_parts(out, len(chunks))
    row_counts["postcodes"] = write_postcode_directory(out)
    row_counts.update(totals)
    manifest = WorldManifest(
        out_dir=str(out.resolve()),
        parameters={
            "customers": customers,
            "stores": stores,
            "days": days,
            "seed": seed,
            "start": start.isoformat(),
            "chunk_customers": chunk_customers,
            "workers": workers,
        },
        row_counts=dict(sorted(row_counts.items())),
        archetypes=dict(sorted(archetypes.items())),
    )
    (out / MANIFEST).write_text(manifest.to_json())
    return manifest
