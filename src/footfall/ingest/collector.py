"""The collector: one tracking request in, its valid messages durable in the spool, a verdict out.

It does the whole job of the Segment HTTP Tracking API between the bytes received and the answer:
decompress (gzip) within the size limits, decode JSON, check the write key, check every message,
and append the accepted ones to the spool as one record, returning only once that record is fsync'd.
The HTTP layer (`footfall.api.tracking`) only reads the body and formats the result.

Batch semantics: a bad message does not sink its batch. The good ones are stored and the result lists
the rejected indexes with their reasons; only when no message is accepted is the request refused
(`BatchRejectedError`, HTTP 400), since retrying it could never succeed.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import msgspec
import orjson

from footfall.errors import (
    BatchRejectedError,
    CollectionError,
    InvalidMessageError,
    OriginNotAllowedError,
    TooLargeError,
    WriteKeyError,
)
from footfall.ingest.messages import check_message, parse_time, type_error
from footfall.ingest.spool import Spool
from footfall.keys import WriteKey, WriteKeyCache

MAX_EVENT_BYTES = 32 * 1024  # Segment: 32 KB per call
MAX_REQUEST_BYTES = 500 * 1024  # Segment: 500 KB per batch request
EVENT_LIMIT = "32 KB per event"
REQUEST_LIMIT = "500 KB per batch request"
CALLS = ("track", "identify", "page", "screen", "group", "alias")
BATCH = "batch"


@dataclass
class CollectResult:
    """What became of one request: how many messages were stored, and each rejected one's reason."""

    accepted: int
    source: str
    rejected: list[dict[str, Any]] = field(default_factory=list)


def request_too_large(size_bytes: int | None = None) -> TooLargeError:
    return TooLargeError(REQUEST_LIMIT, MAX_REQUEST_BYTES, size_bytes, code="request_too_large")


def decode_body(body: bytes, content_encoding: str | None) -> bytes:
    """The request body as sent before compression, never more than the request limit."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        data = body
    elif encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(body, MAX_REQUEST_BYTES + 1)
        except zlib.error as exc:
            raise InvalidMessageError(f"the body is not valid gzip ({exc})", "Content-Encoding",
                                      code="malformed_body") from None
        if inflater.unconsumed_tail:
            raise request_too_large()  # a bomb, or simply too much: either way over the limit
    else:
        raise InvalidMessageError(f"unsupported Content-Encoding {content_encoding!r}: send gzip or nothing",
                                  "Content-Encoding", code="unsupported_encoding")
    if len(data) > MAX_REQUEST_BYTES:
        raise request_too_large(len(data))
    return data


def basic_auth_user(authorization: str | None) -> str | None:
    """The user name of an HTTP Basic `Authorization` header (Segment puts the write key there)."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None  # e.g. a Bearer token: the key may still come in the body
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise WriteKeyError("the Authorization header is not valid HTTP Basic credentials", "Authorization") from None
    return decoded.partition(":")[0] or None


class RequestBody(msgspec.Struct):
    """The envelope of a request: a batch's messages stay raw JSON, checked one by one."""

    batch: list[msgspec.Raw] | None = None
    sentAt: str | None = None
    writeKey: str | None = None


_DECODE_BODY = msgspec.json.Decoder(RequestBody)


class Collector:
    """Checks tracking requests and makes their valid messages durable in one process's spool."""

    def __init__(self, spool: Spool, keys: WriteKeyCache) -> None:
        self.spool = spool
        self.keys = keys

    async def collect(self, call: str, body: bytes, content_encoding: str | None = None,
                      authorization: str | None = None, write_key: str | None = None,
                      origin: str | None = None) -> CollectResult:
        """Handle one request to `/v1/<call>` (`call` is a message type or "batch").

        The write key is the Basic user name, else `write_key` (an `X-Write-Key` header or a
        `?writeKey=` parameter, as browser SDKs send it), else the body's `writeKey`. `origin` is the
        browser's Origin header, checked against the key's allowed origins.
        """
        received_at = datetime.now(timezone.utc)
        header_key = basic_auth_user(authorization) or write_key or None
        if header_key is not None:
            self.check_key(header_key, origin)  # a bad key is refused before the body is looked at
        data = decode_body(body, content_encoding)
        envelope = _decode_envelope(data)
        key = self.check_key(header_key or envelope.writeKey, origin)
        if call == BATCH:
            if envelope.batch is None:
                raise InvalidMessageError("a batch request needs a 'batch' array of messages", "batch",
                                          code="missing_field")
            if envelope.sentAt is not None:
                parse_time(envelope.sentAt, "sentAt")
            parts, rejected = _check_batch(envelope.batch, compact=_has_line_breaks(data))
            if not parts:
                if not rejected:
                    return CollectResult(0, key.source)
                raise BatchRejectedError(rejected)
            sent_at = envelope.sentAt
        else:
            parts, rejected, sent_at = [_checked_bytes(data, call, None, _has_line_breaks(data))], [], None
        await self.spool.append(spool_record(received_at, key.source, sent_at, parts))
        return CollectResult(len(parts), key.source, rejected)

    def check_key(self, key: str | None, origin: str | None = None) -> WriteKey:
        """The active record of `key`, if the browser `origin` (None: not a browser) may use it."""
        record = self.keys.authenticate(key)
        if not record.allows_origin(origin):
            raise OriginNotAllowedError(origin or "", record.source)
        return record


def spool_record(received_at: datetime, source: str, sent_at: str | None,
                 messages: list[bytes | msgspec.Raw]) -> bytes:
    """One spool line: when and from which source a request's messages (already JSON) arrived.

    `{"receivedAt": ..., "source": ..., "sentAt": ..., "batch": [...]}`; the messages are spliced in
    byte for byte as checked, not encoded again.
    """
    head = orjson.dumps({"receivedAt": received_at.isoformat(timespec="microseconds"), "source": source,
                         "sentAt": sent_at})
    return head[:-1] + b',"batch":[' + b",".join(messages) + b"]}\n"


def _decode_envelope(data: bytes) -> RequestBody:
    """The request's JSON object: a batch envelope, or for single calls the message (its writeKey)."""
    try:
        return _DECODE_BODY.decode(data)
    except msgspec.ValidationError as exc:
        error = type_error(exc, None)
        if error.field is None:
            raise InvalidMessageError(f"the body must be a JSON object ({exc})", None, code="wrong_type") from None
        if error.field == "batch":
            raise InvalidMessageError(f"'batch' must be an array of messages ({exc})", "batch",
                                      code="wrong_type") from None
        raise error from None
    except msgspec.DecodeError as exc:  # after ValidationError, which is a kind of DecodeError
        raise InvalidMessageError(f"the body is not valid JSON ({exc})", None, code="malformed_json") from None


def _has_line_breaks(data: bytes) -> bool:
    """Whether pretty-printed JSON must be compacted before it can sit on one spool line."""
    return b"\n" in data or b"\r" in data


def _checked_bytes(message: bytes | msgspec.Raw, call: str | None, index: int | None,
                   compact: bool) -> bytes | msgspec.Raw:
    """One checked message as it goes to the spool, within the per-event size limit."""
    data = check_message(message, call, index, compact)
    if len(data) > MAX_EVENT_BYTES:
        raise TooLargeError(EVENT_LIMIT, MAX_EVENT_BYTES, len(data), index, code="event_too_large")
    return data


def _check_batch(messages: list[msgspec.Raw], compact: bool) -> tuple[list[bytes | msgspec.Raw], list[dict[str, Any]]]:
    parts: list[bytes | msgspec.Raw] = []
    rejected: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        try:
            parts.append(_checked_bytes(message, None, index, compact))
        except CollectionError as exc:
            rejected.append(exc.details())
    return parts, rejected
