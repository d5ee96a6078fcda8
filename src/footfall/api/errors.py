"""The one place where Footfall errors become HTTP responses.

Every error body is JSON with `code` and `message` (RudderStack's SDK needs both to tell a client
error from a network failure; without them it retries even a 400), plus the field, batch index or
limit at fault. Statuses are chosen for what the official SDKs do next: 4xx other than 429 are not
retried (the request can never succeed); 429 and 503 are retried with backoff.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from footfall.errors import (
    AlreadyExistsError,
    ApiAccessError,
    ApiKeyError,
    BatchRejectedError,
    CollectionError,
    FootfallError,
    InvalidDefinitionError,
    InvalidMessageError,
    MissingScopeError,
    NotFoundError,
    OriginNotAllowedError,
    ReadOnlyError,
    SpoolFullError,
    SpoolUnavailableError,
    TooLargeError,
    WarehouseBusyError,
    WriteKeyError,
)

log = logging.getLogger("footfall.api")

# Most specific class first.
STATUS_BY_ERROR: tuple[tuple[type[FootfallError], int], ...] = (
    (TooLargeError, 413),
    (BatchRejectedError, 400),
    (InvalidMessageError, 400),
    (WriteKeyError, 401),
    (ApiKeyError, 401),
    (MissingScopeError, 403),
    (OriginNotAllowedError, 403),
    (SpoolFullError, 429),
    (SpoolUnavailableError, 503),
    (CollectionError, 400),
    (NotFoundError, 404),
    (AlreadyExistsError, 409),
    (ReadOnlyError, 403),
    (InvalidDefinitionError, 422),
    (WarehouseBusyError, 503),
    (FootfallError, 400),
)


def status_of(error: FootfallError) -> int:
    return next(status for kind, status in STATUS_BY_ERROR if isinstance(error, kind))


def json_response(body: dict, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_response(error: FootfallError) -> Response:
    """The HTTP response for a Footfall error."""
    if isinstance(error, (CollectionError, ApiAccessError, InvalidDefinitionError)):
        body = error.details()
    else:
        code = {404: "not_found", 409: "already_exists", 403: "read_only", 503: "busy"}.get(status_of(error), "invalid_request")
        body = {"code": code, "message": str(error)}
    busy = isinstance(error, (SpoolFullError, WarehouseBusyError))
    headers = {"Retry-After": str(error.retry_after_s)} if busy else None
    if isinstance(error, WriteKeyError):
        headers = {"WWW-Authenticate": 'Basic realm="footfall"'}
    if isinstance(error, ApiKeyError):
        headers = {"WWW-Authenticate": 'Bearer realm="footfall"'}
    return json_response(body, status_of(error), headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the translations on `app`: Footfall errors, HTTP errors and unexpected ones."""

    async def footfall_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, FootfallError)
        return error_response(error)

    async def http_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return json_response({"code": code, "message": str(error.detail)}, error.status_code, error.headers)

    async def validation_error(_request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0] if error.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return json_response({"code": "invalid_field", "message": first.get("msg", "invalid request"),
                              "field": field}, 400)

    async def unexpected_error(_request: Request, error: Exception) -> Response:
        log.exception("unexpected error while handling a request", exc_info=error)
        # 500: both SDKs retry it, and the events were not acknowledged, so nothing is lost.
        return json_response({"code": "internal_error", "message": "unexpected server error; retry later"}, 500)

    app.add_exception_handler(FootfallError, footfall_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
