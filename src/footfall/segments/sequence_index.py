"""A per-person index of a windowless sequence's steps: new pairs found by lookups, not by scans.

`did A then B within D [same f]` gains a pair only through a *fresh* event (newly rolled up, or
carried across `as_of` by time). Checking a fresh event needs the other step's events of the same
person — and late events make those people a random sample of everyone, so any read of the event log
scans the step's rows over all history (a second per ten million rows at 50M events). Kept here
instead: every row of each step as (person code << 32 | key, microseconds), sorted, in NumPy files
that are memory-mapped; a fresh event is answered by two binary searches for its person and key and
a third, vectorised over all fresh events, for the time bound. `key` codes the `same` fields' values
(a dictionary kept with the index; a row whose `same` field is null can never pair and is left out).

Files are a base plus one delta per refresh that brought rows (each sorted), folded into a new base
when they grow; `StepFiles` names them and is saved in the leaf's state (`condition_state.LeafState`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from footfall.lake import fsync_path
from footfall.segments.rules import Sequence

FOLD_FILES = 8  # more delta files than this (or more delta rows than a quarter of the base): fold
NEVER = np.iinfo(np.int64).min
KEY_SEPARATOR = "\x1f"


@dataclass
class StepFiles:
    """The files of one leaf's index: per step (first, then) a base and deltas; the key dictionary."""

    steps: list[list[str]] = field(default_factory=lambda: [[], []])
    keys: str | None = None  # Arrow file of the `same` values, in code order (None: no `same`)
    rows: list[list[int]] = field(default_factory=lambda: [[], []])  # rows per file, as `steps`


def micros(timestamps: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """UTC microseconds since the epoch."""
    return pc.cast(timestamps, pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy(zero_copy_only=False)


def micros_at(moment: datetime) -> int:
    """One moment as UTC microseconds since the epoch, the index's unit of time."""
    return int(moment.timestamp() * 1_000_000)


class SequenceIndex:
    """One leaf's index, read and extended during one refresh."""

    def __init__(self, directory: Path, sequence: Sequence, files: StepFiles | None = None) -> None:
        self.directory, self.sequence = directory, sequence
        self.files = files or StepFiles()
        self._keys: pa.Array | None = None

    # -- keys ---------------------------------------------------------------------------------------
    def _dictionary(self) -> pa.Array:
        if self._keys is None:
            if self.files.keys is None:
                self._keys = pa.array([], pa.string())
            else:
                with pa.memory_map(str(self.directory / self.files.keys)) as source:
                    self._keys = pa.ipc.open_file(source).read_all()["key"].combine_chunks()
        return self._keys

    def key_codes(self, keys: pa.ChunkedArray | pa.Array | None, count: int) -> np.ndarray:
        """Codes of `same` values (−1: null, never pairs); unseen values join the dictionary."""
        if not self.sequence.same:
            return np.zeros(count, np.int64)
        keys = pa.chunked_array([keys]) if isinstance(keys, pa.Array) else keys
        dictionary = self._dictionary()
        unseen = pc.unique(keys.filter(pc.invert(pc.is_in(keys, value_set=dictionary)))).drop_null()
        if len(unseen):
            self._keys = pa.concat_arrays([dictionary, unseen.cast(pa.string())])
            name = f"keys-{uuid.uuid4().hex[:12]}.arrow"
            table = pa.table({"key": self._keys})
            with pa.OSFile(str(self.directory / name), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            fsync_path(self.directory / name)
            self.files.keys = name
        return pc.fill_null(pc.index_in(keys, value_set=self._keys), -1).to_numpy(zero_copy_only=False).astype(np.int64)

    # -- files --------------------------------------------------------------------------------------
    def add(self, step: int, codes: np.ndarray, keys: np.ndarray, times: np.ndarray) -> None:
        """Rows of a step (new in the log) join the index, as a delta file or folded into a new base."""
        usable = keys >= 0
        if not usable.any():
            return
        composite = (codes[usable].astype(np.int64) << 32) | keys[usable]
        rows = _sorted(composite, times[usable])
        named, counts = self.files.steps[step], self.files.rows[step]
        if named and (len(named) > FOLD_FILES or sum(counts[1:]) + rows.shape[1] > max(counts[0] // 4, 100_000)):
            merged = np.concatenate([*(self._read(name) for name in named), rows], axis=1)
            rows = _sorted(merged[0], merged[1])
            self.files.steps[step], self.files.rows[step] = [self._write(rows)], [rows.shape[1]]
        else:
            self.files.steps[step], self.files.rows[step] = [*named, self._write(rows)], [*counts, rows.shape[1]]

    def _write(self, rows: np.ndarray) -> str:
        name = f"step-{uuid.uuid4().hex[:12]}.npy"
        np.save(self.directory / name, rows)
        fsync_path(self.directory / name)
        return name

    def _read(self, name: str) -> np.ndarray:
        return np.load(self.directory / name, mmap_mode="r")

    @staticmethod
    def names_of(files: StepFiles) -> set[str]:
        return {*files.steps[0], *files.steps[1], *([files.keys] if files.keys else [])}

    # -- lookups ------------------------------------------------------------------------------------
    def any_between(self, step: int, codes: np.ndarray, keys: np.ndarray, low: np.ndarray,
                    high: np.ndarray) -> np.ndarray:
        """For each query i: whether the step has a row of person codes[i] and key keys[i] with
        low[i] < time <= high[i]."""
        usable = keys >= 0
        composite = (codes.astype(np.int64) << 32) | np.where(usable, keys, 0)
        # queries in the files' order: the binary searches then walk the memory-mapped files forwards
        order = np.argsort(composite, kind="stable")
        composite, low, high = composite[order], low[order], high[order]
        found = np.zeros(len(codes), bool)
        for name in self.files.steps[step]:
            rows = self._read(name)
            group, times = rows[0], rows[1]
            start = np.searchsorted(group, composite, "left")
            end = np.searchsorted(group, composite, "right")
            first_after = _first_greater(times, start, end, low)  # times are sorted within a group
            inside = first_after < end
            inside[inside] = times[first_after[inside]] <= high[inside]
            found |= inside
        unsorted = np.zeros(len(codes), bool)
        unsorted[order] = found
        return unsorted & usable


def _sorted(composite: np.ndarray, times: np.ndarray) -> np.ndarray:
    order = np.lexsort((times, composite))
    return np.stack([composite[order], times[order]])


def _first_greater(times: np.ndarray, start: np.ndarray, end: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Per query, the first position in [start, end) whose time is > bound (end when none): a binary
    search run for all queries at once, one halving step per iteration."""
    low, high = start.copy(), end.copy()
    active = low < high
    while active.any():
        middle = (low + high) // 2
        right = np.zeros(len(low), bool)
        right[active] = times[middle[active]] <= bound[active]
        low = np.where(active & right, middle + 1, low)
        high = np.where(active & ~right, middle, high)
        active = low < high
    return low


def new_pairs(index: SequenceIndex, fresh: list[tuple[np.ndarray, np.ndarray, np.ndarray]], as_of: datetime) -> np.ndarray:
    """Codes of people with a pair that has a fresh event: fresh[step] = (codes, keys, times) of that
    step's fresh events. A fresh first event looks for a then-event strictly after it, within the
    bound and up to `as_of`; a fresh then-event for a first event strictly before it, within the bound."""
    limit = micros_at(as_of)
    within = index.sequence.within
    span = None if within is None else int(within.hours) * 3_600_000_000
    hits = []
    codes, keys, times = fresh[0]
    if len(codes):
        high = np.full(len(times), limit, np.int64) if span is None else np.minimum(times + span, limit)
        hits.append(codes[index.any_between(1, codes, keys, times, high)])
    codes, keys, times = fresh[1]
    if len(codes):
        low = np.full(len(times), NEVER, np.int64) if span is None else times - span - 1
        hits.append(codes[index.any_between(0, codes, keys, low, times - 1)])
    return np.unique(np.concatenate(hits)) if hits else np.zeros(0, np.int64)
