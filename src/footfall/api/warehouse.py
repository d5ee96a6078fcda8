"""The warehouse for one analytics API request: opened read-only, closed afterwards, 503 when locked.

DuckDB admits one process with the file open for writing (and then no other process, not even a
reader). The server therefore opens it read-only per request, so any number of server workers read
side by side and the file is free between requests; while a CLI command holds it for writing (a
`footfall resolve`, a `profile build`), requests get a 503 JSON answer with Retry-After instead of an
unexpected 500. Segment evaluation needs no write access: membership is appended to the lake.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from footfall.errors import WarehouseBusyError
from footfall.project import Project
from footfall.warehouse import Warehouse, open_warehouse


def open_for_request(project: Project) -> Warehouse:
    """The project's warehouse, read-only; `WarehouseBusyError` when another process holds the DuckDB file."""
    try:
        return open_warehouse(project, read_only=True)
    except Exception as error:
        if _is_lock_conflict(error):
            raise WarehouseBusyError(
                f"the warehouse {project.warehouse_path.name} is in use by another process (a CLI command "
                "writing to it); retry shortly") from None
        raise


def _is_lock_conflict(error: Exception) -> bool:
    import duckdb

    return isinstance(error, duckdb.IOException) and "lock" in str(error).lower()


def request_warehouse(request: Request) -> Iterator[Warehouse]:
    """FastAPI dependency: the warehouse for this request, closed when the response is done."""
    warehouse = open_for_request(request.app.state.project)
    try:
        yield warehouse
    finally:
        warehouse.close()


RequestWarehouse = Annotated[Warehouse, Depends(request_warehouse)]
