"""One Segment message: checked on the hot path, then turned into a canonical `events` row by the loader.

Two steps, because they run in different places:

- `check_message` runs inside the HTTP request, before the 200. It only does what must be answered
  to the client (required fields, types, parseable timestamps). It decodes the message's top-level
  fields with msgspec into `SegmentFields` and leaves `context`, `properties` and `traits` as raw
  JSON (only checked to be objects), so the nested objects are never built as Python dicts on the hot
  path; the message is spooled byte for byte as received, rewritten only to add its `type` (single
  calls), a `messageId` (so that re-loading the spool is idempotent) or to drop a `writeKey`.
- `to_event_row` runs in the loader. It treats `null` and "" ids as absent and numeric ids as text,
  applies Segment's clock-skew correction, picks realm and channel, reads identify traits from
  `context.traits` too, and promotes the typed columns with the same rules as the file importer
  (`footfall.schema.PROMOTIONS`, compiled in `promote_message`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import msgspec
import orjson

from footfall.errors import InvalidMessageError
from footfall.schema import CHANNELS, EVENT_TYPES, PROMOTIONS, realm_of_channel
from footfall.schema.promotion import _CONVERTERS

# Time fields a client may send; each must parse as ISO 8601 when present.
_TIME_FIELDS = ("timestamp", "sentAt", "originalTimestamp")
# Fields each type of call must carry (beyond userId or anonymousId), with the problem if missing.
_REQUIRED: dict[str, tuple[tuple[str, str], ...]] = {
    "track": (("event", "a track call needs an event name"),),
    "alias": (("previousId", "an alias call needs the previousId being merged"),),
    "group": (("groupId", "a group call needs a groupId"),),
}
# Segment field -> events column, for the plain string fields.
_ID_COLUMNS = {"userId": "user_id", "anonymousId": "anonymous_id", "previousId": "previous_id", "groupId": "group_id"}

# The channel an event gets when neither `context.channel` nor `channel` names a Footfall channel:
# decided by the sending library (`context.library.name`), first keyword found wins, else "server".
LIBRARY_CHANNELS: tuple[tuple[str, str], ...] = (
    ("analytics.js", "web"),
    ("analytics-next", "web"),
    ("javascript", "web"),
    ("browser", "web"),
    ("jitsu", "web"),  # @jitsu/js
    ("ios", "app"),
    ("android", "app"),
    ("react-native", "app"),
    ("flutter", "app"),
    ("swift", "app"),
    ("kotlin", "app"),
    ("unity", "app"),
    ("xamarin", "app"),
)
DEFAULT_CHANNEL = "server"
# Where an offline event names its store.
_STORE_PATHS: tuple[tuple[str, ...], ...] = (("properties", "store_id"), ("properties", "storeId"), ("context", "store", "id"))


def parse_time(value: Any, field: str, index: int | None = None) -> datetime:
    """An ISO-8601 text as an aware UTC datetime (no offset = UTC); `InvalidMessageError` otherwise."""
    if not isinstance(value, str):
        raise InvalidMessageError(f"'{field}' must be an ISO-8601 text, found {type(value).__name__}",
                                  field, index, code="invalid_timestamp")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMessageError(f"'{field}' is not an ISO-8601 timestamp: {value[:40]!r}", field, index,
                                  code="invalid_timestamp") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


_NULL = msgspec.Raw(b"null")
_OBJECT_FIELDS = ("context", "properties", "traits", "integrations")
_OPEN_BRACE = ord("{")


class SegmentFields(msgspec.Struct):
    """The top-level fields of a Segment message that the hot path checks (others pass through).

    Ids may be text or numbers; `context`, `properties`, `traits` and `integrations` stay raw JSON.
    """

    type: str | None = None
    userId: str | int | None = None
    anonymousId: str | int | None = None
    previousId: str | int | None = None
    groupId: str | int | None = None
    messageId: str | int | None = None
    event: str | None = None
    name: str | None = None
    channel: str | None = None
    timestamp: str | None = None
    sentAt: str | None = None
    originalTimestamp: str | None = None
    context: msgspec.Raw = _NULL
    properties: msgspec.Raw = _NULL
    traits: msgspec.Raw = _NULL
    integrations: msgspec.Raw = _NULL
    writeKey: msgspec.Raw = _NULL


_DECODE_FIELDS = msgspec.json.Decoder(SegmentFields)
_AT_FIELD = re.compile(r"^(?P<problem>.*?)(?: - at `\$\.?(?P<field>[^`]*)`)?$")


def type_error(error: msgspec.ValidationError, index: int | None) -> InvalidMessageError:
    """msgspec's "Expected `str`, got `int` - at `$.userId`" as an error naming the field."""
    found = _AT_FIELD.match(str(error))
    problem, field = (found["problem"], found["field"] or None) if found else (str(error), None)
    if field is None:
        return InvalidMessageError(f"a message must be a JSON object ({problem})", None, index, code="wrong_type")
    code = "invalid_timestamp" if field in _TIME_FIELDS else "wrong_type"
    return InvalidMessageError(f"'{field}': {problem}", field, index, code=code)


def _present(value: str | int | None) -> bool:
    return value is not None and value != ""


def check_message(raw: bytes | msgspec.Raw, call: str | None, index: int | None = None,
                  compact: bool = False) -> bytes | msgspec.Raw:
    """Check one message (its JSON bytes) sent to `/v1/<call>` (`call` None: a batch item, read its `type`).

    Returns the bytes to spool: the message as received, or rewritten when it needs a `type`, a
    `messageId`, to lose a `writeKey`, or (`compact`) to lose line breaks between its tokens, which
    would split a spool line. Raises `InvalidMessageError` naming the field and, in a batch, the index.
    """
    try:
        fields = _DECODE_FIELDS.decode(raw)
    except msgspec.ValidationError as exc:
        raise type_error(exc, index) from None
    kind = fields.type
    if call is not None:
        if kind is not None and kind != call:
            raise InvalidMessageError(f"'type' is {kind!r} but the message was sent to /v1/{call}", "type", index)
        kind = call
    elif kind is None:
        raise InvalidMessageError(f"'type' is missing: one of {', '.join(EVENT_TYPES)}", "type", index,
                                  code="missing_field")
    elif kind not in EVENT_TYPES:
        raise InvalidMessageError(f"'type' must be one of {', '.join(EVENT_TYPES)} (found {kind!r})", "type",
                                  index)
    if not _present(fields.userId) and not _present(fields.anonymousId):
        raise InvalidMessageError("every message needs a userId or an anonymousId", "userId", index,
                                  code="missing_field")
    for field, problem in _REQUIRED.get(kind, ()):
        if not _present(getattr(fields, field)):
            raise InvalidMessageError(problem, field, index, code="missing_field")
    for field in _OBJECT_FIELDS:
        value = getattr(fields, field)
        if value is not _NULL and memoryview(value)[0] != _OPEN_BRACE and bytes(value) != b"null":
            raise InvalidMessageError(f"'{field}' must be a JSON object", field, index, code="wrong_type")
    for field in _TIME_FIELDS:
        value = getattr(fields, field)
        if value is not None:
            parse_time(value, field, index)
    if fields.type == kind and _present(fields.messageId) and fields.writeKey is _NULL and not compact:
        return raw  # the common case: spooled exactly as received
    message = orjson.loads(bytes(raw))
    message["type"] = kind
    message.pop("writeKey", None)  # a secret: never stored
    if not _present(fields.messageId):
        message["messageId"] = str(uuid.uuid4())
    return orjson.dumps(message)


# -- the loader's side: one checked message -> one canonical events row -----------------------------
# `footfall.schema.promote`'s rules (PROMOTIONS: the first path whose value converts wins; the same
# converters), indexed by the keys a message actually has: the generic version walks every path of
# every column and checks `Mapping` on each step, which made it 90% of the loader's time. A test
# checks that both agree on arbitrary messages.
_PATHS_BY_KEY: dict[str, dict[str, list[tuple[str, int, tuple[str, ...]]]]] = {}
for _column, _paths in PROMOTIONS.items():
    for _rank, _path in enumerate(_paths):
        _PATHS_BY_KEY.setdefault(_path[0], {}).setdefault(_path[1], []).append((_column, _rank, _path[2:]))


def promote_message(objects: dict[str, Any]) -> dict[str, Any]:
    """Typed column values from a message's `context`, `properties` and `traits` (as `promote`)."""
    best: dict[str, tuple[int, Any]] = {}
    for source, by_key in _PATHS_BY_KEY.items():
        found = objects.get(source)
        if type(found) is not dict:
            continue
        for key, value in found.items():
            candidates = by_key.get(key)
            if candidates is None or value is None:
                continue
            for column, rank, rest in candidates:
                if column in best and best[column][0] < rank:
                    continue
                node = value
                for step in rest:
                    node = node.get(step) if type(node) is dict else None
                if node is not None and (converted := _CONVERTERS[column](node)) is not None:
                    best[column] = (rank, converted)
    promoted = {column: value for column, (_, value) in best.items()}
    if "name" not in promoted:
        traits = objects.get("traits") or _dig(objects, ("context", "traits")) or {}
        if type(traits) is dict:
            parts = [_CONVERTERS["name"](traits.get("first_name")), _CONVERTERS["name"](traits.get("last_name"))]
            full = " ".join(p for p in parts if p)
            if full:
                promoted["name"] = full
    return promoted


def _dig(node: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(node, dict):  # decoded JSON: dicts only (and far cheaper than `Mapping`)
            return None
        node = node.get(key)
    return node


def channel_of(message: Mapping[str, Any]) -> str:
    """`context.channel`, else the message's `channel`, when a Footfall channel; else by library."""
    context = message.get("context") or {}
    for candidate in (context.get("channel"), message.get("channel")):
        if isinstance(candidate, str) and candidate.lower() in CHANNELS:
            return candidate.lower()
    library = _dig(context, ("library", "name"))
    if isinstance(library, str):
        library = library.lower()
        for keyword, channel in LIBRARY_CHANNELS:
            if keyword in library:
                return channel
    return DEFAULT_CHANNEL


def event_time(message: Mapping[str, Any], received_at: datetime, batch_sent_at: datetime | None) -> datetime:
    """Segment's clock-skew correction: timestamp + (receivedAt - sentAt) when the client sent sentAt.

    Without a timestamp the event happened when it was received.
    """
    raw = message.get("timestamp") or message.get("originalTimestamp")
    if raw is None:
        return received_at
    timestamp = parse_time(raw, "timestamp")
    sent = message.get("sentAt")
    sent_at = parse_time(sent, "sentAt") if sent is not None else batch_sent_at
    return timestamp if sent_at is None else timestamp + (received_at - sent_at)


def _json_text(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def to_event_row(message: Mapping[str, Any], received_at: datetime, batch_sent_at: datetime | None,
                 source: str) -> dict[str, Any]:
    """The canonical `events` row of a checked message (column name -> value)."""
    kind = message["type"]
    context = dict(message.get("context") or {})
    properties = message.get("properties")
    traits = message.get("traits")
    if kind == "identify" and traits is None:
        traits = context.get("traits")  # RudderStack sends identify traits in context.traits
    timestamp = event_time(message, received_at, batch_sent_at)
    original = message.get("timestamp") or message.get("originalTimestamp")
    if original is not None:
        context["originalTimestamp"] = original  # the client's own clock, before skew correction
    sent = message.get("sentAt")
    sent_at = parse_time(sent, "sentAt") if sent is not None else batch_sent_at
    channel = channel_of(message)
    store_id = next((str(v) for p in _STORE_PATHS if (v := _dig(message, p)) not in (None, "")), None)
    # A group call's traits describe the group (company name, ...), not the person: not promoted.
    person_traits = {} if kind == "group" else traits or {}
    row = promote_message({"context": context, "properties": properties or {}, "traits": person_traits})
    row.update(
        message_id=str(message["messageId"]),
        type=kind,
        # track: the event name; page and screen: the page or screen name
        event=message.get("event") if kind == "track" else message.get("name"),
        timestamp=timestamp,
        sent_at=sent_at,
        received_at=received_at,
        context=_json_text(context) if context else None,
        properties=_json_text(properties),
        traits=_json_text(traits),
        realm=realm_of_channel(channel),
        channel=channel,
        store_id=store_id,
        source=source,
    )
    for field, column in _ID_COLUMNS.items():
        value = message.get(field)  # null and "" are absent; numbers are ids too, as text
        row[column] = None if value is None or value == "" else str(value)
    return row
