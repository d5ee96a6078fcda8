"""The FastAPI application of a project: the tracking API and its browser SDK routes (POS and admin APIs later).

`create_app(project)` builds it. On start-up each server process opens its own spool segment and key
cache. The app never opens the DuckDB file, and the spool reaches the lake only through `Lake.commit`,
so the CLI can work on the same project while it runs. `footfall serve` loads the spool in a process
of its own (`footfall.ingest.loader.load_periodically`); an embedding may instead let the app load
in a thread (`loader_interval_s`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from footfall.api.browser import BrowserCors
from footfall.api.browser import router as browser_router
from footfall.api.errors import install_error_handlers
from footfall.api.profiles import router as profiles_router
from footfall.api.segments import router as segments_router
from footfall.api.tracking import OPENAPI_COMPONENTS, router
from footfall.ingest.collector import Collector
from footfall.ingest.loader import Loader, spool_directory
from footfall.ingest.spool import Spool
from footfall.keys import CACHE_SECONDS, ApiKeyCache, WriteKeyCache
from footfall.project import Project, open_project

log = logging.getLogger("footfall.api")
PROJECT_ENV = "FOOTFALL_PROJECT"
LOADER_INTERVAL_ENV = "FOOTFALL_LOADER_INTERVAL"
PUBLIC_URL_ENV = "FOOTFALL_PUBLIC_URL"


async def _load_periodically(loader: Loader, interval_s: float) -> None:
    """Move spooled events into the lake every `interval_s`; skip a round when another writer is busy."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            result = await asyncio.to_thread(loader.load, False)
        except Exception:  # a failed round is retried next time; the spool keeps the events
            log.exception("loading the spool into the lake failed; will retry")
            continue
        if result.events_loaded:
            log.info("loaded %d events into the lake (%d duplicates)", result.events_loaded, result.duplicates)


def create_app(project: Project, loader_interval_s: float | None = None,
               key_cache_s: float = CACHE_SECONDS, public_url: str | None = None) -> FastAPI:
    """The app for `project`; `loader_interval_s` loads the spool in a thread that often (None: never);
    `key_cache_s` is how long a write key check is remembered (a revocation takes that long to bite);
    `public_url` is where browsers reach the server, told to analytics.js (None: the URL they used)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        spool = Spool(spool_directory(project)).open()
        keys = WriteKeyCache(project, ttl_s=key_cache_s)
        app.state.collector = Collector(spool, keys)
        loading = None
        if loader_interval_s:
            loading = asyncio.create_task(_load_periodically(Loader(project), loader_interval_s))
        try:
            yield
        finally:
            if loading is not None:
                loading.cancel()
                with suppress(asyncio.CancelledError):
                    await loading
            await spool.close()
            keys.close()
            app.state.api_keys.close()

    app = FastAPI(
        title="Footfall",
        version="0.1.0",
        summary="Segment-compatible tracking API of a Footfall project",
        lifespan=lifespan,
    )
    app.state.public_url = public_url
    app.state.project = project
    app.state.api_keys = ApiKeyCache(project, ttl_s=key_cache_s)  # analytics API keys (footfall.api.auth)
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(browser_router)
    app.include_router(profiles_router)
    app.include_router(segments_router)
    app.add_middleware(BrowserCors)

    @app.get("/health", tags=["operations"], summary="Liveness check")
    async def health() -> dict[str, str]:
        return {"status": "ok", "project": project.settings.name}

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(OPENAPI_COMPONENTS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def tune_garbage_collector() -> None:
    """Make the cyclic garbage collector cheap for a server that decodes JSON all day.

    Decoding a batch allocates thousands of dicts and lists, which triggers collections mid-parse
    (they were a quarter of a worker's CPU), and each full collection walked every object imported
    at start-up (Arrow, Ibis, pandas). Decoded messages hold no cycles (reference counting frees
    them), so the server freezes what start-up made and collects young objects far less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def create_app_from_environment() -> FastAPI:
    """The uvicorn factory `footfall serve` starts in every worker process (settings via environment)."""
    interval = float(os.environ.get(LOADER_INTERVAL_ENV, 0))
    app = create_app(open_project(os.environ.get(PROJECT_ENV, ".")), loader_interval_s=interval,
                     public_url=os.environ.get(PUBLIC_URL_ENV) or None)
    tune_garbage_collector()
    return app
