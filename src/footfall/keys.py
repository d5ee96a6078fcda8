"""Write keys for the tracking API: created once per source, stored only as a hash, revocable.

A key is "ffw_" and 32 random bytes (URL-safe text), shown once at creation. The operational store keeps its
SHA-256: a key that random cannot be guessed from its hash, and a plain hash (unlike a slow password
hash) can be checked on every request. The server looks keys up through `WriteKeyCache`, which keeps
answers (also "unknown") for a few seconds, so a revoked key stops working within that time.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, Row, insert, select, update

from footfall.errors import FootfallError, WriteKeyError
from footfall.opstore import operational_engine, write_keys
from footfall.project import Project

KEY_PREFIX_CHARS = 10  # "ffw_" and 6 random characters, shown by `footfall keys list` so a person can tell keys apart
CACHE_SECONDS = 10.0
KEY_MARK = "ffw_"  # makes keys recognisable (to people and to secret scanners)
_SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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


def _record(row: Row) -> WriteKey:
    origins = tuple((row.allowed_origins or "").split())
    return WriteKey(row.key_id, row.source, row.key_prefix, _utc(row.created_at), _utc(row.revoked_at), origins)


def create_write_key(project: Project, source: str,
                     allowed_origins: Sequence[str] = ()) -> tuple[WriteKey, str]:
    """A new key for events from `source` (recorded as their `source`); returns (record, key).

    `allowed_origins` limits which websites may send with it from a browser (empty: any). The key is
    returned this once and cannot be recovered later.
    """
    if not _SOURCE_NAME.match(source):
        raise FootfallError(
            f"source name {source!r} is not allowed: use 1-64 letters, digits, '_', '.' or '-', "
            "e.g. --source web-shop"
        )
    origins = tuple(dict.fromkeys(_check_origin(origin) for origin in allowed_origins))
    key = KEY_MARK + secrets.token_urlsafe(32)
    record = WriteKey(f"wk_{secrets.token_hex(6)}", source, key[:KEY_PREFIX_CHARS], datetime.now(timezone.utc), None,
                      origins)
    engine = operational_engine(project)
    try:
        with engine.begin() as connection:
            connection.execute(insert(write_keys).values(
                key_id=record.key_id, source=source, key_hash=hash_key(key), key_prefix=record.key_prefix,
                created_at=record.created_at, revoked_at=None, allowed_origins=" ".join(origins) or None,
            ))
    finally:
        engine.dispose()
    return record, key


def list_write_keys(project: Project) -> list[WriteKey]:
    """Every write key, active and revoked, oldest first."""
    engine = operational_engine(project)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(write_keys).order_by(write_keys.c.created_at)).all()
    finally:
        engine.dispose()
    return [_record(row) for row in rows]


def revoke_write_key(project: Project, key_id: str) -> WriteKey:
    """Revoke a key by its id (as `footfall keys list` shows it); revoking twice keeps the first time."""
    engine = operational_engine(project)
    try:
        with engine.begin() as connection:
            row = connection.execute(select(write_keys).where(write_keys.c.key_id == key_id)).first()
            if row is None:
                raise FootfallError(f"no write key with id {key_id!r}; `footfall keys list` shows the ids")
            if row.revoked_at is None:
                connection.execute(
                    update(write_keys).where(write_keys.c.key_id == key_id).values(revoked_at=datetime.now(timezone.utc))
                )
            row = connection.execute(select(write_keys).where(write_keys.c.key_id == key_id)).one()
    finally:
        engine.dispose()
    return _record(row)


class WriteKeyCache:
    """Checks write keys for the server, remembering each answer for `ttl_s` seconds."""

    def __init__(self, project: Project, ttl_s: float = CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self._engine: Engine = operational_engine(project)
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._answers: dict[str, tuple[float, WriteKey | None]] = {}

    def authenticate(self, key: str | None) -> WriteKey:
        """The active key record for `key`; `WriteKeyError` when missing, unknown or revoked."""
        if not key:
            raise WriteKeyError(
                "no write key: send it as the HTTP Basic user name (empty password) or as 'writeKey' in the body",
                "writeKey",
            )
        now = time.monotonic()
        cached = self._answers.get(key)
        if cached is None or cached[0] <= now:
            record = self._lookup(key)
            if len(self._answers) >= self.max_entries:
                self._answers.clear()  # bounded memory under a flood of made-up keys
            self._answers[key] = cached = (now + self.ttl_s, record)
        record = cached[1]
        if record is None:
            raise WriteKeyError("unknown write key (create one with `footfall keys create --source NAME`)", "writeKey")
        if not record.active:
            raise WriteKeyError(f"write key {record.key_id} was revoked", "writeKey")
        return record

    def _lookup(self, key: str) -> WriteKey | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(write_keys).where(write_keys.c.key_hash == hash_key(key))).first()
        return None if row is None else _record(row)

    def close(self) -> None:
        self._engine.dispose()
