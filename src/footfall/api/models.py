"""Pydantic models of the tracking API, for the OpenAPI document at /docs only.

Requests are not parsed with them: Pydantic body parsing alone caps a worker near 100k events/s, so
the hot path decodes top-level fields with msgspec and checks the rules described here itself
(`footfall.ingest.messages.check_message`).
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Obj = dict[str, Any]


class Message(BaseModel):
    """Fields common to every Segment message. `userId` or `anonymousId` is required (null = absent)."""

    model_config = ConfigDict(extra="allow")
    userId: str | None = Field(None, description="your id for the person; numbers are taken as text")
    anonymousId: str | None = Field(None, description="a device or browser id, when the person is not known")
    messageId: str | None = Field(None, description="unique per message; duplicates are stored once (assigned when absent)")
    timestamp: str | None = Field(None, description="ISO 8601; corrected for client clock skew with sentAt")
    sentAt: str | None = Field(None, description="ISO 8601, when the client sent it")
    context: Obj | None = Field(None, description="context.channel picks the Footfall channel (web, app, pos, store, ...)")
    integrations: Obj | None = None
    writeKey: str | None = Field(None, description="the write key, when not sent with HTTP Basic auth")


class TrackMessage(Message):
    type: Literal["track"] | None = None
    event: str = Field(description="the event name, e.g. 'Order Completed'")
    properties: Obj | None = None


class IdentifyMessage(Message):
    type: Literal["identify"] | None = None
    traits: Obj | None = Field(None, description="also read from context.traits")


class PageMessage(Message):
    type: Literal["page"] | None = None
    name: str | None = None
    properties: Obj | None = None


class ScreenMessage(Message):
    type: Literal["screen"] | None = None
    name: str | None = None
    properties: Obj | None = None


class GroupMessage(Message):
    type: Literal["group"] | None = None
    groupId: str
    traits: Obj | None = None


class AliasMessage(Message):
    type: Literal["alias"] | None = None
    previousId: str


AnyMessage = Union[TrackMessage, IdentifyMessage, PageMessage, ScreenMessage, GroupMessage, AliasMessage]


class Batch(BaseModel):
    """Several messages of any type (each needs its `type`); at most 500 KB in all, 32 KB each."""

    batch: list[AnyMessage]
    sentAt: str | None = None
    writeKey: str | None = None


class Rejected(BaseModel):
    """Why one message of a batch was not stored."""

    index: int
    code: str
    message: str
    field: str | None = None


class Accepted(BaseModel):
    """HTTP 200: the accepted messages are on disk (fsync'd). Rejected ones, if any, are listed."""

    success: bool = True
    accepted: int
    rejected: list[Rejected] = []


class ErrorBody(BaseModel):
    """Every error: a stable `code`, a readable `message`, and the field, batch index or limit at fault."""

    code: str
    message: str
    field: str | None = None
    index: int | None = None
    limit: str | None = None
    limit_bytes: int | None = None
    rejected: list[Rejected] | None = None


MESSAGE_MODELS: dict[str, type[BaseModel]] = {
    "track": TrackMessage,
    "identify": IdentifyMessage,
    "page": PageMessage,
    "screen": ScreenMessage,
    "group": GroupMessage,
    "alias": AliasMessage,
    "batch": Batch,
}

REF_TEMPLATE = "#/components/schemas/{model}"


def request_body(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI requestBody for `model`; its nested schemas are added to `components`."""
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model=model.__name__)}}},
    }
