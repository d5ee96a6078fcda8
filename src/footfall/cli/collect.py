"""Collection commands: `footfall serve`, `footfall keys create | list | revoke`, `footfall load`, `footfall events tail`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from footfall.cli import ProjectOption, app, console, progress_bar

keys_app = typer.Typer(help="Write keys for the tracking API (one per source: a website, an app, a POS) "
                       "and scoped API keys for the analytics API (create-api, list-api, revoke-api).",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    project: ProjectOption = Path("."),
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes; each has its own spool segment.")] = 1,
    loader_interval: Annotated[float, typer.Option(
        min=0, help="Seconds between background loads of the spool into the lake (0: only `footfall load`).")] = 10.0,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    public_url: Annotated[str | None, typer.Option(
        help="URL browsers reach this server at (e.g. https://collect.shop.example), told to analytics.js "
             "in its settings; default: the URL each browser used.")] = None,
) -> None:
    """Run the Segment-compatible tracking API (OpenAPI docs at /docs). The CLI keeps working meanwhile."""
    import uvicorn

    from footfall.api.app import LOADER_INTERVAL_ENV, PROJECT_ENV, PUBLIC_URL_ENV
    from footfall.project import open_project

    opened = open_project(project)  # fail here, with a clear message, rather than in every worker
    os.environ[PROJECT_ENV] = str(opened.root)
    os.environ[LOADER_INTERVAL_ENV] = "0"  # workers only answer requests; one loader process loads
    if public_url:
        os.environ[PUBLIC_URL_ENV] = public_url.rstrip("/")
    loading = f"loading into the lake every {loader_interval:g} s" if loader_interval else "background loading off"
    console.print(f"Footfall collecting for [bold]{opened.settings.name}[/] at http://{host}:{port}/v1/ "
                  f"(docs: http://{host}:{port}/docs); {workers} worker(s), {loading}.")
    loading = _start_loader(opened.root, loader_interval) if loader_interval else None
    try:
        uvicorn.run("footfall.api.app:create_app_from_environment", factory=True, host=host, port=port,
                    workers=workers, access_log=False, log_level=log_level, timeout_graceful_shutdown=10)
    finally:
        if loading is not None:
            loading.terminate()  # safe at any point: commits are atomic, checkpoints follow them
            loading.join(timeout=30)


def _start_loader(root: Path, interval_s: float):
    """The background loader, in its own process so it never slows the workers answering requests."""
    import multiprocessing

    from footfall.ingest.loader import load_periodically

    process = multiprocessing.get_context("spawn").Process(
        target=load_periodically, args=(str(root), interval_s, os.getpid()), name="footfall-loader", daemon=True)
    process.start()
    return process


@app.command()
def load(project: ProjectOption = Path(".")) -> None:
    """Load the events the collector has spooled into the lake now (exactly once; safe while serving)."""
    from footfall.ingest.loader import Loader
    from footfall.project import open_project

    loader = Loader(open_project(project))
    with progress_bar() as progress:
        task = progress.add_task("loading spooled events (bytes)", total=loader.pending_bytes())
        result = loader.load(progress=lambda n: progress.advance(task, n))
    console.print(f"Loaded {result.events_loaded:,} events and {result.order_lines_loaded:,} order lines "
                  f"({result.duplicates:,} duplicates dropped) in {result.commits} commit(s).")
    if result.quarantined:
        console.print(f"[yellow]{result.quarantined} unreadable record(s) kept in spool/quarantine/[/]")


@keys_app.command("create")
def keys_create(
    source: Annotated[str, typer.Option(help="Source name recorded on this key's events, e.g. web-shop.")],
    allow_origin: Annotated[list[str] | None, typer.Option(
        help="A website origin allowed to send with this key from a browser, e.g. https://shop.example "
             "(repeat for several; none: any origin).")] = None,
    project: ProjectOption = Path("."),
) -> None:
    """Create a write key. It is printed once: only its hash is stored."""
    from footfall.keys import create_write_key
    from footfall.project import open_project

    record, key = create_write_key(open_project(project), source, allow_origin or ())
    console.print(f"Created write key {record.key_id} for source [bold]{record.source}[/].")
    if record.allowed_origins:
        console.print(f"Browsers may send with it only from: {', '.join(record.allowed_origins)}")
    console.print("Key (shown only now; store it in your tracking client's configuration):")
    console.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list")
def keys_list(project: ProjectOption = Path(".")) -> None:
    """List write keys (ids, sources, first characters, revocation); never the keys themselves."""
    from footfall.keys import list_write_keys
    from footfall.project import open_project

    table = Table(title="Write keys")
    for column in ("key id", "source", "starts with", "created (UTC)", "status"):
        table.add_column(column)
    for record in list_write_keys(open_project(project)):
        status = "active" if record.active else f"revoked {record.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(record.key_id, record.source, f"{record.key_prefix}…", f"{record.created_at:%Y-%m-%d %H:%M}",
                      status)
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id shown by `footfall keys list`.")],
    project: ProjectOption = Path("."),
) -> None:
    """Revoke a write key: requests with it get 401 (within seconds on a running server)."""
    from footfall.keys import revoke_write_key
    from footfall.project import open_project

    record = revoke_write_key(open_project(project), key_id)
    console.print(f"Revoked write key {record.key_id} (source {record.source}).")


events_app = typer.Typer(help="Collected events.", no_args_is_help=True)
app.add_typer(events_app, name="events")


@events_app.command("tail")
def events_tail(
    source: Annotated[str | None, typer.Option(help="Only events sent with this source's write keys, e.g. web.")] = None,
    project: ProjectOption = Path("."),
    from_start: Annotated[bool, typer.Option(help="Also print the events still waiting in the spool.")] = False,
    limit: Annotated[int, typer.Option(min=0, help="Stop after this many events (0: until Ctrl-C).")] = 0,
    timeout: Annotated[float, typer.Option(min=0, help="Stop after this many seconds (0: until Ctrl-C).")] = 0,
) -> None:
    """Print events as the server accepts them (a live view: check that a website's events arrive)."""
    import time

    from footfall.ingest.tail import describe, follow_spool
    from footfall.project import open_project

    deadline = time.monotonic() + timeout if timeout else None
    printed = 0
    try:
        for event in follow_spool(open_project(project), source, from_start,
                                  keep_going=lambda: deadline is None or time.monotonic() < deadline):
            print(describe(event), flush=True)
            printed += 1
            if limit and printed >= limit:
                break
    except KeyboardInterrupt:
        pass
