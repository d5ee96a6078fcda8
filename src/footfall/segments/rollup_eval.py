"""Segment conditions compiled against the rollups instead of the raw events.

`RollupView` stands in for the warehouse when a rule is compiled (`compile_rule(..., warehouse=view,
counts=view.counts)`): its `events` and `event_persons` are the owner-stamped event log, so the
compiler's raw paths (sequences, filters the cube cannot answer) read no `event_persons` join over
all history; its `counts` answers `did` conditions from the cube wherever the filters name only cube
dimensions. Restricted to some persons (`persons=`), every table it hands out is cut to them, which
is how a refresh re-evaluates only the people whose result may have changed.

Windows are exact timestamps, not calendar days: `(as_of - window, as_of]`. Whole UTC days inside
the window come from the cube; the partial days at either end (the day `as_of` falls in and the day
the window starts in) come from the event log, filtered to those hours only.
"""

from __future__ import annotations

import functools
import operator
from datetime import datetime, timedelta, timezone
from typing import Any

import ibis
import ibis.expr.datatypes as dt
from ibis.expr.types import Table

from footfall.segments.compiler import compare, event_condition_counts
from footfall.segments.rollups import CUBE, CUBE_DIMS, PERSON_EVENTS, Manifest, files_table, part_month, rollup_dir
from footfall.segments.rules import Did, EventMatch

DAY = timedelta(days=1)
# Event log columns every condition reads (the compiler joins lines by message_id, windows by timestamp).
KEPT_ALWAYS = ("person_id", "message_id", "timestamp", "event")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def cached(table: Table) -> Table:
    """`table` computed once: a temporary table on DuckDB; on Spark identity's checkpointed view
    (which also registers the in-memory tables the expression reads)."""
    if table._find_backend(use_default=True).name == "duckdb":
        return table.cache()
    from footfall.identity.engine import cached as checkpointed  # imports all of footfall.identity

    return checkpointed(table)


def bind(warehouse: Any, name: str, data: Any) -> Table:
    """Arrow data as a temporary table of the warehouse's own connection."""
    if warehouse.engine == "duckdb":
        return warehouse.con.create_table(name, data, temp=True, overwrite=True)
    from footfall.identity.engine import bind as bind_spark

    return bind_spark(warehouse, name, data)


def matching_any(table: Table, matches: list[EventMatch]) -> Table:
    """Rows (cube rows or events) that may hold an event some match selects. Filters on columns the
    cube lacks are left out, which only widens the set."""
    tests = []
    for match in matches:
        parts = [compare(table[f.field], f, f"event field {f.field}") for f in match.filters if f.field in CUBE_DIMS]
        if match.event is not None:
            parts.append(table.event == match.event)
        if not parts:
            return table
        tests.append(functools.reduce(operator.and_, parts))
    if not tests:
        return table.filter(ibis.literal(False))
    return table.filter(functools.reduce(operator.or_, tests))


def cube_answers(did: Did) -> bool:
    """Whether the cube holds what the condition's filters look at."""
    return all(f.field in CUBE_DIMS for f in did.filters)


class RollupView:
    """The rollups as tables of a warehouse's engine, usable wherever the compiler wants a warehouse."""

    def __init__(self, warehouse: Any, manifest: Manifest, persons: Table | None = None,
                 kept: tuple[Table, Table] | None = None) -> None:
        """persons: restrict every table to these people. kept: (cube, events) rows to read instead of
        the parts (see `keep`)."""
        self.base = warehouse
        self.engine, self.project, self.con, self.lake = warehouse.engine, warehouse.project, warehouse.con, warehouse.lake
        self.manifest, self.persons, self._kept = manifest, persons, kept
        self._files: dict[tuple[str, str, str], Table] = {}

    def keep(self, persons: Table, matches: list[EventMatch], fields: tuple[str, ...] = ()) -> RollupView:
        """A view of these people's rows that some of the event matches may select, computed once (a
        temporary table) with the columns the matches (and `fields`, e.g. a sequence's `same`) name:
        a refresh reads the affected people's rows many times over, the log once."""
        named = {f.field for match in matches for f in match.filters} | set(fields)
        cube = matching_any(self.cube_between().semi_join(persons, "person_id"), matches)
        cube = cube.select(*[c for c in CUBE.names if c not in CUBE_DIMS or c in named or c == "event"])
        events = matching_any(self.events_between().semi_join(persons, "person_id"), matches)
        events = events.select(*[c for c in PERSON_EVENTS.names
                                 if c in KEPT_ALWAYS or c in named or (c == "skus" and "sku" in named)])
        return RollupView(self.base, self.manifest, persons, (cached(cube), cached(events)))

    def narrowed(self, persons: Table) -> RollupView:
        """The same rows, restricted to fewer people."""
        return RollupView(self.base, self.manifest, persons, self._kept)

    def _parts(self, kind: str, start: datetime | None, end: datetime | None) -> Table:
        """Parts whose month meets [start, end] (all when None), cut to the persons if restricted."""
        low, high = (f"{start:%Y-%m}" if start else ""), (f"{end:%Y-%m}" if end else "9999")
        if self._kept is not None:
            table = self._kept[0 if kind == "cube" else 1]
        else:
            if (kind, low, high) not in self._files:
                parts = self.manifest.cube if kind == "cube" else self.manifest.person_events
                directory = rollup_dir(self.project)
                chosen = [directory / p for p in parts if low <= part_month(p) <= high]
                self._files[kind, low, high] = files_table(self.base, chosen, CUBE if kind == "cube" else PERSON_EVENTS)
            table = self._files[kind, low, high]
        return table if self.persons is None else table.semi_join(self.persons, "person_id")

    def cube_between(self, start: datetime | None = None, end: datetime | None = None) -> Table:
        """Cube rows of the months from `start` to `end` (all of them by default)."""
        return self._parts("cube", start, end)

    def events_between(self, start: datetime | None = None, end: datetime | None = None) -> Table:
        """Owner-stamped events of the months from `start` to `end` (all of them by default)."""
        return self._parts("events", start, end)

    @property
    def cube(self) -> Table:
        return self.cube_between()

    @property
    def events(self) -> Table:
        return self.events_between()

    # -- what the compiler asks a warehouse for -------------------------------------------------
    def table(self, name: str) -> Table:
        if name == "events":
            return self.events
        if name == "event_persons":
            return self.events.select("message_id", "person_id")
        if name == "persons" and self.persons is not None:
            return self.persons
        return self.base.table(name)

    def materialized_tables(self) -> list[str]:
        return self.base.materialized_tables()

    def to_arrow(self, expr: Any) -> Any:
        return self.base.to_arrow(expr)

    # -- did conditions -------------------------------------------------------------------------
    def counts(self, did: Did, as_of: datetime) -> Table:
        """person_id, n, first_at, last_at of the events matching `did` in its window (like
        `event_condition_counts`): whole days from the cube, partial days from the event log."""
        if not cube_answers(did):
            return event_condition_counts(self, did, as_of)
        as_of = _utc(as_of)
        last_day = _floor_day(as_of)  # the day as_of falls in: partial
        lower = as_of - timedelta(hours=did.window.hours) if did.window is not None else None
        first_day = _floor_day(lower) + DAY if lower is not None else None  # first whole day after lower
        cube = self._matching(self.cube if lower is None else self.cube_between(first_day, last_day), did)
        at = lambda moment, column: ibis.literal(moment, type=column.type())  # noqa: E731

        def logged(start: datetime, end: datetime, after: bool, before: bool) -> Table:
            """Matching events in the interval (`after`: start excluded; `before`: end excluded),
            read from the months it spans only."""
            events = self._matching(self.events_between(start, end), did)
            ts = events.timestamp
            return events.filter((ts > at(start, ts)) if after else (ts >= at(start, ts)),
                                 (ts < at(end, ts)) if before else (ts <= at(end, ts)))

        if lower is None:
            whole = cube.filter(cube.day < at(last_day, cube.day))
            partial = logged(last_day, as_of, after=False, before=False)
        elif first_day <= last_day:
            whole = cube.filter(cube.day >= at(first_day, cube.day), cube.day < at(last_day, cube.day))
            partial = ibis.union(logged(lower, first_day, after=True, before=True),
                                 logged(last_day, as_of, after=False, before=False), distinct=False)
        else:  # a window shorter than the days it spans: all of it from the event log
            whole = None
            partial = logged(lower, as_of, after=True, before=False)
        # nullable types on both sides: temporary tables and files may disagree on NOT NULL
        person, moment = dt.String(nullable=True), dt.Timestamp(timezone="UTC", scale=6, nullable=True)
        ts = partial.timestamp.cast(moment)
        rows = partial.select(person_id=partial.person_id.cast(person), n=ibis.literal(1, type="int64"),
                              first_at=ts, last_at=ts)
        if whole is not None:
            rows = ibis.union(rows, whole.select(person_id=whole.person_id.cast(person), n=whole.n.cast("int64"),
                                                 first_at=whole.first_at.cast(moment),
                                                 last_at=whole.last_at.cast(moment)), distinct=False)
        return rows.group_by("person_id").aggregate(n=rows.n.sum(), first_at=rows.first_at.min(),
                                                    last_at=rows.last_at.max())

    @staticmethod
    def _matching(table: Table, did: Did) -> Table:
        predicates = [compare(table[f.field], f, f"event field {f.field}") for f in did.filters]
        if did.event is not None:
            predicates.append(table.event == did.event)
        return table.filter(predicates) if predicates else table
