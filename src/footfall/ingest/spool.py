"""The collector's durable spool: append-only NDJSON segment files, fsync'd by group commit.

Every server process writes its own segment (`spool/<created>-<pid>-<random>.ndjson`), so several
uvicorn workers never interleave bytes in one file, and holds an exclusive `flock` on it for as long
as it writes there; the loader reads a segment while it is live and deletes it once its writer is
gone (the lock is free) and everything in it is in the lake.

Group commit: a request hands its record to `Spool.append` and waits. One writer (a single thread)
takes every record that arrived since its last round, writes them with one `write` and makes them
durable with one `fdatasync` (data and the file size: all a reader needs), then wakes every waiter of
that round. While one round syncs, the next round's records pile up, so under load many requests
share one sync and a request is answered 200 only after its own bytes are on disk.

A record is one line of JSON; a line is only ever appended whole, so a reader takes the bytes up to
the last newline. A process killed mid-write can leave an unterminated tail in its (now dead) segment:
that record was never acknowledged, and the loader skips it.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from footfall.errors import SpoolFullError, SpoolUnavailableError
from footfall.lake import fsync_path

SEGMENT_SUFFIX = ".ndjson"
CHECKPOINT_SUFFIX = ".loaded"
MAX_SEGMENT_BYTES = 64 * 1024 * 1024
MAX_PENDING_BYTES = 64 * 1024 * 1024


def _open_segment(directory: Path) -> tuple[int, Path]:
    """Create, lock and publish a new segment; returns (fd, path).

    It is created under a temporary name and renamed only once locked, so the loader never sees an
    unlocked empty segment that it could mistake for a finished one and delete.
    """
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S%f}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temporary = directory / f".{name}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    path = directory / f"{name}{SEGMENT_SUFFIX}"
    os.rename(temporary, path)
    fsync_path(directory)  # the segment's name survives a crash
    return fd, path


class Spool:
    """One process's append-only segment, with group commit. Use from one asyncio event loop."""

    def __init__(self, directory: Path, max_segment_bytes: int = MAX_SEGMENT_BYTES,
                 max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self.directory = Path(directory)
        self.max_segment_bytes = max_segment_bytes
        self.max_pending_bytes = max_pending_bytes
        self._fd: int | None = None
        self.path: Path | None = None
        self._offset = 0
        self._pending: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._pending_bytes = 0
        self._flusher: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="footfall-spool")
        self.syncs = 0  # rounds of group commit so far (each one fdatasync)
        self.records = 0

    def open(self) -> Spool:
        self._fd, self.path = _open_segment(self.directory)
        self._offset = 0
        return self

    async def append(self, record: bytes) -> None:
        """Append one record (a JSON line ending in a newline); return once it is on disk."""
        if self._fd is None:
            raise SpoolUnavailableError("the collector is not accepting events (starting or shutting down)")
        if self._pending_bytes + len(record) > self.max_pending_bytes:
            raise SpoolFullError("the collector is writing more than the disk keeps up with; retry shortly")
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._pending.append(record)
        self._waiters.append(done)
        self._pending_bytes += len(record)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush_rounds())
        await asyncio.shield(done)  # a client that hangs up does not cancel the write of its record

    async def _flush_rounds(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                records, waiters = self._pending, self._waiters
                self._pending, self._waiters, self._pending_bytes = [], [], 0
                try:
                    await loop.run_in_executor(self._executor, self._write_durably, b"".join(records))
                except OSError as exc:
                    failure = SpoolUnavailableError(f"could not write the spool ({exc.strerror or exc})")
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(failure)
                    continue
                self.syncs += 1
                self.records += len(records)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
        finally:
            self._flusher = None

    def _write_durably(self, data: bytes) -> None:
        """Runs on the writer thread only: write, fdatasync, rotate when the segment is full."""
        assert self._fd is not None
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fdatasync(self._fd)
        except OSError:
            # Cut a partial write off, so later records never follow a torn line in this segment.
            try:
                os.ftruncate(self._fd, self._offset)
            except OSError:
                pass
            raise
        self._offset += len(data)
        if self._offset >= self.max_segment_bytes:
            self._rotate()

    def _rotate(self) -> None:
        old = self._fd
        self._fd, self.path = _open_segment(self.directory)
        self._offset = 0
        if old is not None:
            os.close(old)  # releases its lock: the loader may finish and delete it

    async def close(self) -> None:
        """Flush what is pending, then release the segment (it stays for the loader)."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._executor.shutdown(wait=True)


# -- the reading side (the loader) -----------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """A spool segment file and how far the loader has loaded it."""

    path: Path

    @property
    def checkpoint_path(self) -> Path:
        return self.path.with_name(self.path.name + CHECKPOINT_SUFFIX)

    def size(self) -> int:
        return self.path.stat().st_size

    def loaded_offset(self) -> int:
        """Bytes already in the lake (0 when never loaded)."""
        try:
            return int(self.checkpoint_path.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0

    def save_checkpoint(self, offset: int) -> None:
        """Record that the bytes before `offset` are in the lake (atomic rename; a lost checkpoint only
        means a re-load, which dedupe absorbs, so no fsync is needed)."""
        temporary = self.checkpoint_path.with_name(f".{self.checkpoint_path.name}.tmp")
        temporary.write_text(f"{offset}\n", encoding="ascii")
        os.replace(temporary, self.checkpoint_path)

    def is_live(self) -> bool:
        """Whether a server process still appends to it (it holds the segment's lock)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def read_lines(self, offset: int, max_bytes: int) -> tuple[list[bytes], int]:
        """Whole lines from `offset`, about `max_bytes` of them (at least one line when there is one);
        returns (lines, offset after the last whole line)."""
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(max_bytes)
            while data and b"\n" not in data:  # one line longer than max_bytes
                more = handle.read(max_bytes)
                if not more:
                    break
                data += more
        end = data.rfind(b"\n") + 1
        return data[:end - 1].split(b"\n") if end else [], offset + end

    def remove(self) -> None:
        """Delete the segment and its checkpoint (in that order: a leftover checkpoint is harmless)."""
        self.path.unlink(missing_ok=True)
        self.checkpoint_path.unlink(missing_ok=True)


def segments(directory: Path) -> Iterator[Segment]:
    """The spool's segments, oldest first; checkpoints whose segment is gone are removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return
    for checkpoint in directory.glob(f"*{SEGMENT_SUFFIX}{CHECKPOINT_SUFFIX}"):
        if not checkpoint.with_name(checkpoint.name.removesuffix(CHECKPOINT_SUFFIX)).exists():
            checkpoint.unlink(missing_ok=True)
    for path in sorted(directory.glob(f"*{SEGMENT_SUFFIX}")):
        yield Segment(path)
