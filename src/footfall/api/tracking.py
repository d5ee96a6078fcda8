"""The Segment-compatible tracking routes: `/v1/track`, `identify`, `page`, `screen`, `group`, `alias`,
`batch` and `import` (a batch). Each reads the body within the size limit, hands it to the collector
(`footfall.ingest.collector`) and formats its verdict; nothing else happens here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from footfall.api.errors import json_response
from footfall.api.models import MESSAGE_MODELS, Accepted, ErrorBody, request_body
from footfall.ingest.collector import BATCH, CALLS, MAX_REQUEST_BYTES, Collector, request_too_large

router = APIRouter(prefix="/v1", tags=["tracking"])
# Schemas referenced by the request bodies; merged into the OpenAPI components by the app.
OPENAPI_COMPONENTS: dict[str, Any] = {}

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "malformed JSON, a missing or wrong field, or no message of a batch accepted"},
    401: {"model": ErrorBody, "description": "missing, unknown or revoked write key"},
    413: {"model": ErrorBody, "description": "over 500 KB per request or 32 KB per event"},
    429: {"model": ErrorBody, "description": "overloaded: retry after the Retry-After header's seconds"},
    503: {"model": ErrorBody, "description": "the spool could not make the events durable: retry"},
}


async def read_body(request: Request) -> bytes:
    """The raw request body, refusing to read past the request size limit."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        raise request_too_large(int(declared))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            raise request_too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def request_write_key(request: Request) -> str | None:
    """A write key sent outside Basic auth and the body: `X-Write-Key` (Jitsu) or `?writeKey=` (beacons)."""
    return request.headers.get("x-write-key") or request.query_params.get("writeKey")


async def collect_request(request: Request, call: str) -> Response:
    """The one way every route (server and browser SDKs alike) hands a request to the collector."""
    collector: Collector = request.app.state.collector
    body = await read_body(request)
    result = await collector.collect(call, body, request.headers.get("content-encoding"),
                                     request.headers.get("authorization"), request_write_key(request),
                                     request.headers.get("origin"))
    content: dict[str, Any] = {"success": True, "accepted": result.accepted}
    if result.rejected:
        content["rejected"] = result.rejected
    return json_response(content, 200)


def _route(call: str, path: str, summary: str) -> None:
    model = MESSAGE_MODELS[call]

    async def endpoint(request: Request) -> Response:
        return await collect_request(request, call)

    endpoint.__name__ = f"collect_{path}"
    handler: Callable[[Request], Awaitable[Response]] = endpoint
    router.add_api_route(
        f"/{path}", handler, methods=["POST"], summary=summary, response_model=Accepted,
        responses=_ERRORS, openapi_extra={"requestBody": request_body(model, OPENAPI_COMPONENTS)},
        description=(
            "Answered 200 only once the accepted messages are fsync'd to the collector's spool. "
            "Write key: HTTP Basic user name (empty password) or `writeKey` in the body. "
            "`Content-Encoding: gzip` is accepted."
        ),
    )


for _call in CALLS:
    _route(_call, _call, f"Record one {_call} call")
_route(BATCH, "batch", "Record a batch of messages of any type")
_route(BATCH, "import", "Record a batch of (historical) messages; the same as /v1/batch")
