"""The routes browser SDKs call, as thin wire adapters over the one collection path.

Segment analytics.js (`/v1/projects/{key}/settings`, `/v1/t|i|p|g|a|b`, `/v1/m`), RudderStack JS v3
(`/sourceConfig/`, `/beacon/v1/batch`; its XHR calls use the `/v1/<call>` routes of
`footfall.api.tracking`) and Jitsu (`/api/s/{type}`, `/api/s/s2s/{type}`). Each maps its path to a
call type and hands the request to `collect_request`: the same key check, validation, durable spool
write and messageId dedupe as the server SDKs. What each SDK sends is in
`shared/notes/browser-sdk-wire-facts.md`; the site owner's view is docs/website.md.

`BrowserCors` answers the CORS preflights of every path and puts `Access-Control-Allow-Origin` on
every answer. A preflight carries no write key, so it is always answered; the key's allowed origins
are enforced on the request itself, which gets a readable JSON 403 (`OriginNotAllowedError`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from footfall.api.errors import json_response
from footfall.api.tracking import collect_request, request_write_key
from footfall.errors import InvalidMessageError
from footfall.ingest.collector import BATCH, CALLS, Collector, basic_auth_user
from footfall.keys import WriteKey

router = APIRouter(tags=["browser SDKs"])

# analytics.js's one-letter paths -> call types.
SEGMENT_PATHS: dict[str, str] = {"t": "track", "i": "identify", "p": "page", "g": "group", "a": "alias", "s": "screen",
                                 "b": BATCH}
PREFLIGHT_MAX_AGE_S = 600  # Chromium caps it at 7200; short enough for a changed allow-list to bite


class BrowserCors:
    """ASGI middleware: CORS for any origin at the transport level (origins are checked per key)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if origin is None:  # not a browser's cross-origin request: nothing to add
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await _answer_preflight(origin, headers.get(b"access-control-request-headers"), send)
            return

        async def send_with_origin(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"access-control-allow-origin", origin), (b"vary", b"Origin")]}
            await send(message)

        await self.app(scope, receive, send_with_origin)


async def _answer_preflight(origin: bytes, requested_headers: bytes | None, send: Send) -> None:
    """204 allowing the origin and echoing the requested headers (SDK retries add their own)."""
    headers = [(b"access-control-allow-origin", origin), (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
               (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_S).encode()), (b"vary", b"Origin"),
               (b"content-length", b"0")]
    if requested_headers:
        headers.append((b"access-control-allow-headers", requested_headers))
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


def _browser_key(request: Request, key: str | None = None) -> WriteKey:
    """The active key of a configuration request (path, Basic auth or `?writeKey=`), origin checked."""
    collector: Collector = request.app.state.collector
    key = key or basic_auth_user(request.headers.get("authorization")) or request_write_key(request)
    return collector.check_key(key, request.headers.get("origin"))


def public_base_url(request: Request) -> str:
    """Where browsers reach this server: `footfall serve --public-url`, else the URL this request used."""
    configured: str | None = getattr(request.app.state, "public_url", None)
    return (configured or str(request.base_url)).rstrip("/")


# Event routes come first and configuration last: FastAPI tries routes in order (an included router's
# twice), each miss costs a request a few microseconds (Jitsu's path, declared last, was tried ~36 times
# per request), and a page load fetches its configuration once but may send many events.


@router.post("/api/s/{event_type}", summary="Jitsu event (key in X-Write-Key)")
@router.post("/api/s/s2s/{event_type}", summary="Jitsu server-to-server event")
async def jitsu_event(request: Request, event_type: str) -> Response:
    """One Jitsu event; the answer is JSON without `destinations`, so the browser runs none."""
    if event_type not in CALLS:
        raise InvalidMessageError(f"unknown event type {event_type!r}: one of {', '.join(CALLS)}", "type")
    return await collect_request(request, event_type)


def _segment_route(letter: str, call: str) -> None:
    async def endpoint(request: Request) -> Response:
        return await collect_request(request, call)

    endpoint.__name__ = f"segment_{call}"
    router.add_api_route(f"/v1/{letter}", endpoint, methods=["POST"], summary=f"analytics.js {call}")


for _letter, _call in SEGMENT_PATHS.items():
    _segment_route(_letter, _call)


@router.post("/beacon/v1/batch", summary="RudderStack beacon batch (?writeKey=, text/plain)")
async def rudder_beacon_batch(request: Request) -> Response:
    return await collect_request(request, BATCH)


@router.get("/v1/projects/{write_key}/settings", summary="analytics.js settings for a write key")
async def segment_settings(request: Request, write_key: str) -> Response:
    """The settings analytics.js loads first: send to this server, and no metrics to Segment."""
    _browser_key(request, write_key)
    base = urlsplit(public_base_url(request))
    api_host = f"{base.netloc}{base.path}/v1"  # analytics.js wants no scheme here
    settings: dict[str, Any] = {
        "integrations": {"Segment.io": {"apiKey": write_key, "apiHost": api_host, "protocol": base.scheme,
                                        "unbundledIntegrations": [], "addBundledMetadata": True,
                                        "maybeBundledConfigIds": {}}},
        "plan": {"track": {"__default": {"enabled": True, "integrations": {}}}},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},  # else the SDK reports its own metrics to api.segment.io
        "remotePlugins": [],
    }
    return json_response(settings, 200)


@router.post("/v1/m", summary="analytics.js metrics: accepted and dropped")
async def segment_metrics() -> Response:
    """The SDK's own telemetry: answered so it does not retry, never stored."""
    return json_response({"success": True, "accepted": 0}, 200)


@router.get("/sourceConfig", include_in_schema=False)
@router.get("/sourceConfig/", summary="RudderStack source configuration for a write key")
async def rudder_source_config(request: Request) -> Response:
    """A minimal, enabled source with no destinations (the SDK only sends to the data plane)."""
    key = _browser_key(request)
    source = {"id": key.key_id, "name": key.source, "enabled": True, "config": {}, "destinations": [],
              "workspaceId": "footfall"}
    return json_response({"isHosted": False, "source": source}, 200)
