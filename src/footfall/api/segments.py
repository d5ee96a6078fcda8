"""The segments API under `/api/segments`: define, list, show, count, members, history, evaluate.

Thin routes over `footfall.segments` (store, membership, export). Reading needs an API key with
`segments:read`; creating, deleting and evaluating (which records membership changes) need
`segments:write`. Text that does not parse is answered 422 with the position and what was expected:
`{"code": "invalid_definition", "message": ..., "field": "text", "position": 17, "expected": ...}`.
Routes are plain functions: FastAPI runs them in its thread pool, each with its own read-only
warehouse (`footfall.api.warehouse`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from footfall.api.auth import require_scope
from footfall.api.warehouse import RequestWarehouse
from footfall.errors import InvalidDefinitionError

router = APIRouter(prefix="/api/segments", tags=["segments"])
READ = [Depends(require_scope("segments:read"))]
WRITE = [Depends(require_scope("segments:write"))]

AsOf = Annotated[datetime | None, Query(description="Evaluate at this time (ISO-8601; UTC unless an offset is "
                                                    "given). Default: the latest event.")]


class SegmentBody(BaseModel):
    """A segment to define."""

    name: str = Field(description="a slug: lower-case letters, digits, '_' or '-'", examples=["near-store-browsers"])
    text: str = Field(description="the rule in the segment language",
                      examples=['did "Product Viewed" >= 2 in 30d and nearest_store_km < 10'])
    description: str | None = None
    replace: bool = Field(False, description="redefine an existing segment of that name")


class EvaluateBody(BaseModel):
    as_of: datetime | None = Field(None, description="default: the latest event")


def segment_store(request: Request) -> Iterator[Any]:
    """The project's segment definitions for one request."""
    from footfall.segments.store import SegmentStore

    with SegmentStore(request.app.state.project) as store:
        yield store


Store = Annotated[Any, Depends(segment_store)]


def _definition(definition: Any) -> dict[str, Any]:
    return {"name": definition.name, "builtin": definition.builtin, "text": definition.text,
            "rule": definition.rule_json, "description": definition.description,
            "created_at": definition.created_at, "updated_at": definition.updated_at}


def _evaluation(evaluation: Any) -> dict[str, Any] | None:
    return None if evaluation is None else dict(evaluation.__dict__)


def _as_of(warehouse: Any, as_of: datetime | None) -> datetime:
    from footfall.segments.membership import default_as_of
    from footfall.schema import parse_utc

    return parse_utc(as_of) if as_of is not None else default_as_of(warehouse)


@router.get("", summary="List segments", dependencies=READ)
def list_segments(warehouse: RequestWarehouse, store: Store) -> dict[str, Any]:
    """Built-in and stored segments, each with its last recorded evaluation."""
    from footfall.segments.membership import last_evaluation

    return {"segments": [{**_definition(d), "last_evaluation": _evaluation(last_evaluation(warehouse, d.name))}
                         for d in store.definitions()]}


@router.post("", summary="Define a segment", status_code=201, dependencies=WRITE,
             responses={409: {"description": "the name is taken (send replace: true)"},
                        422: {"description": "the text does not parse (position, expected) or refers to an "
                                             "unknown segment"}})
def create_segment(body: SegmentBody, store: Store) -> dict[str, Any]:
    """Check and store a segment; the answer holds its canonical text and JSON rule."""
    from footfall.segments import SegmentSyntaxError

    try:
        definition = store.create(body.name, body.text, body.description, replace=body.replace)
    except SegmentSyntaxError as error:
        raise InvalidDefinitionError(str(error).split("\n")[0], "text", error.position, error.expected) from None
    return _definition(definition)


@router.get("/{name}", summary="Show a segment", dependencies=READ)
def show_segment(name: str, warehouse: RequestWarehouse, store: Store) -> dict[str, Any]:
    """The definition (text and JSON rule) and the last recorded evaluation (size, entered, exited)."""
    from footfall.segments.membership import last_evaluation

    definition = store.get(name)
    return {**_definition(definition), "last_evaluation": _evaluation(last_evaluation(warehouse, name))}


@router.delete("/{name}", summary="Delete a stored segment", status_code=204, dependencies=WRITE)
def delete_segment(name: str, store: Store) -> Response:
    """Remove a stored segment no other segment uses; its membership history is kept."""
    store.delete(name)
    return Response(status_code=204)


@router.get("/{name}/count", summary="Count members", dependencies=READ)
def count_segment(name: str, warehouse: RequestWarehouse, store: Store, as_of: AsOf = None) -> dict[str, Any]:
    """How many people the segment holds at `as_of` (computed; nothing recorded)."""
    from footfall.segments.membership import count_members

    moment = _as_of(warehouse, as_of)
    return {"segment": name, "as_of": moment, "count": count_members(warehouse, store, name, moment)}


@router.get("/{name}/members", summary="Members (paged JSON, or a CSV / Parquet download)", dependencies=READ,
            responses={200: {"content": {"application/json": {}, "text/csv": {},
                                         "application/vnd.apache.parquet": {}}}})
def segment_members(name: str, warehouse: RequestWarehouse, store: Store, as_of: AsOf = None,
                    format: Annotated[Literal["json", "csv", "parquet"], Query(description="json: one page; csv "
                                      "or parquet: every member as a file")] = "json",
                    offset: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> Any:
    """The members at `as_of`, ordered by person_id."""
    from footfall.segments import membership
    from footfall.segments.export import MEDIA_TYPES, members_bytes

    moment = _as_of(warehouse, as_of)
    members = membership.segment_members(warehouse, store, name, moment)
    if format != "json":
        content = members_bytes(warehouse.to_arrow(members), format)
        filename = f"{name}-{moment:%Y%m%dT%H%M%SZ}.{format}"
        return Response(content, media_type=MEDIA_TYPES[format],
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    total = int(members.count().to_pyarrow().as_py())
    page = warehouse.to_arrow(members.order_by("person_id").limit(limit, offset=offset))
    return {"segment": name, "as_of": moment, "total": total, "offset": offset, "limit": limit,
            "members": page.column("person_id").to_pylist()}


@router.get("/{name}/history", summary="Size over time", dependencies=READ)
def segment_history(name: str, warehouse: RequestWarehouse, store: Store) -> dict[str, Any]:
    """Every recorded evaluation, oldest first: as of when, size, how many entered and left."""
    from footfall.segments import membership

    store.get(name)
    rows = membership.segment_history(warehouse, name).to_pyarrow().to_pylist()
    return {"segment": name, "evaluations": rows}


@router.get("/{name}/changes", summary="Who entered (or left) since a time", dependencies=READ)
def segment_changes(name: str, warehouse: RequestWarehouse, store: Store,
                    since: Annotated[datetime, Query(description="Changes recorded at evaluations as of this time or later.")],
                    change: Annotated[Literal["entered", "exited"], Query()] = "entered",
                    offset: Annotated[int, Query(ge=0)] = 0,
                    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, Any]:
    """People who entered (or left) the segment at evaluations as of `since` or later: what campaigns trigger on."""
    from footfall.schema import parse_utc
    from footfall.segments.membership import entered_since

    store.get(name)
    changes = entered_since(warehouse, name, parse_utc(since), change=change)
    page = warehouse.to_arrow(changes.order_by(["at", "person_id"]).limit(limit, offset=offset)).to_pylist()
    return {"segment": name, "change": change, "since": parse_utc(since), "offset": offset, "limit": limit,
            "changes": page}


@router.post("/{name}/evaluate", summary="Evaluate and record membership changes", dependencies=WRITE)
def evaluate_segment(name: str, warehouse: RequestWarehouse, store: Store,
                     body: EvaluateBody | None = None) -> dict[str, Any]:
    """Compute the members at `as_of` and record who entered and left since the last evaluation."""
    from footfall.segments import membership

    as_of = body.as_of if body is not None else None
    return _evaluation(membership.evaluate_segment(warehouse, store, name, _as_of(warehouse, as_of)))
