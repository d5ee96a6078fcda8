"""Collection: events/s that one `footfall serve` worker accepts durably, beside two references.

Three servers, each one uvicorn worker pinned to one core, receive `POST /v1/batch` requests of 100
realistic events (~38 KB) from an aiohttp client pinned to the other core, over N keep-alive
connections on 127.0.0.1, for a bounded time:

- **Footfall**: the full job (write-key check, gzip-capable body read, every message checked,
  re-serialised, appended to the spool and fsync'd by group commit before the 200).
- **no-op** (the ceiling): the same framework and server, a route that reads the body and answers 200.
- **minimal durable**: the same framework, orjson decode, the required-field checks, NDJSON append
  with group-commit fdatasync — the least a durable collector can do.

All three run the same uvicorn (uvloop, httptools, no access log) with the same garbage-collector
settings (`footfall.api.app.tune_garbage_collector`). Then the loader moves everything Footfall acknowledged into the lake, timed (events/s), and the lake
is checked to hold every acknowledged event exactly once.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
import time
from pathlib import Path

from benchmarks.http_load import (
    MEASUREMENT_ALIGN,
    MEASUREMENT_HEADER,
    REQUEST_MARK,
    LoadRequest,
    footfall_serve,
    free_port,
    load_and_count,
    measure,
    measurement_cells,
    start_server,
    stop_server,
)

EVENTS_PER_REQUEST = 100

NOOP_APP = """
import gc, sys, uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response
app = FastAPI()
@app.get("/health")
async def health():
    return {"status": "ok"}
@app.post("/v1/batch")
async def batch(request: Request):
    await request.body()
    return Response(b'{"success":true}', media_type="application/json")
gc.collect(); gc.freeze(); gc.set_threshold(50_000, 20, 100)  # as footfall serve does
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
"""

MINIMAL_DURABLE_APP = """
import asyncio, gc, os, sys, orjson, uvicorn
from concurrent.futures import ThreadPoolExecutor
from fastapi import FastAPI, Request
from fastapi.responses import Response
app = FastAPI()
fd = os.open(os.path.join(sys.argv[2], "minimal.ndjson"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
writer = ThreadPoolExecutor(1)
state = {"pending": [], "waiters": [], "flushing": False}
def write(data):
    os.write(fd, data)
    os.fdatasync(fd)
async def flush():
    loop = asyncio.get_running_loop()
    while state["pending"]:
        data, waiters = b"".join(state["pending"]), state["waiters"]
        state["pending"], state["waiters"] = [], []
        await loop.run_in_executor(writer, write, data)
        for waiter in waiters:
            waiter.set_result(None)
    state["flushing"] = False
def invalid(field):
    return Response(orjson.dumps({"code": "invalid", "message": field}), status_code=400)
@app.get("/health")
async def health():
    return {"status": "ok"}
@app.post("/v1/batch")
async def batch(request: Request):
    body = orjson.loads(await request.body())
    lines = []
    for message in body["batch"]:
        if not (message.get("userId") or message.get("anonymousId")):
            return invalid("userId")
        if message.get("type") not in ("track", "identify", "page", "screen", "group", "alias"):
            return invalid("type")
        if message["type"] == "track" and not message.get("event"):
            return invalid("event")
        lines.append(orjson.dumps(message))
    done = asyncio.get_running_loop().create_future()
    state["pending"].append(b"\\n".join(lines) + b"\\n")
    state["waiters"].append(done)
    if not state["flushing"]:
        state["flushing"] = True
        asyncio.get_running_loop().create_task(flush())
    await done
    return Response(b'{"success":true}', media_type="application/json")
gc.collect(); gc.freeze(); gc.set_threshold(50_000, 20, 100)  # as footfall serve does
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
"""

def sample_event(n: int) -> dict:
    """A product view from a website, as analytics.js would send it (~380 bytes of JSON)."""
    return {
        "type": "track", "event": "Product Viewed", "messageId": f"{REQUEST_MARK}-{n:03d}",
        "anonymousId": "5b1f0e4c-93a8-4f3e-9a51-7c0b2f6a1d2e", "timestamp": "2026-03-01T10:00:00.000Z",
        "properties": {"sku": f"SKU-{1000 + n}", "category": "shoes", "price": 89.99},
        "context": {"library": {"name": "analytics.js"},
                    "page": {"path": f"/p/sku-{1000 + n}", "referrer": "https://search.example/"},
                    "userAgent": "Mozilla/5.0 Chrome/126.0"},
    }


def batch_request(directory: Path, key: str) -> LoadRequest:
    """`POST /v1/batch` of 100 events with the key in Basic auth, as a server SDK sends it."""
    body = {"batch": [sample_event(n) for n in range(EVENTS_PER_REQUEST)], "sentAt": "2026-03-01T10:00:01.000Z"}
    path = directory / "request-template.json"
    path.write_text(json.dumps(body, separators=(",", ":")))
    basic = base64.b64encode(f"{key}:".encode()).decode()
    return LoadRequest("/v1/batch", path, EVENTS_PER_REQUEST,
                       {"Content-Type": "application/json", "Authorization": f"Basic {basic}"})


def _fsync_latency_ms(directory: Path, appends: int = 200) -> float:
    """Median time of one 38 KB append + fdatasync on this disk (what bounds a lone request)."""
    path = directory / "fsync-probe.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    block = b"x" * 38_000
    timings = []
    try:
        for _ in range(appends):
            start = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            timings.append(time.perf_counter() - start)
    finally:
        os.close(fd)
        path.unlink()
    return sorted(timings)[len(timings) // 2] * 1000


def run(workdir: Path, seconds: float = 5.0, warmup_s: float = 1.0, connections: tuple[int, ...] = (1, 8, 32)) -> dict:
    from footfall.keys import create_write_key
    from footfall.project import init_project

    load_before = os.getloadavg()[0]
    workdir = workdir / "collect"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    project = init_project(workdir / "footfall-project")
    _, key = create_write_key(project, "bench")
    request = batch_request(workdir, key)
    servers = {
        "no-op endpoint (ceiling)": [sys.executable, "-c", NOOP_APP],
        "minimal durable collector": [sys.executable, "-c", MINIMAL_DURABLE_APP],
        "Footfall (footfall serve)": None,
    }
    runs = []
    for name, command in servers.items():
        port = free_port()
        args = footfall_serve(project.root, port) if command is None else [*command, str(port), str(workdir)]
        process = start_server(args, port, workdir / f"server-{port}.log")
        try:
            for level in connections:
                row = measure(process, port, request, level, warmup_s, seconds, f"r{len(runs):02d}")
                runs.append({"server": name, **row})
        finally:
            stop_server(process)
    return {
        "seconds": seconds,
        "warmup_s": warmup_s,
        "request_bytes": request.body.stat().st_size,
        "fsync_ms": _fsync_latency_ms(workdir),
        "runs": runs,
        **load_and_count(project),
        "load_average": (load_before, os.getloadavg()[0]),
        "acknowledged_events": sum(r["acknowledged_events"] for r in runs if r["server"].startswith("Footfall")),
    }


def report(result: dict) -> str:
    lines = [
        "## Collect: durable events/s of one worker (batches of 100 events)",
        "",
        f"`POST /v1/batch` with {EVENTS_PER_REQUEST} events ({result['request_bytes'] / 1000:.0f} KB) per request, keep-alive "
        f"connections from an aiohttp client on 127.0.0.1; server pinned to one core, client to the other; "
        f"{result['seconds']:g} s measured after {result['warmup_s']:g} s warm-up per row. "
        f"One 38 KB append + fdatasync on this disk takes {result['fsync_ms']:.2f} ms (median). "
        f"Machine load average before/after: {result['load_average'][0]:.1f}/{result['load_average'][1]:.1f} "
        "(other work on the 2 cores lowers every row alike).",
        "",
        f"| server | {MEASUREMENT_HEADER}",
        f"|---|{MEASUREMENT_ALIGN}",
    ]
    for r in result["runs"]:
        lines.append(f"| {r['server']} | {measurement_cells(r)}")
    loader = result["loader"]
    rate = f"{loader['events_per_second']:,.0f}" if loader["events_per_second"] else "n/a"
    lines += [
        "",
        f"**Loader**: {loader['events']:,} spooled events into the lake in {loader['seconds']:.1f} s "
        f"(**{rate} events/s**, {loader['commits']} commits; parse, normalise, promote, dedupe, Parquet, fsync).",
        f"Every acknowledged event landed exactly once: {result['acknowledged_events']:,} acknowledged, "
        f"{result['stored_events']:,} stored, {result['stored_unique']:,} distinct message ids.",
        "",
        "Footfall does the whole job in the request (write key, every message checked, serialised, fsync'd to the "
        "spool by group commit before the 200); the minimal durable collector only decodes, checks the required "
        "fields and appends with group commit; the no-op endpoint reads the body and answers. "
        "\"events/s per busy core\" divides 100 events by the server's CPU time per request (read from /proc): "
        "what one core would sustain if nothing else ran on it, so it stays comparable on a shared machine.",
    ]
    return "\n".join(lines)


def as_json(result: dict) -> str:
    return json.dumps(result, indent=2, default=str)


def section(workdir: Path, customers: int) -> str:
    """The BENCHMARKS.md section (world size does not matter here; `customers` is unused).

    FOOTFALL_BENCH_COLLECT_SECONDS (default 5) bounds each measured row;
    FOOTFALL_BENCH_COLLECT_CONNECTIONS (default 1,8,32) lists the concurrency levels.
    """
    seconds = float(os.environ.get("FOOTFALL_BENCH_COLLECT_SECONDS", "5"))
    levels = tuple(int(n) for n in os.environ.get("FOOTFALL_BENCH_COLLECT_CONNECTIONS", "1,8,32").split(","))
    result = run(workdir, seconds=seconds, connections=levels)
    (workdir / "collect.json").write_text(as_json(result))
    return report(result)
