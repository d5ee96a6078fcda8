"""A live view of arriving events: follow the collector's spool as the servers append to it.

The spool is where an accepted event is first durable (before any load into the lake), so following
it shows an event the moment its request was answered 200, whatever the loader interval. Read-only:
segments are only opened for reading, never locked, checkpointed or removed; a segment the loader
deletes is simply forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from footfall.ingest.loader import spool_directory
from footfall.ingest.spool import SEGMENT_SUFFIX
from footfall.project import Project


@dataclass(frozen=True)
class ArrivedEvent:
    """One accepted message as spooled, with when and from which source it arrived."""

    received_at: str
    source: str
    message: dict[str, Any]


def follow_spool(project: Project, source: str | None = None, from_start: bool = False, poll_s: float = 0.5,
                 keep_going: Callable[[], bool] = lambda: True) -> Iterator[ArrivedEvent]:
    """Events appended to the spool from now on (`from_start`: also those still in it), oldest first.

    `source` keeps only events sent with that source's write keys. Polls every `poll_s` while
    `keep_going()` is true.
    """
    directory = spool_directory(project)
    offsets: dict[Path, int] = {}
    first_round = True
    while keep_going():
        live = sorted(directory.glob(f"*{SEGMENT_SUFFIX}")) if directory.is_dir() else []
        for path in live:
            if path not in offsets:
                offsets[path] = 0 if from_start or not first_round else _size(path)
            lines, offsets[path] = _whole_lines(path, offsets[path])
            for line in lines:
                yield from _events_of(line, source)
        for gone in set(offsets) - set(live):
            del offsets[gone]
        first_round = False
        time.sleep(poll_s)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _whole_lines(path: Path, offset: int) -> tuple[list[bytes], int]:
    """The whole lines appended after `offset` (an unterminated tail waits for the next poll)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    return (data[:end - 1].split(b"\n") if end else []), offset + end


def _events_of(line: bytes, source: str | None) -> Iterator[ArrivedEvent]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return  # a torn record of a killed writer: never acknowledged, the loader skips it too
    if source is not None and record.get("source") != source:
        return
    for message in record.get("batch") or []:
        yield ArrivedEvent(record.get("receivedAt", ""), record.get("source", ""), message)


def describe(event: ArrivedEvent) -> str:
    """One readable line: time, source, type, name, who, and the page it came from."""
    message = event.message
    kind = message.get("type", "?")
    name = message.get("event") if kind == "track" else message.get("name") or message.get("groupId") or ""
    who = message.get("userId") or message.get("anonymousId") or ""
    page = ((message.get("context") or {}).get("page") or {}).get("path") or ""
    parts = [event.received_at[:23], event.source, kind, str(name or ""), f"id={who}", page,
             f"msg={message.get('messageId', '')}"]
    return "  ".join(part for part in parts if part)
