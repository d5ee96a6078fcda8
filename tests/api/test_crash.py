"""A collector killed mid-stream loses nothing it acknowledged and stores nothing twice.

The real Segment client streams batches to `footfall serve`; the server is SIGKILLed while requests are
in flight and started again on the same port; the client retries what failed. Every message id that
got a 200 (read off the client's own HTTP session) must be in the lake exactly once after loading.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import segment.analytics as segment
import segment.analytics.request as segment_request

from footfall.ingest.loader import load_spool
from footfall.keys import create_write_key
from footfall.lake import Lake
from tests.api.server import Server

EVENTS = 3000
KILL_AFTER_ACKED = 600


def test_every_acknowledged_message_is_stored_exactly_once_after_a_kill(project):
    _, key = create_write_key(project, "crash-test")
    server = Server(project.root).start()  # background loader off: the kill lands between spool and lake
    acknowledged: list[str] = []
    guard = threading.Lock()

    def record_acknowledgement(response, *args, **kwargs):
        if response.status_code == 200:
            ids = [m["messageId"] for m in orjson.loads(response.request.body)["batch"]]
            with guard:
                acknowledged.extend(ids)

    hooks = segment_request._session.hooks["response"]
    hooks.append(record_acknowledgement)
    failures: list[Exception] = []
    try:
        client = segment.Client(key, host=server.url, upload_size=20, upload_interval=0.01,
                                max_queue_size=EVENTS, on_error=lambda error, batch: failures.append(error))
        for n in range(EVENTS):
            client.track(f"user-{n % 97}", "Product Viewed", {"sku": f"SKU-{n % 13}", "n": n}, message_id=f"m-{n:05d}")
        deadline = time.monotonic() + 60
        while len(acknowledged) < KILL_AFTER_ACKED and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()
        acknowledged_before_kill = len(acknowledged)
        server = Server(project.root, port=server.port).start()  # the client retries against it
        client.flush()
        client.join()
    finally:
        hooks.remove(record_acknowledgement)
        server.stop()

    assert KILL_AFTER_ACKED <= acknowledged_before_kill < EVENTS  # the kill came mid-stream
    assert len(set(acknowledged)) > acknowledged_before_kill  # and the stream went on after the restart
    result = load_spool(project)
    stored = Counter(Lake(project.lake_dir).read("events")["message_id"].to_pylist())
    assert [m for m in set(acknowledged) if stored[m] != 1] == []
    assert max(stored.values()) == 1
    assert result.segments_finished >= 1  # the killed process's segment was loaded and removed
    assert load_spool(project).events_read == 0
    if not failures:  # the client gave up on nothing, so everything it sent is there
        assert len(stored) == EVENTS


def test_several_workers_spool_to_their_own_segments(project):
    _, key = create_write_key(project, "workers")
    server = Server(project.root, workers=2).start()
    try:
        client = segment.Client(key, host=server.url, upload_size=10, upload_interval=0.01)
        for n in range(200):
            client.track("u1", "Product Viewed", {"n": n}, message_id=f"w-{n:03d}")
        client.flush()
        client.join()
        deadline = time.monotonic() + 30
        while len(list((project.root / "spool").glob("*.ndjson"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # the second worker may still be starting
        assert len(list((project.root / "spool").glob("*.ndjson"))) == 2
    finally:
        server.stop()
    assert load_spool(project).events_loaded == 200
    assert list((project.root / "spool").glob("*.ndjson")) == []


def _live_children(pid: int) -> list[int]:
    """Processes whose parent is `pid` and that have not exited (zombies count as exited)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, IndexError):
            continue
        if int(parent) == pid and state != "Z":
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_the_loader_process_does_not_outlive_a_killed_server(project):
    server = Server(project.root, loader_interval_s=0.2).start()
    try:
        children = _live_children(server.process.pid)
        assert children  # the loader (and multiprocessing's resource tracker)
    finally:
        server.kill()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in children)
