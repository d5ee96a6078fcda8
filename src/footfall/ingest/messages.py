"""One Segment message: checked on the hot path, then turned into a canonical `events` row by the loader.

Two steps, because they run in different places:

- `check_message` runs inside the HTTP request, before the 200. It only does what must be answered
  to the client (required fields, types, parseable timestamps) and leaves the message as received,
  with `null` ids removed, numeric ids as text and a `messageId` assigned when the client sent none
  (so that re-loading the spool is idempotent).
- `to_event_row` runs in the loader. It applies Segment's clock-skew correction, picks realm and
  channel, reads identify traits from `context.traits` too, and promotes the typed columns with the
  same rules as the file importer (`footfall.schema.PROMOTIONS`, compiled in `promote_message`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import orjson

from footfall.errors import InvalidMessageError
from footfall.schema import CHANNELS, EVENT_TYPES, PROMOTIONS, realm_of_channel
from footfall.schema.promotion import _CONVERTERS

# The type each optional field must have when present (null counts as absent).
_FIELD_TYPES: tuple[tuple[str, type], ...] = (
    ("event", str), ("name", str), ("channel", str), ("previousId", str), ("groupId", str),
    ("context", dict), ("properties", dict), ("traits", dict), ("integrations", dict),
)
# Ids: text, or numbers taken as text; null and "" are absent. A message needs one of the person ids.
_ID_FIELDS = ("userId", "anonymousId", "previousId", "groupId")
_PERSON_ID_FIELDS = ("userId", "anonymousId")
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


def _id_text(message: dict[str, Any], field: str, index: int | None) -> str | None:
    """An id as text: `null` and "" are absent, numbers become text, anything else is a wrong type."""
    value = message.get(field)
    if value is None:
        message.pop(field, None)
        return None
    if isinstance(value, str):
        if value:
            return value
        del message[field]
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        message[field] = str(value)
        return message[field]
    raise InvalidMessageError(f"'{field}' must be a string, found {type(value).__name__}", field, index,
                              code="wrong_type")


def check_message(message: Any, call: str | None, index: int | None = None) -> dict[str, Any]:
    """Check one message for the call it was sent to (`call` None: a batch item, read its `type`).

    Returns the message to spool (the same dict, lightly cleaned); raises `InvalidMessageError`
    naming the field and, in a batch, the index.
    """
    if not isinstance(message, dict):
        raise InvalidMessageError(f"a message must be a JSON object, found {type(message).__name__}", None, index,
                                  code="wrong_type")
    kind = message.get("type")
    if call is not None:
        if kind is not None and kind != call:
            raise InvalidMessageError(f"'type' is {kind!r} but the message was sent to /v1/{call}", "type", index)
        message["type"] = kind = call
    elif not isinstance(kind, str) or kind not in EVENT_TYPES:
        found = "missing" if kind is None else repr(kind)
        raise InvalidMessageError(f"'type' must be one of {', '.join(EVENT_TYPES)} ({found})", "type", index,
                                  code="missing_field" if kind is None else "invalid_field")
    message.pop("writeKey", None)  # a secret: never stored
    identified = False
    for field in _ID_FIELDS:
        value = message.get(field)
        if value is None:  # absent: the common case for most of them
            if field in message:
                del message[field]  # an explicit null (both SDKs send them)
            continue
        if type(value) is not str or not value:
            value = _id_text(message, field, index)
        if value is not None and field in _PERSON_ID_FIELDS:
            identified = True
    if not identified:
        raise InvalidMessageError("every message needs a userId or an anonymousId", "userId", index,
                                  code="missing_field")
    for field, problem in _REQUIRED.get(kind, ()):
        value = message.get(field)
        if value is None or value == "":
            raise InvalidMessageError(problem, field, index, code="missing_field")
    for field, expected in _FIELD_TYPES:
        value = message.get(field)
        if value is not None and type(value) is not expected:
            what = "a JSON object" if expected is dict else "a string"
            raise InvalidMessageError(f"'{field}' must be {what}, found {type(value).__name__}", field, index,
                                      code="wrong_type")
    for field in _TIME_FIELDS:
        if message.get(field) is not None:
            parse_time(message[field], field, index)
    message_id = message.get("messageId")
    if message_id is None or message_id == "":
        message["messageId"] = str(uuid.uuid4())
    elif not isinstance(message_id, str):
        if isinstance(message_id, int) and not isinstance(message_id, bool):
            message["messageId"] = str(message_id)
        else:
            raise InvalidMessageError(f"'messageId' must be a string, found {type(message_id).__name__}",
                                      "messageId", index, code="wrong_type")
    return message


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
        message_id=message["messageId"],
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
        row[column] = message.get(field)
    return row
