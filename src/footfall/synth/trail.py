"""A person's trail: the Segment messages, receipts and true visits one synthetic person leaves behind.

Behaviour is planned first (`Trail.at` puts an action on the person's agenda) and acted out in time
order (`Trail.live`), so that state such as "this browser has logged in" follows the clock.
Each message fills the promoted typed columns exactly as `footfall.schema.promotion.promote` would from
its JSON objects; the generic `promote` is too slow for millions of messages, so the same `PROMOTIONS`
table is compiled here into key lookups (tests check the two agree on every message of a world).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from footfall.schema import PROMOTIONS, realm_of_channel
from footfall.synth.catalogue import Product
from footfall.synth.people import Person
from footfall.synth.setting import SECOND_US, Setting

SOURCE = "synth"
_NAME_FALLBACK_RANK = 99  # promote() builds `name` from first/last name only when no path had one
# version 4 and RFC 4122 variant bits of a UUID, as uuid.UUID(int=..., version=4) sets them
_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)
_to_json = json.JSONEncoder(separators=(",", ":")).encode  # compact; one encoder (json.dumps builds one a call)

# How long a client holds a message before sending it (seconds), by channel; app pings are batched.
_SEND_DELAY_S: dict[str, tuple[float, float]] = {
    "web": (0.05, 2.0),
    "app": (0.2, 15.0),
    "email": (0.5, 30.0),
    "kiosk": (0.1, 3.0),
    "store": (0.2, 5.0),
    "event": (0.2, 5.0),
    "locker": (0.5, 10.0),
}
_BATCHED_DELAY_S = (1.0, 120.0)


def _compile(source: str) -> dict[str, list[tuple[str, int, tuple[str, ...]]]]:
    """Promotion paths that start at `source`, grouped by their first key: key -> [(column, rank, rest)]."""
    paths: dict[str, list[tuple[str, int, tuple[str, ...]]]] = {}
    for column, candidates in PROMOTIONS.items():
        for rank, path in enumerate(candidates):
            if path[0] == source:
                paths.setdefault(path[1], []).append((column, rank, path[2:]))
    return paths


_PATHS = {source: _compile(source) for source in ("context", "traits", "properties")}
# properties are flat: key -> [(column, rank)]
_PROPERTY_KEYS = {key: [(column, rank) for column, rank, _ in found] for key, found in _PATHS["properties"].items()}


def _lookup(node: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


@dataclass(frozen=True)
class Blob:
    """A context or traits object serialised once, with the (rank, value) of each column it promotes."""

    text: str
    promoted: dict[str, tuple[int, Any]]

    @classmethod
    def of(cls, source: str, value: dict[str, Any]) -> Blob:
        promoted: dict[str, tuple[int, Any]] = {}
        for first, paths in _PATHS[source].items():
            node = value.get(first)
            if node is None:
                continue
            for column, rank, rest in paths:
                found = _lookup(node, rest)
                if found is not None and (column not in promoted or rank < promoted[column][0]):
                    promoted[column] = (rank, found)
        traits = value if source == "traits" else value.get("traits")
        if "name" not in promoted and isinstance(traits, Mapping):
            full = " ".join(str(traits[k]) for k in ("first_name", "last_name") if traits.get(k))
            if full:
                promoted["name"] = (_NAME_FALLBACK_RANK, full)
        return cls(_to_json(value), promoted)


def _promote(properties: Mapping[str, Any] | None, *blobs: Blob | None) -> dict[str, Any]:
    best: dict[str, tuple[int, Any]] = {}
    if properties:
        for key, value in properties.items():
            if value is None:
                continue
            for column, rank in _PROPERTY_KEYS.get(key, ()):
                if column not in best or rank < best[column][0]:
                    best[column] = (rank, value)
    for blob in blobs:
        if blob is not None:
            for column, ranked in blob.promoted.items():
                if column not in best or ranked[0] < best[column][0]:
                    best[column] = ranked
    return {column: value for column, (_, value) in best.items()}


class Trail:
    """Everything one person leaves behind, and the agenda of actions that produces it."""

    def __init__(self, setting: Setting, person: Person) -> None:
        self.setting = setting
        self.person = person
        self.rng = random.Random(f"{setting.seed}:life:{person.index}")
        self.events: list[dict[str, Any]] = []
        self.receipts: list[dict[str, Any]] = []  # receipt lines
        self.receipt_ids: list[tuple[str, str]] = []  # (receipt_id, message_id)
        self.visits: list[dict[str, Any]] = []
        self.identifiers: dict[tuple[str, str], bool] = {}  # (type, normalised value) -> shared
        self.busy_days: set[int] = set()  # days with a store visit (one visit a day at most)
        self.interests: list[Product] = []  # what this person looks at online (see behaviour.plan_life)
        self.kiosk_signed_up = False
        self._agenda: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self._blobs: dict[Any, Blob] = {}
        self.know("email", person.email)
        self.know("phone", person.phone)
        if person.household_email:
            self.know("email", person.household_email, shared=True)

    # -- planning -------------------------------------------------------------------------------
    def at(self, ts_us: int, action: Callable[..., None], *args: Any) -> None:
        """Put `action(trail, ts_us, *args)` on the agenda."""
        self._agenda.append((int(ts_us), len(self._agenda), action, args))

    def live(self) -> None:
        """Act out the agenda in time order (actions may add more actions; they run in turn)."""
        done = 0
        while done < len(self._agenda):
            pending = sorted(self._agenda[done:])
            del self._agenda[done:]
            for ts_us, _, action, args in pending:
                action(self, ts_us, *args)
            done += len(pending)

    # -- identities -----------------------------------------------------------------------------
    def know(self, kind: str, value: str, shared: bool = False) -> None:
        """Record in the truth that this person used an identifier (shared: others use it too)."""
        self.identifiers[(kind, value)] = shared or self.identifiers.get((kind, value), False)

    def new_id(self) -> str:
        """A random (version 4) UUID drawn from the person's stream, so reruns give the same ids."""
        bits = self.rng.getrandbits(128) & _UUID_CLEAR | _UUID_SET
        text = f"{bits:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

    def blob(self, key: Any, source: str, build: Callable[[], dict[str, Any]]) -> Blob:
        """A context/traits Blob built once per key (a device's context, the person's traits)."""
        cached = self._blobs.get(key)
        if cached is None:
            cached = self._blobs[key] = Blob.of(source, build())
        return cached

    # -- messages -------------------------------------------------------------------------------
    def emit(
        self,
        ts_us: int,
        channel: str,
        *,
        type: str = "track",
        event: str | None = None,
        anonymous_id: str | None = None,
        user_id: str | None = None,
        previous_id: str | None = None,
        context: Blob | None = None,
        properties: dict[str, Any] | None = None,
        traits: Blob | None = None,
        store_id: str | None = None,
        realm: str | None = None,
        batched: bool = False,
    ) -> str:
        """Append one Segment message to the trail and return its message id."""
        rng = self.rng
        low, high = _BATCHED_DELAY_S if batched else _SEND_DELAY_S.get(channel, (0.1, 2.0))
        sent_us = ts_us + int(rng.uniform(low, high) * SECOND_US)
        message_id = self.new_id()
        row = _promote(properties, context, traits)
        row.update(
            message_id=message_id,
            type=type,
            event=event,
            anonymous_id=anonymous_id,
            user_id=user_id,
            previous_id=previous_id,
            timestamp=ts_us,
            sent_at=sent_us,
            received_at=sent_us + int(rng.uniform(0.02, 0.6) * SECOND_US),
            context=context.text if context else None,
            properties=_to_json(properties) if properties is not None else None,
            traits=traits.text if traits else None,
            realm=realm or realm_of_channel(channel),
            channel=channel,
            store_id=store_id,
            source=SOURCE,
        )
        self.events.append(row)
        for kind in ("anonymous_id", "user_id", "device_id", "loyalty_id", "card_token"):
            value = row.get(kind)
            if value is not None:
                self.know(kind, value)
        return message_id
