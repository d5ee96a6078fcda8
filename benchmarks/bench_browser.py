"""Browser SDK paths: events/s one `footfall serve` worker accepts when every request carries one event.

A website sends one event per request (analytics.js `POST /v1/t`, RudderStack `POST /v1/track`, Jitsu
`POST /api/s/track`), so these paths, not `/v1/batch`, meet a shop's peak traffic. The same server
(one worker pinned to one core, no background loading) takes each SDK's request from an aiohttp
client on the other core over N keep-alive connections, then `/v1/batch` with 100 events per request
(the collect benchmark's request) for the ratio. The requests are the ones the SDKs sent from Chromium
(`browser_requests.json`: headers and body captured from the real-browser test page, the write key
and message id turned into placeholders, the page moved to https://shop.example): Origin set, key in
Basic auth and in the body for analytics.js, Basic auth for RudderStack, `X-Write-Key` for Jitsu. A
browser's CORS preflight is cached for 10 minutes (`Access-Control-Max-Age`), so steady traffic is
these POSTs alone.

Beside them, a no-op endpoint on the same framework and server answers the same analytics.js request:
the ceiling for one request per event. Afterwards the loader moves everything Footfall acknowledged
into the lake, and the lake is checked to hold each acknowledged event exactly once.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sys
from pathlib import Path

from benchmarks.bench_collect import NOOP_APP, batch_request
from benchmarks.http_load import (
    MEASUREMENT_ALIGN,
    MEASUREMENT_HEADER,
    LoadRequest,
    footfall_serve,
    free_port,
    load_and_count,
    measure,
    measurement_cells,
    start_server,
    stop_server,
)

CAPTURED_REQUESTS = Path(__file__).with_name("browser_requests.json")
SHOP_ORIGIN = "https://shop.example"  # the Origin of the captured requests; the key allows only it
BATCH = "batch"
NOOP = "no-op"


def browser_requests(directory: Path, key: str) -> dict[str, LoadRequest]:
    """The captured SDK requests (by SDK name: segment, rudder, jitsu) with `key` filled in."""
    basic = base64.b64encode(f"{key}:".encode()).decode()
    requests = {}
    for name, captured in json.loads(CAPTURED_REQUESTS.read_text(encoding="utf-8")).items():
        body = json.dumps(captured["body"], ensure_ascii=False, separators=(",", ":")).replace("@@KEY@@", key)
        path = directory / f"{name}-request.json"
        path.write_text(body, encoding="utf-8")
        headers = {header: value.replace("@@KEY@@", key).replace("@@BASIC@@", basic)
                   for header, value in captured["headers"].items()}
        requests[name] = LoadRequest(captured["path"], path, 1, headers)
    return requests


def sdk_names() -> dict[str, str]:
    """Display name of each captured SDK."""
    return {name: captured["sdk"] for name, captured in json.loads(CAPTURED_REQUESTS.read_text(encoding="utf-8")).items()}


def run(workdir: Path, seconds: float = 5.0, warmup_s: float = 1.0, connections: tuple[int, ...] = (8, 32)) -> dict:
    from footfall.keys import create_write_key
    from footfall.project import init_project

    load_before = os.getloadavg()[0]
    workdir = workdir / "browser"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    project = init_project(workdir / "footfall-project")
    _, key = create_write_key(project, "web", [SHOP_ORIGIN])
    requests = {**browser_requests(workdir, key), BATCH: batch_request(workdir, key)}
    runs = []
    port = free_port()
    process = start_server(footfall_serve(project.root, port), port, workdir / "footfall-serve.log")
    try:
        for name, request in requests.items():
            for level in connections:
                row = measure(process, port, request, level, warmup_s, seconds, f"r{len(runs):02d}")
                runs.append({"server": "footfall", "request": name, "path": request.path, **row})
    finally:
        stop_server(process)
    port = free_port()
    process = start_server([sys.executable, "-c", NOOP_APP, str(port)], port, workdir / "noop.log")
    try:
        ceiling = LoadRequest("/v1/batch", requests["segment"].body, 1, requests["segment"].headers)
        for level in connections:
            row = measure(process, port, ceiling, level, warmup_s, seconds, f"n{level:02d}")
            runs.append({"server": NOOP, "request": "segment", "path": "/v1/t", **row})
    finally:
        stop_server(process)
    return {
        "seconds": seconds,
        "warmup_s": warmup_s,
        "request_bytes": {name: request.body.stat().st_size for name, request in requests.items()},
        "runs": runs,
        **load_and_count(project),
        "load_average": (load_before, os.getloadavg()[0]),
        "acknowledged_events": sum(r["acknowledged_events"] for r in runs if r["server"] == "footfall"),
    }


def _ratio(numerator: float | None, denominator: float | None) -> str:
    return f"{numerator / denominator:.3f}" if numerator and denominator else "n/a"


def _cost_share(runs: list[dict]) -> str:
    """The range of server CPU per single-event request as a share of a batch request's, same connections."""
    batch = {r["connections"]: r["server_cpu_us_per_request"] for r in runs if r["request"] == BATCH}
    shares = [r["server_cpu_us_per_request"] / batch[r["connections"]] for r in runs
              if r["server"] == "footfall" and r["request"] != BATCH and batch.get(r["connections"])]
    return f"{min(shares):.0%}–{max(shares):.0%}" if shares else "n/a"


def report(result: dict) -> str:
    names = {**sdk_names(), BATCH: "server SDK batch (100 events)"}
    sizes = result["request_bytes"]
    lines = [
        "## Browser SDK paths: one event per request, beside /v1/batch",
        "",
        "One `footfall serve` worker pinned to one core; an aiohttp client on the other core keeps N keep-alive "
        "connections on 127.0.0.1 busy with each browser SDK's request as Chromium sent it (Origin, its headers, "
        f"its body: {', '.join(f'{names[n]} {sizes[n] / 1000:.1f} KB' for n in sizes if n != BATCH)}), then with "
        f"`/v1/batch` of 100 events ({sizes[BATCH] / 1000:.0f} KB) on the same server. "
        f"{result['seconds']:g} s measured after {result['warmup_s']:g} s warm-up per row. "
        f"Machine load average before/after: {result['load_average'][0]:.1f}/{result['load_average'][1]:.1f} "
        "(the 2 cores are shared with other work, so \"events/s per busy core\" is the figure to compare).",
        "",
        f"| request | path | {MEASUREMENT_HEADER}",
        f"|---|---|{MEASUREMENT_ALIGN}",
    ]
    for r in result["runs"]:
        name = names[r["request"]] if r["server"] == "footfall" else f"no-op endpoint, {names[r['request']]} request (ceiling)"
        lines.append(f"| {name} | `{r['path']}` | {measurement_cells(r)}")
    footfall = {(r["request"], r["connections"]): r for r in result["runs"] if r["server"] == "footfall"}
    levels = sorted({level for _, level in footfall})
    lines += ["", "Single-event path ÷ `/v1/batch` (events/s measured; events/s per busy core):", "",
              "| request | " + " | ".join(f"{level} connections" for level in levels) + " |",
              "|---|" + "---:|" * len(levels)]
    for name in names:
        if name == BATCH:
            continue
        cells = []
        for level in levels:
            single, batch = footfall[(name, level)], footfall[(BATCH, level)]
            cells.append(f"{_ratio(single['events_per_second'], batch['events_per_second'])}; "
                         f"{_ratio(single['events_per_core_second'], batch['events_per_core_second'])}")
        lines.append(f"| {names[name]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Every acknowledged event landed exactly once: {result['acknowledged_events']:,} acknowledged, "
        f"{result['stored_events']:,} stored, {result['stored_unique']:,} distinct message ids "
        f"(loaded at {result['loader']['events_per_second'] or 0:,.0f} events/s).",
        "",
        f"Most of a request's cost does not depend on how many events it carries (HTTP parsing, routing, the key "
        f"check, a share of a group-committed fdatasync): a one-event request costs the server "
        f"{_cost_share(result['runs'])} of a 100-event batch request, so the single-event paths are bounded by "
        "requests per second, and the no-op rows (the same request, its body read and a 200 sent) show what "
        "the server and framework alone allow for such a request.",
    ]
    return "\n".join(lines)


def section(workdir: Path, customers: int) -> str:
    """The BENCHMARKS.md section (`customers` is unused).

    FOOTFALL_BENCH_BROWSER_SECONDS (default 5) bounds each measured row;
    FOOTFALL_BENCH_BROWSER_CONNECTIONS (default 8,32) lists the concurrency levels.
    """
    seconds = float(os.environ.get("FOOTFALL_BENCH_BROWSER_SECONDS", "5"))
    levels = tuple(int(n) for n in os.environ.get("FOOTFALL_BENCH_BROWSER_CONNECTIONS", "8,32").split(","))
    result = run(workdir, seconds=seconds, connections=levels)
    (workdir / "browser.json").write_text(json.dumps(result, indent=2, default=str))
    return report(result)
