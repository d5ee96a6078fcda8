"""Keys of Footfall's APIs: write keys (tracking, one per source) and API keys (analytics, with scopes).

Both kinds are created once, stored only as a hash, revocable, and share every line of that code; they
differ only in what they allow. A write key only sends events (anyone can read it from a website); an
API key reads or changes customer data, so it carries scopes (`segments:read`, `profiles:read`, ...)
and is sent as `Authorization: Bearer ...` to the analytics API (`footfall.api.auth`).

A key is a mark ("ffw_" for write keys, "ffa_" for API keys) and 32 random bytes (URL-safe text), shown once at creation. The operational store keeps its
SHA-256: a key that random cannot be guessed from its hash, and a plain hash (unlike a slow password
hash) can be checked on every request. The server looks keys up through `WriteKeyCache` and
`ApiKeyCache`, which keep answers (also "unknown") for a few seconds, so a revoked key stops working
within that time.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import ColumnElement, Engine, Row, insert, or_, select, update

from footfall.errors import ApiKeyError, FootfallError, WriteKeyError
from footfall.opstore import operational_engine, write_keys
from footfall.project import Project

KEY_PREFIX_CHARS = 10  # "ffw_" and 6 random characters, shown by `footfall keys list` so a person can tell keys apart
CACHE_SECONDS = 10.0
KEY_MARK = "ffw_"  # makes keys recognisable (to people and to secret scanners)
API_KEY_MARK = "ffa_"
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
WRITE, API = "write", "api"  # the `kind` column
# What an API key may do on the analytics API; each route requires one (footfall.api.auth.require_scope).
SCOPES: dict[str, str] = {
    "segments:read": "list, show, count and export segments, their members and history",
    "segments:write": "create segments and evaluate them (records membership changes)",
    "profiles:read": "read profiles, timelines, paths and funnels of persons",
}


@dataclass(frozen=True)
class WriteKey:
    """A write key's public record (never the key itself)."""

    key_id: str
    source: str
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    allowed_origins: tuple[str, ...] = ()  # web origins that may send with it; empty: any

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a request from the web `origin` may use this key (no Origin header: not a browser)."""
        if origin is None or not self.allowed_origins:
            return True
        return normal_origin(origin) in self.allowed_origins


@dataclass(frozen=True)
class ApiKey:
    """An API key's public record (never the key itself): a name and what it may do."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


def normal_origin(origin: str) -> str:
    """An origin as browsers send it: lower-case scheme and host, no trailing slash or path."""
    return origin.strip().rstrip("/").lower()


def _check_origin(origin: str) -> str:
    normal = normal_origin(origin)
    scheme, _, rest = normal.partition("://")
    if scheme not in ("http", "https") or not rest or "/" in rest:
        raise FootfallError(f"allowed origin {origin!r} is not a web origin: give scheme and host (and port), "
                            "e.g. --allow-origin https://shop.example")
    return normal


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _record(row: Row) -> WriteKey | ApiKey:
    if row.kind == API:
        return ApiKey(row.key_id, row.source, tuple((row.scopes or "").split()), row.key_prefix,
                      _utc(row.created_at), _utc(row.revoked_at))
    origins = tuple((row.allowed_origins or "").split())
    return WriteKey(row.key_id, row.source, row.key_prefix, _utc(row.created_at), _utc(row.revoked_at), origins)


def _of_kind(kind: str) -> ColumnElement[bool]:
    """Rows of one kind of key (databases older than API keys have NULL kinds: write keys)."""
    return write_keys.c.kind == API if kind == API else or_(write_keys.c.kind.is_(None), write_keys.c.kind == WRITE)


def _check_name(name: str, what: str, example: str) -> None:
    if not _SOURCE_NAME.match(name):
        raise FootfallError(f"{what} name {name!r} is not allowed: use 1-64 letters, digits, '_', '.' or '-', "
                            f"e.g. {example}")


def _store_key(project: Project, kind: str, name: str, **columns: str | None) -> tuple[str, str, datetime, str]:
    """Make a random key of `kind`, store its hash; returns (key_id, key_prefix, created_at, key)."""
    key = (API_KEY_MARK if kind == API else KEY_MARK) + secrets.token_urlsafe(32)
    key_id = f"{'ak' if kind == API else 'wk'}_{secrets.token_hex(6)}"
    created_at = datetime.now(timezone.utc)
    engine = operational_engine(project)
    try:
        with engine.begin() as connection:
            connection.execute(insert(write_keys).values(
                key_id=key_id, source=name, key_hash=hash_key(key), key_prefix=key[:KEY_PREFIX_CHARS],
                created_at=created_at, revoked_at=None, kind=kind, **columns,
            ))
    finally:
        engine.dispose()
    return key_id, key[:KEY_PREFIX_CHARS], created_at, key


def _list_keys(project: Project, kind: str) -> list:
    engine = operational_engine(project)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(write_keys).where(_of_kind(kind)).order_by(write_keys.c.created_at)).all()
    finally:
        engine.dispose()
    return [_record(row) for row in rows]


def _revoke_key(project: Project, key_id: str, kind: str) -> WriteKey | ApiKey:
    engine = operational_engine(project)
    what = "API key" if kind == API else "write key"
    chosen = (write_keys.c.key_id == key_id) & _of_kind(kind)
    try:
        with engine.begin() as connection:
            row = connection.execute(select(write_keys).where(chosen)).first()
            if row is None:
                listing = "keys list-api" if kind == API else "keys list"
                raise FootfallError(f"no {what} with id {key_id!r}; `footfall {listing}` shows the ids")
            if row.revoked_at is None:
                connection.execute(update(write_keys).where(chosen).values(revoked_at=datetime.now(timezone.utc)))
            row = connection.execute(select(write_keys).where(chosen)).one()
    finally:
        engine.dispose()
    return _record(row)


def create_write_key(project: Project, source: str,
                     allowed_origins: Sequence[str] = ()) -> tuple[WriteKey, str]:
    """A new key for events from `source` (recorded as their `source`); returns (record, key).

    `allowed_origins` limits which websites may send with it from a browser (empty: any). The key is
    returned this once and cannot be recovered later.
    """
    _check_name(source, "source", "--source web-shop")
    origins = tuple(dict.fromkeys(_check_origin(origin) for origin in allowed_origins))
    key_id, prefix, created_at, key = _store_key(project, WRITE, source, allowed_origins=" ".join(origins) or None)
    return WriteKey(key_id, source, prefix, created_at, None, origins), key


def list_write_keys(project: Project) -> list[WriteKey]:
    """Every write key, active and revoked, oldest first."""
    return _list_keys(project, WRITE)


def revoke_write_key(project: Project, key_id: str) -> WriteKey:
    """Revoke a key by its id (as `footfall keys list` shows it); revoking twice keeps the first time."""
    record = _revoke_key(project, key_id, WRITE)
    assert isinstance(record, WriteKey)
    return record


def create_api_key(project: Project, name: str, scopes: Sequence[str]) -> tuple[ApiKey, str]:
    """A new analytics API key called `name` allowed `scopes`; returns (record, key), the key this once."""
    _check_name(name, "API key", "crm-sync")
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown or not scopes:
        problem = f"unknown scope {unknown[0]!r}" if unknown else "an API key needs at least one scope"
        raise FootfallError(f"{problem}: give --scope with one of {', '.join(SCOPES)}")
    chosen = tuple(dict.fromkeys(scopes))
    key_id, prefix, created_at, key = _store_key(project, API, name, scopes=" ".join(chosen))
    return ApiKey(key_id, name, chosen, prefix, created_at, None), key


def list_api_keys(project: Project) -> list[ApiKey]:
    """Every API key, active and revoked, oldest first."""
    return _list_keys(project, API)


def revoke_api_key(project: Project, key_id: str) -> ApiKey:
    """Revoke an API key by its id (as `footfall keys list-api` shows it)."""
    record = _revoke_key(project, key_id, API)
    assert isinstance(record, ApiKey)
    return record


class _KeyCache:
    """Looks keys of one kind up by hash, remembering each answer (also "unknown") for `ttl_s` seconds."""

    kind = WRITE

    def __init__(self, project: Project, ttl_s: float = CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self._engine: Engine = operational_engine(project)
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._answers: dict[str, tuple[float, WriteKey | ApiKey | None]] = {}

    def _cached(self, key: str) -> WriteKey | ApiKey | None:
        now = time.monotonic()
        cached = self._answers.get(key)
        if cached is None or cached[0] <= now:
            record = self._lookup(key)
            if len(self._answers) >= self.max_entries:
                self._answers.clear()  # bounded memory under a flood of made-up keys
            self._answers[key] = cached = (now + self.ttl_s, record)
        return cached[1]

    def _lookup(self, key: str) -> WriteKey | ApiKey | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(write_keys).where((write_keys.c.key_hash == hash_key(key)) & _of_kind(self.kind))).first()
        return None if row is None else _record(row)

    def close(self) -> None:
        self._engine.dispose()


class ApiKeyCache(_KeyCache):
    """Checks analytics API keys for the server (an API key is never a write key, nor the reverse)."""

    kind = API

    def authenticate(self, key: str | None) -> ApiKey:
        """The active API key record for `key`; `ApiKeyError` when missing, unknown or revoked."""
        if not key:
            raise ApiKeyError("no API key: send it as 'Authorization: Bearer <key>' "
                              "(create one with `footfall keys create-api NAME --scope ...`)")
        record = self._cached(key)
        if record is None:
            raise ApiKeyError("unknown API key (create one with `footfall keys create-api NAME --scope ...`)")
        assert isinstance(record, ApiKey)
        if not record.active:
            raise ApiKeyError(f"API key {record.key_id} was revoked")
        return record


class WriteKeyCache(_KeyCache):
    """Checks write keys for the server, remembering each answer for `ttl_s` seconds."""

    kind = WRITE

    def authenticate(self, key: str | None) -> WriteKey:
        """The active key record for `key`; `WriteKeyError` when missing, unknown or revoked."""
        if not key:
            raise WriteKeyError(
                "no write key: send it as the HTTP Basic user name (empty password) or as 'writeKey' in the body",
                "writeKey",
            )
        record = self._cached(key)
        if record is None:
            raise WriteKeyError("unknown write key (create one with `footfall keys create --source NAME`)", "writeKey")
        assert isinstance(record, WriteKey)
        if not record.active:
            raise WriteKeyError(f"write key {record.key_id} was revoked", "writeKey")
        return record
