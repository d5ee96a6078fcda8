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

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

FOOTFALL = str(Path(sys.executable).with_name("footfall"))
SERVER_CPU, CLIENT_CPU = 0, 1
EVENTS_PER_REQUEST = 100
REQUEST_MARK = "@@REQ@@"  # replaced by a unique text per request, so every message id is unique

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

LOAD_CLIENT = """
import asyncio, base64, json, sys, time, aiohttp
url, key, connections, warmup, seconds, run_id, template_path = sys.argv[1:8]
connections, warmup, seconds = int(connections), float(warmup), float(seconds)
template = open(template_path, "rb").read()
headers = {"Content-Type": "application/json",
           "Authorization": "Basic " + base64.b64encode((key + ":").encode()).decode()}
latencies, counts = [], {"ok": 0, "ok_total": 0, "errors": 0}
async def worker(session, number, window):
    sent = 0
    while time.monotonic() < window[1]:
        body = template.replace(b"@@REQ@@", b"%s-%03d-%07d" % (run_id.encode(), number, sent))
        sent += 1
        start = time.monotonic()
        async with session.post(url, data=body, headers=headers) as response:
            await response.read()
            status = response.status
        end = time.monotonic()
        counts["ok_total" if status == 200 else "errors"] += 1
        if window[0] <= end <= window[1] and status == 200:
            counts["ok"] += 1
            latencies.append(end - start)
async def main():
    now = time.monotonic()
    window = (now + warmup, now + warmup + seconds)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(worker(session, n, window) for n in range(connections)))
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
    print(json.dumps({"requests_per_second": counts["ok"] / seconds, "events_per_second": counts["ok"] * 100 / seconds,
                      "p50_ms": pick(0.50), "p99_ms": pick(0.99), "errors": counts["errors"],
                      "ok_requests_total": counts["ok_total"]}))
asyncio.run(main())
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


def _request_template(directory: Path) -> Path:
    body = {"batch": [sample_event(n) for n in range(EVENTS_PER_REQUEST)], "sentAt": "2026-03-01T10:00:01.000Z"}
    path = directory / "request-template.json"
    path.write_text(json.dumps(body, separators=(",", ":")))
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pinned(cpu: int):
    cpus = os.sched_getaffinity(0)
    chosen = {cpu} if cpu in cpus else {min(cpus)}
    return lambda: os.sched_setaffinity(0, chosen)


def _start(command: list[str], port: int, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_pinned(SERVER_CPU))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _drive(port: int, key: str, connections: int, warmup_s: float, seconds: float, run_id: str,
           template: Path) -> dict:
    """Run the load client against a server; returns its measurements."""
    completed = subprocess.run(
        [sys.executable, "-c", LOAD_CLIENT, f"http://127.0.0.1:{port}/v1/batch", key, str(connections),
         str(warmup_s), str(seconds), run_id, str(template)],
        capture_output=True, text=True, preexec_fn=_pinned(CLIENT_CPU), timeout=seconds + warmup_s + 120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load client failed: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout)


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
    from footfall.ingest.loader import Loader
    from footfall.keys import create_write_key
    from footfall.lake import Lake
    from footfall.project import init_project

    load_before = os.getloadavg()[0]
    workdir = workdir / "collect"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    project = init_project(workdir / "footfall-project")
    _, key = create_write_key(project, "bench")
    template = _request_template(workdir)
    servers = {
        "no-op endpoint (ceiling)": [sys.executable, "-c", NOOP_APP],
        "minimal durable collector": [sys.executable, "-c", MINIMAL_DURABLE_APP],
        "Footfall (footfall serve)": [FOOTFALL, "serve", "--project", str(project.root), "--loader-interval", "0",
                                      "--workers", "1", "--log-level", "warning", "--port"],
    }
    runs = []
    for name, command in servers.items():
        port = _free_port()
        args = [*command, str(port)] if name.startswith("Footfall") else [*command, str(port), str(workdir)]
        process = _start(args, port, workdir / f"server-{port}.log")
        try:
            for level in connections:
                cpu_before = _cpu_seconds(process.pid)
                measured = _drive(port, key, level, warmup_s, seconds, f"r{len(runs):02d}", template)
                requests = measured["ok_requests_total"] + measured["errors"]
                cpu_us = (_cpu_seconds(process.pid) - cpu_before) / max(requests, 1) * 1e6
                # What one fully busy core would sustain at this cost: robust to other load on the machine.
                per_core = EVENTS_PER_REQUEST / (cpu_us / 1e6) if cpu_us else None
                runs.append({"server": name, "connections": level, **measured,
                             "server_cpu_us_per_request": cpu_us, "events_per_core_second": per_core})
        finally:
            _stop(process)
    footfall_accepted = sum(r["ok_requests_total"] * EVENTS_PER_REQUEST for r in runs if r["server"].startswith("Footfall"))
    start = time.perf_counter()
    loaded = Loader(project).load()
    load_seconds = time.perf_counter() - start
    stored = Lake(project.lake_dir).read("events", columns=["message_id"])["message_id"]
    return {
        "seconds": seconds,
        "warmup_s": warmup_s,
        "request_bytes": template.stat().st_size,
        "fsync_ms": _fsync_latency_ms(workdir),
        "runs": runs,
        "loader": {
            "events": loaded.events_loaded,
            "seconds": load_seconds,
            "events_per_second": loaded.events_loaded / load_seconds if load_seconds else None,
            "commits": loaded.commits,
        },
        "load_average": (load_before, os.getloadavg()[0]),
        "acknowledged_events": footfall_accepted,
        "stored_events": len(stored),
        "stored_unique": len(set(stored.to_pylist())),
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
        "| server | connections | events/s | requests/s | p50 ms | p99 ms | non-200 | server CPU µs/request | events/s per busy core |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["runs"]:
        lines.append(f"| {r['server']} | {r['connections']} | {r['events_per_second']:,.0f} | "
                     f"{r['requests_per_second']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | "
                     f"{r['server_cpu_us_per_request']:,.0f} | {r['events_per_core_second'] or 0:,.0f} |")
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
