"""The profiles and journeys API: a person's traits and timeline, frequent paths and funnels.

Thin routes over `footfall.profiles`; every route needs an API key with the `profiles:read` scope.
Each request opens the warehouse read-only (`footfall.api.warehouse`: 503 while a CLI command writes
it). Routes are plain functions: FastAPI runs them in its thread pool.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from footfall.api.auth import require_scope
from footfall.api.warehouse import RequestWarehouse as WarehouseDependency

router = APIRouter(prefix="/api", tags=["profiles"], dependencies=[Depends(require_scope("profiles:read"))])


def _jsonable(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


@router.get("/profiles/{identifier}", summary="A person's computed traits")
def get_profile(identifier: str, warehouse: WarehouseDependency) -> dict[str, Any]:
    """Traits of the person `identifier` names (`email:jane@x.com`, a raw email, a user id, a person id)."""
    from footfall.profiles.timeline import find_person, person_traits

    person_id, key = find_person(warehouse, identifier)
    return {"person_id": person_id, "identifier": key, "traits": _jsonable(person_traits(warehouse, person_id))}


@router.get("/profiles/{identifier}/timeline", summary="A person's unified timeline")
def get_timeline(identifier: str, warehouse: WarehouseDependency,
                 limit: Annotated[int, Query(ge=1, le=10_000, description="At most this many events, oldest first.")] = 200) -> dict[str, Any]:
    """Online and offline events of the person in order, with realm, channel, store and key properties."""
    from footfall.profiles.timeline import timeline

    return timeline(warehouse, identifier, limit=limit, with_traits=False).to_json()


@router.get("/journeys/paths", summary="The most frequent paths across channels")
def get_paths(warehouse: WarehouseDependency,
              length: Annotated[int, Query(ge=2, le=8, description="Steps per path.")] = 3,
              top: Annotated[int, Query(ge=1, le=1000)] = 10,
              event: Annotated[list[str] | None, Query(description="Count only these events as steps.")] = None,
              since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """Runs of `length` consecutive steps (repeats collapsed), by how many persons took them."""
    from footfall.profiles.paths import top_paths

    found = top_paths(warehouse, length=length, top=top, events=event, since=since, until=until)
    return {"length": length, "paths": [path.to_json() for path in found]}


@router.get("/journeys/funnel", summary="A funnel: persons and conversion per step")
def get_funnel(warehouse: WarehouseDependency,
               step: Annotated[list[str], Query(description='Steps in order, e.g. step=Product Viewed&step=Order Completed[channel=pos].')],
               within: Annotated[list[str] | None, Query(description="Window to the next step (14d): once, or once per step after the first.")] = None,
               since: datetime | None = None, as_of: datetime | None = None) -> dict[str, Any]:
    """Persons per step, conversion from the previous and the first step, median hours between steps."""
    from footfall.profiles.funnel import funnel, parse_window

    windows = [parse_window(w) for w in within] if within else None
    results = funnel(warehouse, step, windows, as_of=as_of, since=since)
    return {"steps": [result.to_json() for result in results]}
