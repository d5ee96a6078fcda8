"""What a project holds: row counts per table, events per realm and channel, import history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from footfall.opstore import imports, operational_engine
from footfall.schema import LAKE_TABLES
from footfall.schema.derived import DERIVED_TABLES
from footfall.warehouse import Warehouse


@dataclass
class ProjectStatus:
    engine: str
    table_rows: dict[str, int]
    events_by_realm_channel: list[tuple[str, str, int]]
    lake_files: dict[str, int]
    imports_logged: int
    first_event: str | None
    last_event: str | None


def project_status(warehouse: Warehouse) -> ProjectStatus:
    """Counts computed on the warehouse's engine (an Ibis expression per table)."""
    table_rows = {name: int(warehouse.table(name).count().execute()) for name in (*LAKE_TABLES, *DERIVED_TABLES)}
    events = warehouse.table("events")
    by_channel = (
        events.group_by(["realm", "channel"]).aggregate(events=events.count()).order_by(["realm", "channel"])
    )
    rows = warehouse.to_arrow(by_channel).to_pylist()
    span = warehouse.to_arrow(events.aggregate(first=events.timestamp.min(), last=events.timestamp.max())).to_pylist()[0]
    engine = operational_engine(warehouse.project)
    with engine.connect() as connection:
        imports_logged = connection.execute(select(func.count()).select_from(imports)).scalar_one()
    engine.dispose()
    return ProjectStatus(
        engine=warehouse.engine,
        table_rows=table_rows,
        events_by_realm_channel=[(r["realm"], r["channel"], int(r["events"])) for r in rows],
        lake_files={name: len(warehouse.lake.files(name)) for name in LAKE_TABLES},
        imports_logged=int(imports_logged),
        first_event=None if span["first"] is None else f"{span['first']:%Y-%m-%d %H:%M}",
        last_event=None if span["last"] is None else f"{span['last']:%Y-%m-%d %H:%M}",
    )
