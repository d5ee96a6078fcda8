"""The loader: moves spooled tracking events into the lake, exactly once.

For each spool segment, oldest first, it reads the whole lines past the segment's checkpoint, turns
every message into a canonical `events` row (`footfall.ingest.messages.to_event_row`) and the order
lines of `Order Completed` events (as the file importer does), drops message ids already in the lake,
commits through `Lake.commit` and only then advances the checkpoint. A crash between the commit and
the checkpoint makes the next run read those lines again, and dedupe by message_id absorbs them, so
every spooled message is in the lake exactly once.

Dedupe and commit happen under the lake's writer lock, which also serialises the loader in every
server worker and `footfall load` run from the CLI: at most one of them loads at a time.
A segment whose writer has gone (its lock is free) is deleted once loaded; an unterminated last line
in it is a record that was never acknowledged (the writer died mid-write) and is skipped. A line that
cannot be turned into an event is never dropped silently: it goes to `spool/quarantine/`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from footfall.errors import FootfallError
from footfall.ingest.dedupe import MessageIdIndex
from footfall.ingest.kinds import _event_order_lines
from footfall.ingest.messages import parse_time, to_event_row
from footfall.ingest.spool import Segment, segments
from footfall.lake import Lake, new_batch_id
from footfall.project import Project
from footfall.schema import EVENTS

SPOOL_DIR = "spool"
QUARANTINE_DIR = "quarantine"
CHUNK_BYTES = 16 * 1024 * 1024  # spool bytes per lake commit (about 40,000 typical events)
_NULLABLE_EVENTS = pa.schema([f.with_nullable(True) for f in EVENTS])


def spool_directory(project: Project) -> Path:
    """Where the collector of `project` spools events."""
    return project.root / SPOOL_DIR


@dataclass
class LoadResult:
    """What one loader run did."""

    events_read: int = 0
    events_loaded: int = 0
    order_lines_loaded: int = 0
    commits: int = 0
    segments_finished: int = 0
    torn_tails: int = 0  # unacknowledged partial records skipped at the end of dead segments
    quarantined: int = 0  # records or messages that could not be read; kept in spool/quarantine/
    lock_busy: bool = False  # another writer held the lake; nothing was done (wait=False only)

    @property
    def duplicates(self) -> int:
        return self.events_read - self.events_loaded


class Loader:
    """Loads a project's spool into its lake; keep one around to reuse its message-id index."""

    def __init__(self, project: Project, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.project = project
        self.lake = Lake(project.lake_dir)
        self.directory = spool_directory(project)
        self.chunk_bytes = chunk_bytes
        self._ids = MessageIdIndex(self.lake)

    def pending_bytes(self) -> int:
        """Spool bytes not yet loaded (what a progress bar counts down)."""
        total = 0
        for segment in segments(self.directory):
            try:
                total += max(segment.size() - segment.loaded_offset(), 0)
            except FileNotFoundError:
                pass
        return total

    def load(self, wait: bool = True, progress: Callable[[int], None] | None = None) -> LoadResult:
        """Load everything spooled so far; `progress(bytes)` is called as spool bytes are consumed.

        With `wait=False` it returns at once (`lock_busy`) when another writer holds the lake.
        """
        result = LoadResult()
        with self.lake.writer_lock(wait=wait) as acquired:
            if not acquired:
                result.lock_busy = True
                return result
            for segment in segments(self.directory):
                self._load_segment(segment, result, progress)
        return result

    def _load_segment(self, segment: Segment, result: LoadResult, progress: Callable[[int], None] | None) -> None:
        # Liveness is read before the data: if the writer is gone now, the file will not grow again,
        # so whatever is read below is all there will ever be.
        live = segment.is_live()
        offset = segment.loaded_offset()
        while True:
            lines, end = segment.read_lines(offset, self.chunk_bytes)
            if not lines:
                break
            self._load_lines(segment, lines, result)
            segment.save_checkpoint(end)
            if progress:
                progress(end - offset)
            offset = end
        if not live:
            leftover = segment.size() - offset
            if leftover > 0:
                result.torn_tails += 1
                if progress:
                    progress(leftover)
            segment.remove()
            result.segments_finished += 1

    def _load_lines(self, segment: Segment, lines: list[bytes], result: LoadResult) -> None:
        rows: list[dict[str, Any]] = []
        for line in lines:
            rows.extend(self._rows_of(segment, line, result))
        if not rows:
            return
        events = pa.Table.from_pylist(rows, schema=_NULLABLE_EVENTS)
        new = self._ids.new_rows(events)
        result.events_read += len(rows)
        if not new.num_rows:
            return
        lines_table = _event_order_lines(new)
        tables = {"events": new}
        if lines_table.num_rows:
            tables["order_lines"] = lines_table
        batch_id = self.lake.commit(tables, new_batch_id())
        self._ids.remember(new, batch_id)
        result.events_loaded += new.num_rows
        result.order_lines_loaded += lines_table.num_rows
        result.commits += 1

    def _rows_of(self, segment: Segment, line: bytes, result: LoadResult) -> list[dict[str, Any]]:
        """The event rows of one spool record; what cannot be converted is quarantined."""
        if not line.strip():
            return []
        try:
            record = orjson.loads(line)
            received_at = parse_time(record["receivedAt"], "receivedAt")
            sent = record.get("sentAt")
            batch_sent_at = parse_time(sent, "sentAt") if sent is not None else None
            source, messages = str(record["source"]), record["batch"]
        except (orjson.JSONDecodeError, KeyError, TypeError, FootfallError) as exc:
            self._quarantine(segment, {"line": line.decode("utf-8", "replace"), "error": str(exc)})
            result.quarantined += 1
            return []
        rows = []
        for message in messages:
            try:
                rows.append(to_event_row(message, received_at, batch_sent_at, source))
            except (KeyError, TypeError, ValueError, AttributeError, FootfallError) as exc:
                self._quarantine(segment, {"message": message, "receivedAt": record["receivedAt"],
                                           "source": source, "error": f"{type(exc).__name__}: {exc}"})
                result.quarantined += 1
        return rows

    def _quarantine(self, segment: Segment, entry: dict[str, Any]) -> None:
        directory = self.directory / QUARANTINE_DIR
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / segment.path.name, "ab") as handle:
            handle.write(orjson.dumps(entry, default=str) + b"\n")


def load_spool(project: Project, wait: bool = True, progress: Callable[[int], None] | None = None) -> LoadResult:
    """Load a project's spooled tracking events into its lake once (what `footfall load` runs)."""
    return Loader(project).load(wait=wait, progress=progress)



def load_periodically(project_dir: str, interval_s: float, server_pid: int | None = None) -> None:
    """Load the spool every `interval_s` seconds until stopped or until process `server_pid` is gone
    (the process `footfall serve` starts: it must not outlive a server that was killed).

    It runs in its own process so that loading never takes CPU (or the GIL) from the workers that
    answer requests. Stopping it at any moment is safe: a lake commit is atomic and the checkpoint
    only follows a commit, so the next run re-reads at most what dedupe then absorbs.
    """
    import logging
    import time

    from footfall.project import open_project

    log = logging.getLogger("footfall.loader")
    try:
        loader = Loader(open_project(project_dir))
        while True:
            deadline = time.monotonic() + interval_s
            while time.monotonic() < deadline:
                if server_pid is not None and os.getppid() != server_pid:  # orphaned: the server is gone
                    return
                time.sleep(min(0.5, interval_s))
            try:
                result = loader.load(wait=False)
            except Exception:  # the spool keeps the events; the next round retries
                log.exception("loading the spool into the lake failed; will retry")
                continue
            if result.events_loaded:
                log.info("loaded %d events into the lake (%d duplicates)", result.events_loaded, result.duplicates)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group
        return
