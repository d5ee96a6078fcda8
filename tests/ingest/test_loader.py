"""The loader moves spooled events into the lake exactly once, whatever happens between its steps."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from pathlib import Path

import orjson

from footfall.ingest import Importer
from footfall.ingest.collector import spool_record
from footfall.ingest.loader import Loader, load_spool, spool_directory
from footfall.ingest.spool import Segment, Spool, segments
from footfall.lake import Lake

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def _message(message_id: str, **extra) -> bytes:
    body = {"type": "track", "userId": "u1", "event": "Product Viewed", "messageId": message_id,
            "timestamp": "2026-03-01T11:59:00Z", **extra}
    return orjson.dumps(body)


def _records(ids: list[str], per_record: int = 2) -> list[bytes]:
    chunks = [ids[i:i + per_record] for i in range(0, len(ids), per_record)]
    return [spool_record(RECEIVED, "test", None, [_message(m) for m in chunk]) for chunk in chunks]


def _dead_segment(project, records: list[bytes], tail: bytes = b"") -> Segment:
    """A segment left behind by a server process that is gone (nobody holds its lock)."""
    directory = spool_directory(project)
    directory.mkdir(exist_ok=True)
    path = directory / f"20260301T120000{len(list(directory.iterdir())):06d}-1-dead.ndjson"
    path.write_bytes(b"".join(records) + tail)
    return Segment(path)


def _lake_ids(project) -> list[str]:
    return sorted(Lake(project.lake_dir).read("events")["message_id"].to_pylist())


def test_spooled_events_are_loaded_and_the_segment_removed(project):
    segment = _dead_segment(project, _records(["a", "b", "c"]))
    result = load_spool(project)
    assert (result.events_read, result.events_loaded, result.segments_finished) == (3, 3, 1)
    assert _lake_ids(project) == ["a", "b", "c"]
    assert not segment.path.exists() and not segment.checkpoint_path.exists()
    assert load_spool(project).events_read == 0


def test_a_crash_between_commit_and_checkpoint_only_reloads_and_dedupe_absorbs_it(project):
    async def append(spool: Spool, records: list[bytes]) -> None:
        for record in records:
            await spool.append(record)

    async def scenario() -> None:
        spool = Spool(spool_directory(project)).open()  # a live server: the segment stays after loading
        await append(spool, _records(["a", "b"]))
        assert Loader(project).load().events_loaded == 2
        segment = Segment(spool.path)
        segment.checkpoint_path.unlink()  # as if the loader died right after its lake commit
        await append(spool, _records(["c"]))
        again = Loader(project).load()
        assert (again.events_read, again.events_loaded, again.duplicates) == (3, 1, 2)
        assert segment.path.exists() and segment.loaded_offset() == segment.size()
        await spool.close()

    asyncio.run(scenario())
    assert _lake_ids(project) == ["a", "b", "c"]


def test_an_unterminated_last_line_of_a_dead_segment_is_skipped(project):
    _dead_segment(project, _records(["a", "b"]), tail=b'{"receivedAt":"2026-03-01T12:00:00+00:00","sou')
    result = load_spool(project)
    assert (result.events_loaded, result.torn_tails, result.segments_finished) == (2, 1, 1)
    assert list(segments(spool_directory(project))) == []


def test_an_unreadable_record_is_quarantined_and_the_rest_loaded(project):
    bad_message = spool_record(RECEIVED, "test", None, [b'{"type":"track","userId":"u"}'])  # no messageId
    _dead_segment(project, [_records(["a"])[0], b'{"not":"a record"}\n', bad_message, _records(["b"])[0]])
    result = load_spool(project)
    assert (result.events_loaded, result.quarantined) == (2, 2)
    quarantined = (spool_directory(project) / "quarantine").glob("*.ndjson")
    assert sum(len(p.read_text().splitlines()) for p in quarantined) == 2
    assert _lake_ids(project) == ["a", "b"]


def _import_event(project, directory: Path, message_id: str, timestamp: str) -> None:
    """Import one event from a JSONL file (the file importer's path into the lake)."""
    stores = directory / "stores.csv"
    stores.write_text("store_id,name,lat,lon\nS1,High Street,51.5,-0.1\n")
    events_file = directory / f"{message_id}.jsonl"
    events_file.write_text(json.dumps({"message_id": message_id, "type": "track", "event": "Product Viewed",
                                       "user_id": "u1", "timestamp": timestamp, "channel": "web"}) + "\n")
    with Importer(project) as importer:
        importer.import_file("stores", stores)
        importer.import_file("events", events_file)


def test_events_already_imported_from_a_file_are_not_loaded_twice(project, tmp_path: Path):
    _import_event(project, tmp_path, "a", "2026-03-01T11:59:00Z")
    _dead_segment(project, _records(["a", "b"]))
    result = load_spool(project)
    assert (result.events_loaded, result.duplicates) == (1, 1)
    assert _lake_ids(project) == ["a", "b"]


def test_a_long_lived_loader_sees_what_other_writers_added_meanwhile(project, tmp_path: Path):
    loader = Loader(project)
    _dead_segment(project, _records(["a"]))
    assert loader.load().events_loaded == 1
    _import_event(project, tmp_path, "b", "2026-03-01T11:00:00Z")
    _dead_segment(project, _records(["b", "c"]))
    assert loader.load().events_loaded == 1
    assert _lake_ids(project) == ["a", "b", "c"]


def test_large_spools_are_committed_in_chunks(project):
    ids = [f"m{n:04d}" for n in range(300)]
    _dead_segment(project, _records(ids, per_record=10))
    result = Loader(project, chunk_bytes=4096).load()
    assert result.events_loaded == 300 and result.commits > 5
    assert _lake_ids(project) == ids


def test_the_loader_steps_aside_while_another_writer_holds_the_lake(project):
    _dead_segment(project, _records(["a"]))
    with Lake(project.lake_dir).writer_lock():
        assert Loader(project).load(wait=False).lock_busy
    assert load_spool(project, wait=False).events_loaded == 1


def test_progress_counts_every_spooled_byte(project):
    segment = _dead_segment(project, _records(["a", "b", "c"]), tail=b'{"torn')
    loader = Loader(project)
    total = loader.pending_bytes()
    assert total == segment.size()
    seen: list[int] = []
    loader.load(progress=seen.append)
    assert sum(seen) == total
