"""Event conditions: which events a `did` or a sequence step selects, and per-person aggregates of them.

Every condition filters `events` on typed columns first (time, event name, filters) and only then joins
the survivors to `event_persons`, the way hand-written SQL would. Two aggregates:

- `person_condition_counts`: ALL of a rule's `did` conditions in one pass (one scan, one join, one
  group by with a filtered count, first and last time per condition) — the compiler's default.
- `event_condition_counts`: one condition → (person_id, n, first_at, last_at) — the unit the
  incremental rollups replace (`compile_rule(counts=...)`), and the fallback for conditions on order
  lines (sku), whose rows are lines rather than events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import ibis
from ibis import _
from ibis.expr.types import BooleanValue, Column, Table

from footfall.errors import FootfallError
from footfall.segments.rules import Comparison, Count, Did, Duration, EventMatch

# Fields an order carries per line (order_lines): `same sku` and sku filters look at the lines too.
LINE_FIELDS = ("sku",)
NO_LINE_SKU = "(no sku)"  # in the rollup log's `skus`: an order line without an sku (the order's own sku)


class SegmentCompileError(FootfallError):
    """A rule that parses but cannot be evaluated here (unknown trait or segment, a missing table, a cycle)."""


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_json_text(document: str, path: str) -> str:
    """DuckDB: the text at a JSON path (None when absent)."""


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_json_text(document: str, path: str) -> str:
    """Spark: the text at a JSON path (None when absent)."""


# Reading `properties.a.b` per engine, natively (Ibis' JSON type falls back to a Python UDF on Spark).
JSON_TEXT = {"duckdb": _duckdb_json_text, "spark": _spark_json_text}


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def time_literal(moment: datetime, column: Column) -> Any:
    return ibis.literal(moment, type=column.type())


def _check_type(column: Column, value: Any, label: str) -> Any:
    """The value as a literal of the column's kind; a mismatch is the user's to fix, so say which."""
    kind = column.type()
    if value is None:
        return None
    if kind.is_string() and not isinstance(value, str):
        raise SegmentCompileError(f"{label} holds text: quote the value {value!r}")
    if kind.is_numeric() and not kind.is_boolean() and (isinstance(value, (str, bool))):
        raise SegmentCompileError(f"{label} holds numbers, not {value!r}")
    if kind.is_boolean() and not isinstance(value, bool):
        raise SegmentCompileError(f"{label} holds true/false, not {value!r}")
    if kind.is_timestamp():
        if not isinstance(value, str):
            raise SegmentCompileError(f"{label} holds timestamps: write one as a quoted ISO-8601 string")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise SegmentCompileError(f"{label}: {value!r} is not an ISO-8601 timestamp") from None
        return ibis.literal(as_utc(parsed), type=kind)
    return value


def compare(column: Column, comparison: Comparison, label: str) -> BooleanValue:
    """`column op value` with SQL's null rules, except that `= null` / `!= null` test for absence."""
    op, value = comparison.op, comparison.value
    if op in ("in", "not in"):
        present = [_check_type(column, v, label) for v in value if v is not None]
        test = column.isin(present) if present else ibis.literal(False)
        if None in value:
            test = test | column.isnull()
        return test if op == "in" else ~test & (column.notnull() if None not in value else ibis.literal(True))
    if value is None:
        return column.isnull() if op == "=" else column.notnull()
    literal = _check_type(column, value, label)
    return {"=": column == literal, "!=": column != literal, "<": column < literal, "<=": column <= literal,
            ">": column > literal, ">=": column >= literal}[op]


def count_test(n: Column, count: Count) -> BooleanValue:
    return {"=": n == count.value, "!=": n != count.value, "<": n < count.value, "<=": n <= count.value,
            ">": n > count.value, ">=": n >= count.value}[count.op]


def is_line_level(match: EventMatch, keep: Sequence[str] = ()) -> bool:
    """Whether a match must look at order lines (an sku of an order, which may have many)."""
    return match.event in (None, "Order Completed") and (
        any(f in LINE_FIELDS for f in keep) or any(f.field in LINE_FIELDS for f in match.filters))


class EventRows:
    """Events up to `as_of`, filtered on typed columns before anything is joined to them."""

    def __init__(self, warehouse: Any, as_of: datetime) -> None:
        self.warehouse = warehouse
        self.as_of = as_utc(as_of)

    def field(self, events: Table, name: str, value: Any) -> Column:
        """An event column, or a `properties.a.b` path read as the value's type."""
        if not name.startswith("properties."):
            return events[name]
        text = JSON_TEXT[self.warehouse.engine](events.properties, "$." + name.split(".", 1)[1])
        if isinstance(value, bool):
            return text.lower() == "true"
        if isinstance(value, (int, float)):
            return text.try_cast("float64")  # a non-number never matches, never fails
        return text

    def _filters(self, events: Table, match: EventMatch) -> list[BooleanValue]:
        return [compare(self.field(events, f.field, f.value), f, f"event field {f.field}") for f in match.filters]

    def predicate(self, events: Table, match: EventMatch, window: Duration | None) -> BooleanValue:
        """Whether an event row matches (name, filters, window); the `<= as_of` bound is the caller's."""
        tests = self._filters(events, match)
        if window is not None:
            lower = self.as_of - timedelta(hours=window.hours)
            tests.append(events.timestamp > time_literal(lower, events.timestamp))
        if match.event is not None:
            tests.append(events.event == match.event)
        return ibis.and_(*tests) if tests else ibis.literal(True)

    def up_to_as_of(self, events: Table) -> BooleanValue:
        return events.timestamp <= time_literal(self.as_of, events.timestamp)

    def matching(self, match: EventMatch, window: Duration | None, keep: tuple[str, ...] = ()) -> Table:
        """(person_id, message_id, timestamp, *keep) of the events a match selects; on orders, a row per
        order line when an sku is asked for (its own sku kept when it has no lines)."""
        rows = self.rows(self.warehouse.table("events"), match, window, keep)
        owners = self.warehouse.table("event_persons")
        return rows.join(owners, "message_id").select("person_id", "message_id", "timestamp", *keep)

    def rows(self, events: Table, match: EventMatch, window: Duration | None, keep: tuple[str, ...] = (),
             carry: tuple[str, ...] = ()) -> Table:
        """(message_id, timestamp, *keep, *carry) of the rows of `events` a match selects up to `as_of`
        (a row per order line when an sku is asked for); `carry`: columns passed through as they are,
        e.g. the person_id of an owner-stamped event log."""
        if is_line_level(match, keep):
            unfiltered = EventMatch(event=match.event, filters=tuple(f for f in match.filters if f.field not in LINE_FIELDS))
            selected = events.filter(self.up_to_as_of(events), self.predicate(events, unfiltered, window))
            if "skus" in selected.columns:  # the rollup log carries its orders' line skus
                # only the columns needed go through the unnest (the engine keeps whatever it is given)
                needed = dict.fromkeys(["message_id", "timestamp", "sku", *keep, *carry])
                selected = selected.select(*needed, line_sku=ibis.coalesce(selected.skus, ibis.array([selected.sku])).unnest())
            else:
                lines = self.warehouse.table("order_lines").select(line_message_id="message_id", line_sku="sku")
                selected = selected.left_join(lines, selected.message_id == lines.line_message_id)
            selected = selected.mutate(sku=ibis.coalesce(_.line_sku.nullif(NO_LINE_SKU), _.sku))
            line_filters = EventMatch(filters=tuple(f for f in match.filters if f.field in LINE_FIELDS))
            rows = selected.filter(*self._filters(selected, line_filters)) if line_filters.filters else selected
            return rows.select("message_id", "timestamp", *keep, *carry)
        columns = {"message_id": events.message_id, "timestamp": events.timestamp}
        for name in keep:
            columns[name] = self.field(events, name, "")
        columns.update({name: events[name] for name in carry})
        return events.filter(self.up_to_as_of(events), self.predicate(events, match, window)).select(**columns)


def event_condition_counts(warehouse: Any, condition: Did, as_of: datetime) -> Table:
    """Per person with at least one matching event: n (how many events), first_at and last_at.

    The single place one `did` condition is evaluated from raw events; the count comparison is the
    caller's. (An order matched through several of its lines still counts once.)
    """
    rows = EventRows(warehouse, as_of).matching(condition, condition.window)
    n = rows.message_id.nunique() if is_line_level(condition) else rows.count()
    return rows.group_by("person_id").aggregate(n=n, first_at=rows.timestamp.min(), last_at=rows.timestamp.max())


def person_condition_counts(warehouse: Any, conditions: Sequence[Did], as_of: datetime) -> Table:
    """Every condition at once: person_id, n_i, first_at_i, last_at_i for condition i (n_i = 0 when a
    person matched only other conditions). One scan of `events`, one join to `event_persons`."""
    source = EventRows(warehouse, as_of)
    events = warehouse.table("events")
    flags = {f"c_{i}": source.predicate(events, did, did.window) for i, did in enumerate(conditions)}
    rows = events.filter(source.up_to_as_of(events), ibis.or_(*flags.values())).select(
        "message_id", "timestamp", **flags)
    rows = rows.join(warehouse.table("event_persons"), "message_id")
    aggregates: dict[str, Any] = {}
    for i in range(len(conditions)):
        flag = rows[f"c_{i}"]
        aggregates[f"n_{i}"] = rows.message_id.count(where=flag)
        aggregates[f"first_at_{i}"] = rows.timestamp.min(where=flag)
        aggregates[f"last_at_{i}"] = rows.timestamp.max(where=flag)
    return rows.group_by("person_id").aggregate(**aggregates)
