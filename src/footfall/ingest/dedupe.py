"""Deduplication of events by message_id against what the lake already holds.

Dedupe is per month partition of `timestamp` (a retried message carries the same timestamp, so its
copies land in one partition). Callers hold the lake's writer lock while they check and commit, so no
other writer can add ids between the check and the commit.

The index remembers which committed files of a partition it has read. Files in the lake are immutable
once committed, so a long-lived index (the collector's loader, which runs every few seconds) only reads
the files other writers added since its last look, instead of re-reading a whole month's ids each time.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from footfall.ingest.convert import first_occurrences
from footfall.lake import Lake, split_by_partition


class MessageIdIndex:
    """The message ids already in each month partition of `events`, read lazily and kept current."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._ids: dict[str, list[pa.Array]] = {}
        self._files_read: dict[str, set[str]] = {}

    def _known(self, partition: str) -> list[pa.Array]:
        files = self.lake.partition_files("events", partition)
        names = {f.name for f in files}
        read = self._files_read.get(partition)
        if read is None or not read <= names:  # first look, or files were rewritten: start over
            read = self._files_read[partition] = set()
            self._ids[partition] = []
        for path in files:
            if path.name not in read:
                column = pq.read_table(path, columns=["message_id"])["message_id"].combine_chunks()
                if len(column):
                    self._ids[partition].append(column)
                read.add(path.name)
        return self._ids[partition]

    def new_rows(self, events: pa.Table) -> pa.Table:
        """The events whose message_id is neither earlier in `events` nor already in the lake."""
        events = first_occurrences(events, "message_id")
        kept = []
        for partition, part in split_by_partition(events):
            ids = part["message_id"].combine_chunks()
            # Probe the (large) known ids against a hash of the (small) new batch, not the reverse.
            seen = [known.filter(pc.is_in(known, value_set=ids)) for known in self._known(partition)]
            if any(len(s) for s in seen):
                part = part.filter(pc.invert(pc.is_in(part["message_id"], value_set=pa.concat_arrays(seen))))
            kept.append(part)
        return pa.concat_tables(kept) if kept else events.slice(0, 0)

    def remember(self, events: pa.Table, batch_id: str) -> None:
        """Record the ids of `events`, just committed as batch `batch_id`, without reading them back."""
        for partition, part in split_by_partition(events.select(["message_id", "timestamp"])):
            self._ids.setdefault(partition, []).append(part["message_id"].combine_chunks())
            self._files_read.setdefault(partition, set()).add(f"{batch_id}.parquet")
