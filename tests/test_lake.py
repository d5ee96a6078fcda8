"""The lake's commits are all-or-nothing even when the writer is killed half-way."""

from __future__ import annotations

import pyarrow as pa

from footfall.lake import COMMIT_MARKER, STAGING, Lake
from footfall.schema import EVENTS


def _events(ids: list[str], day: int) -> pa.Table:
    n = len(ids)
    columns = {f.name: pa.nulls(n, f.type) for f in EVENTS}
    columns.update(
        message_id=pa.array(ids), type=pa.array(["track"] * n), event=pa.array(["X"] * n),
        anonymous_id=pa.array(["a"] * n), realm=pa.array(["online"] * n), channel=pa.array(["web"] * n),
        source=pa.array(["test"] * n),
        timestamp=pa.array([1767225600_000000 + day * 86400_000000] * n, pa.timestamp("us", tz="UTC")),
    )
    return pa.table(columns)


def _interrupted_commit(lake: Lake, table: pa.Table, marked: bool) -> None:
    """Stage a batch the way `commit` does, then 'crash' before the renames."""
    staging = lake.root / STAGING / "batch1"
    relative = "events/2026-01/batch1.parquet"
    (staging / "events/2026-01").mkdir(parents=True)
    import pyarrow.parquet as pq

    pq.write_table(table.cast(EVENTS), staging / relative)
    if marked:
        (staging / COMMIT_MARKER).write_text(relative)


def test_commit_writes_one_file_per_month(tmp_path):
    lake = Lake(tmp_path)
    lake.commit({"events": pa.concat_tables([_events(["a", "b"], 1), _events(["c"], 40), _events(["d"], 2)])})
    assert [p.parent.name for p in lake.files("events")] == ["2026-01", "2026-02"]
    assert lake.read("events").num_rows == 4
    assert not (tmp_path / STAGING).exists() or not any((tmp_path / STAGING).iterdir())


def test_recover_rolls_a_committed_batch_forward(tmp_path):
    lake = Lake(tmp_path)
    _interrupted_commit(lake, _events(["a", "b"], 1), marked=True)
    assert lake.read("events").num_rows == 0
    lake.recover()
    assert lake.read("events").num_rows == 2


def test_recover_discards_an_uncommitted_batch(tmp_path):
    lake = Lake(tmp_path)
    _interrupted_commit(lake, _events(["a", "b"], 1), marked=False)
    lake.recover()
    assert lake.read("events").num_rows == 0
    assert not any((tmp_path / STAGING).iterdir())


def test_recover_leaves_a_live_writers_batch_alone(tmp_path):
    lake, other = Lake(tmp_path), Lake(tmp_path)
    with lake.writer_lock():
        _interrupted_commit(lake, _events(["a"], 1), marked=False)
        other.recover()  # another process opening the project while we write
        assert (tmp_path / STAGING / "batch1").exists()
