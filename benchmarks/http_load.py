"""Driving a real HTTP server with keep-alive load, as the collection benchmarks do.

A server runs as its own process pinned to one core; an aiohttp client in another process, pinned to
the other core, keeps N connections busy with one request template for a warm-up and then a measured
window, and reports requests and events per second and latency percentiles. The server's CPU time
per request, read from /proc, turns into "events per busy core": what one core would sustain with
nothing else on it, so results stay comparable on a machine shared with other work. After a run the
loader moves what Footfall acknowledged into the lake, where every event is counted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

FOOTFALL = str(Path(sys.executable).with_name("footfall"))
SERVER_CPU, CLIENT_CPU = 0, 1
REQUEST_MARK = "@@REQ@@"  # replaced by a unique text per request, so every message id is unique

LOAD_CLIENT = """
import asyncio, json, sys, time, aiohttp
spec = json.load(open(sys.argv[1]))
connections, warmup, seconds = spec["connections"], spec["warmup_s"], spec["seconds"]
template, mark, run_id = open(spec["body_path"], "rb").read(), spec["mark"].encode(), spec["run_id"].encode()
latencies, counts = [], {"ok": 0, "ok_total": 0, "errors": 0}
async def worker(session, number, window):
    sent = 0
    while time.monotonic() < window[1]:
        body = template.replace(mark, b"%s-%03d-%07d" % (run_id, number, sent))
        sent += 1
        start = time.monotonic()
        async with session.post(spec["url"], data=body, headers=spec["headers"]) as response:
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
    print(json.dumps({"requests_per_second": counts["ok"] / seconds,
                      "events_per_second": counts["ok"] * spec["events_per_request"] / seconds,
                      "p50_ms": pick(0.50), "p99_ms": pick(0.99), "errors": counts["errors"],
                      "ok_requests_total": counts["ok_total"]}))
asyncio.run(main())
"""


@dataclass
class LoadRequest:
    """One request template: `body` holds REQUEST_MARK where each request gets its unique text."""

    path: str
    body: Path
    events_per_request: int
    headers: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pinned(cpu: int):
    """A `preexec_fn` that pins the child to `cpu` (or to the lowest core this process may use)."""
    cpus = os.sched_getaffinity(0)
    chosen = {cpu} if cpu in cpus else {min(cpus)}
    return lambda: os.sched_setaffinity(0, chosen)


def footfall_serve(project_root: Path, port: int) -> list[str]:
    """`footfall serve` as the benchmarks run it: one worker, no background loading, quiet."""
    return [FOOTFALL, "serve", "--project", str(project_root), "--loader-interval", "0", "--workers", "1",
            "--log-level", "warning", "--port", str(port)]


def start_server(command: list[str], port: int, log: Path) -> subprocess.Popen:
    """Start a server pinned to the server core; return once its /health answers."""
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=pinned(SERVER_CPU))
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


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drive(port: int, request: LoadRequest, connections: int, warmup_s: float, seconds: float, run_id: str) -> dict:
    """Run the load client against a server; returns its measurements."""
    spec = {"url": f"http://127.0.0.1:{port}{request.path}", "headers": request.headers,
            "body_path": str(request.body), "events_per_request": request.events_per_request,
            "mark": REQUEST_MARK, "connections": connections, "warmup_s": warmup_s, "seconds": seconds,
            "run_id": run_id}
    spec_path = request.body.with_name(f"load-{run_id}.json")
    spec_path.write_text(json.dumps(spec))
    completed = subprocess.run(
        [sys.executable, "-c", LOAD_CLIENT, str(spec_path)],
        capture_output=True, text=True, preexec_fn=pinned(CLIENT_CPU), timeout=seconds + warmup_s + 120,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load client failed: {completed.stderr[-2000:]}")
    return json.loads(completed.stdout)


def measure(process: subprocess.Popen, port: int, request: LoadRequest, connections: int, warmup_s: float,
            seconds: float, run_id: str) -> dict:
    """One row: the client's measurements plus the server's CPU per request and events per busy core."""
    cpu_before = cpu_seconds(process.pid)
    measured = drive(port, request, connections, warmup_s, seconds, run_id)
    requests = measured["ok_requests_total"] + measured["errors"]
    cpu_us = (cpu_seconds(process.pid) - cpu_before) / max(requests, 1) * 1e6
    per_core = request.events_per_request / (cpu_us / 1e6) if cpu_us else None
    return {"connections": connections, **measured, "server_cpu_us_per_request": cpu_us,
            "events_per_core_second": per_core,
            "acknowledged_events": measured["ok_requests_total"] * request.events_per_request}


# The columns of one measured row in a Markdown table, after the columns naming what was measured.
MEASUREMENT_HEADER = ("connections | events/s | requests/s | p50 ms | p99 ms | non-200 | server CPU µs/request | "
                      "events/s per busy core |")
MEASUREMENT_ALIGN = "---:|" * 8


def measurement_cells(row: dict) -> str:
    """A `measure` row as the Markdown cells of MEASUREMENT_HEADER."""
    return (f"{row['connections']} | {row['events_per_second']:,.0f} | {row['requests_per_second']:,.0f} | "
            f"{row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['errors']} | "
            f"{row['server_cpu_us_per_request']:,.0f} | {row['events_per_core_second'] or 0:,.0f} |")


def load_and_count(project) -> dict:
    """Load the spool into the lake (timed) and count what the lake holds: rows and distinct message ids."""
    from footfall.ingest.loader import Loader
    from footfall.lake import Lake

    start = time.perf_counter()
    loaded = Loader(project).load()
    load_seconds = time.perf_counter() - start
    stored = Lake(project.lake_dir).read("events", columns=["message_id"])["message_id"]
    return {
        "loader": {"events": loaded.events_loaded, "seconds": load_seconds,
                   "events_per_second": loaded.events_loaded / load_seconds if load_seconds else None,
                   "commits": loaded.commits},
        "stored_events": len(stored),
        "stored_unique": len(set(stored.to_pylist())),
    }
