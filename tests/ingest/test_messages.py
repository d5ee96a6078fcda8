"""One Segment message: the hot-path check and the canonical row the loader makes of it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from footfall.errors import InvalidMessageError
from footfall.ingest.messages import channel_of, check_message, event_time, promote_message, to_event_row
from footfall.schema import PROMOTIONS, promote

RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("message", "channel"),
    [
        ({"context": {"channel": "pos"}, "channel": "server"}, "pos"),  # context.channel first
        ({"context": {"channel": "Store"}}, "store"),
        ({"channel": "server", "context": {"library": {"name": "analytics.js"}}}, "server"),  # RudderStack's field
        ({"channel": "mobile", "context": {"library": {"name": "analytics-android"}}}, "app"),  # not ours: library
        ({"context": {"library": {"name": "analytics.js"}}}, "web"),
        ({"context": {"library": {"name": "RudderLabs JavaScript SDK"}}}, "web"),
        ({"context": {"library": {"name": "analytics-ios"}}}, "app"),
        ({"context": {"library": {"name": "analytics-react-native"}}}, "app"),
        ({"context": {"library": {"name": "analytics-python"}}}, "server"),
        ({}, "server"),
    ],
)
def test_channel_comes_from_the_message_then_the_library(message, channel):
    assert channel_of(message) == channel


def _checked(message: dict, call: str | None, index: int | None = None) -> dict:
    """`check_message` on the message's JSON, and what it would spool, decoded."""
    return orjson.loads(check_message(orjson.dumps(message), call, index))


def test_offline_channel_makes_an_offline_event_with_its_store():
    message = _checked({"userId": "u", "event": "Coupon Redeemed", "context": {"channel": "pos"},
                        "properties": {"store_id": "S1", "coupon": "C-1"}}, "track")
    row = to_event_row(message, RECEIVED, None, "till")
    assert (row["realm"], row["channel"], row["store_id"], row["coupon_code"]) == ("offline", "pos", "S1", "C-1")


def test_skew_correction_uses_the_message_sent_at_before_the_batch_one():
    message = {"timestamp": "2026-03-01T13:00:00Z", "sentAt": "2026-03-01T13:01:00Z"}
    batch_sent = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)
    assert event_time(message, RECEIVED, batch_sent) == RECEIVED - timedelta(minutes=1)
    assert event_time({"timestamp": "2026-03-01T08:59:00Z"}, RECEIVED, batch_sent) == RECEIVED - timedelta(minutes=1)
    assert event_time({"timestamp": "2026-03-01T08:59:00"}, RECEIVED, None) == datetime(2026, 3, 1, 8, 59, tzinfo=timezone.utc)


def test_identify_traits_are_read_from_context_traits_too():
    message = _checked({"userId": "u", "context": {"traits": {"email": "a@example.com", "phone": "+44 20 7946 0000"}}},
                       "identify")
    row = to_event_row(message, RECEIVED, None, "app")
    assert (row["email"], row["phone"]) == ("a@example.com", "+44 20 7946 0000")
    assert row["traits"] == '{"email":"a@example.com","phone":"+44 20 7946 0000"}'


def test_check_drops_the_write_key_and_assigns_a_message_id():
    message = _checked({"type": "track", "userId": None, "anonymousId": "a", "event": "E", "writeKey": "secret"},
                       None, 0)
    assert "writeKey" not in message and len(message["messageId"]) == 36


def test_a_complete_message_is_spooled_byte_for_byte():
    raw = b'{"type": "track", "userId": 7, "event": "E", "messageId": "m1", "extra": {"kept": true}}'
    assert check_message(raw, None, 0) is raw


def test_null_empty_and_numeric_ids_in_the_loader():
    message = {"type": "alias", "userId": 12345, "anonymousId": None, "previousId": "", "messageId": 99}
    row = to_event_row(message, RECEIVED, None, "app")
    assert (row["user_id"], row["anonymous_id"], row["previous_id"], row["message_id"]) == ("12345", None, None, "99")


def test_check_names_the_index_of_a_batch_item():
    with pytest.raises(InvalidMessageError) as caught:
        check_message(b'{"type": "track", "userId": "u"}', None, 7)
    assert caught.value.details() == {"code": "missing_field", "message": "a track call needs an event name",
                                      "field": "event", "index": 7}


# Promotion paths grouped by column (with the name parts `promote` falls back to), so that several
# paths of one column are often set at once and their order of preference is exercised.
_PATH_GROUPS = [list(paths) for paths in PROMOTIONS.values()] + [
    [("traits", name), ("context", "traits", name)] for name in ("first_name", "last_name")]
_SCALARS = st.one_of(st.text(min_size=1, max_size=4), st.integers(-3, 3), st.floats(), st.none(), st.just(" "),
                     st.booleans())
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(["url", "id", "x"]), inner, max_size=2)), max_leaves=4)


@st.composite
def _message_objects(draw) -> dict:
    """context/properties/traits objects with values (of any JSON type) at the promotion paths."""
    objects: dict = {}
    groups = draw(st.lists(st.sampled_from(_PATH_GROUPS), min_size=1, max_size=6))
    for path in (path for group in groups for path in draw(st.lists(st.sampled_from(group), min_size=1, max_size=4))):
        node = objects
        for key in path[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[path[-1]] = draw(_VALUES)
    return objects


@settings(max_examples=400, deadline=None)
@given(_message_objects())
@example({"properties": {"total": 1, "revenue": 2}, "traits": {"first_name": "Ann"}})
def test_the_loaders_promotion_agrees_with_the_schemas(objects):
    assert promote_message(objects) == promote(objects)
