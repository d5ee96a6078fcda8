"""The spool: group commit, one locked segment per writer, whole lines only, failures never acknowledged."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from footfall.errors import SpoolFullError, SpoolUnavailableError
from footfall.ingest.spool import Segment, Spool, segments


def _record(n: int, size: int = 100) -> bytes:
    text = f'{{"n":{n},"pad":"'
    return (text + "x" * (size - len(text) - 3) + '"}\n').encode()


def test_concurrent_appends_share_one_fsync(tmp_path):
    async def scenario() -> Spool:
        spool = Spool(tmp_path).open()
        await asyncio.gather(*(spool.append(_record(n)) for n in range(50)))
        await spool.close()
        return spool

    spool = asyncio.run(scenario())
    # All 50 requests arrived before the first round started, so one write + fdatasync served them all.
    assert (spool.records, spool.syncs) == (50, 1)
    assert spool.path.read_bytes() == b"".join(_record(n) for n in range(50))


def test_append_returns_once_the_record_is_in_the_file(tmp_path):
    async def scenario() -> list[int]:
        spool = Spool(tmp_path).open()
        sizes = []
        for n in range(3):
            await spool.append(_record(n))
            sizes.append(spool.path.stat().st_size)
        await spool.close()
        return sizes

    assert asyncio.run(scenario()) == [100, 200, 300]


def test_each_writer_has_its_own_locked_segment(tmp_path):
    async def scenario() -> None:
        first, second = Spool(tmp_path).open(), Spool(tmp_path).open()
        await asyncio.gather(first.append(_record(1)), second.append(_record(2)))
        assert first.path != second.path
        assert Segment(first.path).is_live() and Segment(second.path).is_live()
        await first.close()
        assert not Segment(first.path).is_live() and Segment(second.path).is_live()
        await second.close()

    asyncio.run(scenario())
    assert [s.path.read_bytes() for s in segments(tmp_path)] in ([_record(1), _record(2)], [_record(2), _record(1)])


def test_a_full_segment_is_released_and_a_new_one_started(tmp_path):
    async def scenario() -> None:
        spool = Spool(tmp_path, max_segment_bytes=250).open()
        for n in range(7):
            await spool.append(_record(n))
        await spool.close()

    asyncio.run(scenario())
    found = list(segments(tmp_path))
    assert [s.size() for s in found] == [300, 300, 100]
    assert b"".join(s.path.read_bytes() for s in found) == b"".join(_record(n) for n in range(7))


def test_readers_take_whole_lines_only(tmp_path):
    path = tmp_path / "20260101T000000000000-1-abc.ndjson"
    path.write_bytes(_record(0) + _record(1) + b'{"n":2,"pa')  # the writer died mid-record
    lines, end = Segment(path).read_lines(0, 1 << 20)
    assert (len(lines), end) == (2, 200)
    lines, end = Segment(path).read_lines(0, 150)  # stops at a line boundary within the budget
    assert (len(lines), end) == (1, 100)
    assert Segment(path).read_lines(200, 1 << 20) == ([], 200)


def test_too_much_unflushed_data_is_refused_with_retry(tmp_path):
    async def scenario() -> list:
        spool = Spool(tmp_path, max_pending_bytes=350).open()
        results = await asyncio.gather(*(spool.append(_record(n)) for n in range(5)), return_exceptions=True)
        await spool.close()
        return results

    results = asyncio.run(scenario())
    assert results[:3] == [None, None, None]
    assert all(isinstance(r, SpoolFullError) for r in results[3:])


def test_a_closed_spool_acknowledges_nothing(tmp_path):
    async def scenario() -> None:
        spool = Spool(tmp_path).open()
        await spool.close()
        with pytest.raises(SpoolUnavailableError):
            await spool.append(_record(0))

    asyncio.run(scenario())


def test_a_failed_write_is_not_acknowledged_and_leaves_no_torn_line(tmp_path):
    # A real write failure: the file size limit (RLIMIT_FSIZE) of a child process, hit mid-record.
    script = textwrap.dedent(f"""
        import asyncio, resource, signal, sys
        from footfall.errors import SpoolUnavailableError
        from footfall.ingest.spool import Spool
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        async def main():
            spool = Spool({str(tmp_path)!r}).open()
            resource.setrlimit(resource.RLIMIT_FSIZE, (250, 250))
            outcomes = []
            for n in range(4):
                try:
                    await spool.append(b'{{"n":' + str(n).encode() + b',"pad":"' + b"x" * 83 + b'"}}\\n')
                    outcomes.append("ok")
                except SpoolUnavailableError:
                    outcomes.append("refused")
            print(",".join(outcomes), spool.path.stat().st_size)
        asyncio.run(main())
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.split() == ["ok,ok,refused,refused", "200"]
