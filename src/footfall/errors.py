"""One error hierarchy for Footfall: each error names the input at fault and how to fix it.

The CLI maps every `FootfallError` to exit code 2 in one place (`footfall.cli`); the API maps them to
HTTP statuses in one place. Nothing else catches them.
"""

from __future__ import annotations

from dataclasses import dataclass


class FootfallError(Exception):
    """Base class: a problem with the user's input or set-up, never a bug."""


class NotAProjectError(FootfallError):
    """The directory given with --project is not a Footfall project."""

    def __init__(self, directory: str) -> None:
        super().__init__(
            f"{directory} is not a Footfall project (no footfall.toml). "
            f"Create one with `footfall init {directory}` or pass --project DIR."
        )


class SettingsError(FootfallError):
    """footfall.toml holds a value Footfall cannot use."""


@dataclass
class InputLocation:
    """Where in an input file a problem is: file, 1-based data row (None for the whole file), column."""

    file: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column '{self.column}'")
        return ", ".join(parts)


class InputFileError(FootfallError):
    """A file to import is missing, unreadable or holds invalid rows. Nothing from it was written."""

    def __init__(self, location: InputLocation, problem: str, hint: str = "") -> None:
        self.location = location
        self.problem = problem
        self.hint = hint
        message = f"{location}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


# -- collection (the HTTP tracking API); `footfall.api.errors` maps each class to an HTTP status -------
class CollectionError(FootfallError):
    """A tracking request was refused. `code` is a stable machine-readable name for clients."""

    code = "invalid_request"

    def __init__(self, message: str, field: str | None = None, index: int | None = None) -> None:
        self.field = field
        self.index = index
        super().__init__(message)

    def details(self) -> dict[str, object]:
        """What a client needs to fix the request: code, message, and the field and batch index at fault."""
        body: dict[str, object] = {"code": self.code, "message": str(self)}
        if self.field is not None:
            body["field"] = self.field
        if self.index is not None:
            body["index"] = self.index
        return body


class InvalidMessageError(CollectionError):
    """A message (or the request body) is malformed, misses a required field or has a wrong type."""

    def __init__(self, message: str, field: str | None = None, index: int | None = None, code: str = "invalid_field") -> None:
        super().__init__(message, field, index)
        self.code = code


class BatchRejectedError(CollectionError):
    """Every message of a batch was rejected; `rejected` holds each one's details (with its index)."""

    code = "batch_rejected"

    def __init__(self, rejected: list[dict[str, object]]) -> None:
        self.rejected = rejected
        first = rejected[0] if rejected else {}
        super().__init__(f"no message of the batch was accepted (first: {first.get('message', '?')})", "batch")

    def details(self) -> dict[str, object]:
        return {**super().details(), "rejected": self.rejected}


class TooLargeError(CollectionError):
    """A request or one event in it exceeds a documented size limit."""

    def __init__(self, limit: str, limit_bytes: int, size_bytes: int | None = None, index: int | None = None,
                 code: str = "request_too_large") -> None:
        self.limit = limit
        self.limit_bytes = limit_bytes
        self.code = code
        size = f" ({size_bytes:,} bytes)" if size_bytes is not None else ""
        super().__init__(f"{limit} exceeded{size}: the limit is {limit_bytes:,} bytes", None, index)

    def details(self) -> dict[str, object]:
        return {**super().details(), "limit": self.limit, "limit_bytes": self.limit_bytes}


class WriteKeyError(CollectionError):
    """No write key was sent, or it is unknown or revoked."""

    code = "invalid_write_key"


class OriginNotAllowedError(CollectionError):
    """A browser request came from a web origin the write key's source does not allow."""

    code = "origin_not_allowed"

    def __init__(self, origin: str, source: str) -> None:
        self.origin = origin
        super().__init__(f"origin {origin!r} may not send events for source {source!r}: add it with "
                         f"`footfall keys create --source {source} --allow-origin {origin}`", "Origin")

    def details(self) -> dict[str, object]:
        return {**super().details(), "origin": self.origin}


class SpoolFullError(CollectionError):
    """The collector has more unflushed data than it accepts; the client should retry shortly."""

    code = "overloaded"
    retry_after_s = 1


class SpoolUnavailableError(CollectionError):
    """The spool could not make events durable (disk full, I/O error, shutting down); nothing was acknowledged."""

    code = "spool_unavailable"


# -- the analytics API (segments, profiles); `footfall.api.errors` maps each class to an HTTP status ----
class ApiAccessError(FootfallError):
    """A request to the analytics API was refused for want of a valid API key or scope."""

    code = "forbidden"

    def details(self) -> dict[str, object]:
        return {"code": self.code, "message": str(self)}


class ApiKeyError(ApiAccessError):
    """No API key was sent (`Authorization: Bearer ...`), or it is unknown or revoked."""

    code = "invalid_api_key"


class MissingScopeError(ApiAccessError):
    """The API key is valid but lacks the scope a route requires."""

    code = "missing_scope"

    def __init__(self, scope: str, key_id: str) -> None:
        self.scope = scope
        super().__init__(f"API key {key_id} lacks the scope {scope!r}: create a key with "
                         f"`footfall keys create-api NAME --scope {scope}`")

    def details(self) -> dict[str, object]:
        return {**super().details(), "scope": self.scope}


# -- named things and definitions (segments; campaigns later): HTTP 404 / 409 / 422 in the API --------
class NotFoundError(FootfallError):
    """A named thing (a segment, ...) does not exist; the message says how to list what does."""


class AlreadyExistsError(FootfallError):
    """A name is taken (a segment, ...); the message says how to replace it instead."""


class ReadOnlyError(FootfallError):
    """A built-in definition cannot be changed or replaced."""


class InvalidDefinitionError(FootfallError):
    """A definition a person wrote (a segment's text, ...) is invalid at a known place in one field."""

    code = "invalid_definition"

    def __init__(self, message: str, field: str, position: int | None = None, expected: str | None = None) -> None:
        self.field, self.position, self.expected = field, position, expected
        super().__init__(message)

    def details(self) -> dict[str, object]:
        """The field at fault and, for text, the 0-based position and what was expected there."""
        body: dict[str, object] = {"code": self.code, "message": str(self).split("\n")[0], "field": self.field}
        if self.position is not None:
            body["position"] = self.position
        if self.expected is not None:
            body["expected"] = self.expected
        return body


class WarehouseBusyError(FootfallError):
    """The warehouse file is locked by another process (DuckDB allows one writer); retry shortly."""

    retry_after_s = 5
