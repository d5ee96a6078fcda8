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

import orjson

from footfall.errors import BatchRejectedError, CollectionError, InvalidMessageError, TooLargeError, WriteKeyError
from footfall.ingest.messages import check_message, parse_time
from footfall.ingest.spool import Spool
from footfall.keys import WriteKeyCache

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


class Collector:
    """Checks tracking requests and makes their valid messages durable in one process's spool."""

    def __init__(self, spool: Spool, keys: WriteKeyCache) -> None:
        self.spool = spool
        self.keys = keys

    async def collect(self, call: str, body: bytes, content_encoding: str | None = None,
                      authorization: str | None = None) -> CollectResult:
        """Handle one request to `/v1/<call>` (`call` is a message type or "batch")."""
        received_at = datetime.now(timezone.utc)
        header_key = basic_auth_user(authorization)
        if header_key is not None:
            self.keys.authenticate(header_key)  # a bad key is refused before the body is looked at
        payload = _decode_json(decode_body(body, content_encoding))
        body_key = payload.get("writeKey")
        if body_key is not None and not isinstance(body_key, str):
            raise WriteKeyError(f"'writeKey' must be a string, found {type(body_key).__name__}", "writeKey")
        key = self.keys.authenticate(header_key or body_key)
        if call == BATCH:
            messages, batch_sent_at = _batch_items(payload)
            parts, rejected = _check_batch(messages)
            if not parts:
                if not rejected:
                    return CollectResult(0, key.source)
                raise BatchRejectedError(rejected)
        else:
            batch_sent_at = None
            parts, rejected = [_checked_bytes(payload, call, None)], []
        await self.spool.append(spool_record(received_at, key.source, batch_sent_at, parts))
        return CollectResult(len(parts), key.source, rejected)


def spool_record(received_at: datetime, source: str, sent_at: str | None, messages: list[bytes]) -> bytes:
    """One spool line: when and from which source a request's messages (already JSON) arrived.

    `{"receivedAt": ..., "source": ..., "sentAt": ..., "batch": [...]}`; the messages are spliced in
    as serialised once for the size check, not encoded again.
    """
    head = orjson.dumps({"receivedAt": received_at.isoformat(timespec="microseconds"), "source": source,
                         "sentAt": sent_at})
    return head[:-1] + b',"batch":[' + b",".join(messages) + b"]}\n"


def _decode_json(data: bytes) -> dict[str, Any]:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessageError(f"the body is not valid JSON ({exc})", None, code="malformed_json") from None
    if not isinstance(payload, dict):
        raise InvalidMessageError(f"the body must be a JSON object, found {type(payload).__name__}", None,
                                  code="wrong_type")
    return payload


def _batch_items(payload: dict[str, Any]) -> tuple[list[Any], str | None]:
    messages = payload.get("batch")
    if messages is None:
        raise InvalidMessageError("a batch request needs a 'batch' array of messages", "batch", code="missing_field")
    if not isinstance(messages, list):
        raise InvalidMessageError(f"'batch' must be an array, found {type(messages).__name__}", "batch",
                                  code="wrong_type")
    sent_at = payload.get("sentAt")
    if sent_at is not None:
        parse_time(sent_at, "sentAt")
    return messages, sent_at


def _checked_bytes(message: Any, call: str | None, index: int | None) -> bytes:
    """One checked message serialised for the spool, within the per-event size limit."""
    checked = check_message(message, call, index)
    data = orjson.dumps(checked)
    if len(data) > MAX_EVENT_BYTES:
        raise TooLargeError(EVENT_LIMIT, MAX_EVENT_BYTES, len(data), index, code="event_too_large")
    return data


def _check_batch(messages: list[Any]) -> tuple[list[bytes], list[dict[str, Any]]]:
    parts: list[bytes] = []
    rejected: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        try:
            parts.append(_checked_bytes(message, None, index))
        except CollectionError as exc:
            rejected.append(exc.details())
    return parts, rejected
