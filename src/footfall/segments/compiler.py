"""Compiling a segment rule into ONE Ibis expression: a table of the members' `person_id`s.

The plan is what hand-written SQL would do. Each event condition filters `events` early on typed
columns, joins the survivors to `event_persons` and aggregates once per person
(`event_condition_counts`: n, first_at, last_at); `and` becomes semi joins (anti joins for its `not`
children), `or` a distinct union, a lone `not` an anti join against `persons`. Nothing is executed
while compiling and there is no loop over people, so the same expression runs on DuckDB and Spark.

`event_condition_counts` is the one place a `did` condition meets the events: an incremental refresh
(rollups) passes its own implementation as `counts=`; everything else stays the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import ibis
from ibis import _
from ibis.expr.types import BooleanValue, Column, Table

from footfall.errors import FootfallError
from footfall.segments.rules import (
    And,
    Comparison,
    Count,
    Did,
    Duration,
    EventMatch,
    InSegment,
    NearStore,
    Not,
    Or,
    Rule,
    Sequence,
    Trait,
)

EARTH_RADIUS_M = 6_371_008.8
# Fields an order carries per line (order_lines): `same sku` and sku filters look at the lines too.
LINE_FIELDS = ("sku",)
SegmentLookup = Callable[[str], "Rule | str | None"] | Mapping[str, "Rule | str"]
EventCounts = Callable[[Did], Table]


@ibis.udf.scalar.builtin(name="json_extract_string")
def _duckdb_json_text(document: str, path: str) -> str:
    """DuckDB: the text at a JSON path (None when absent)."""


@ibis.udf.scalar.builtin(name="get_json_object")
def _spark_json_text(document: str, path: str) -> str:
    """Spark: the text at a JSON path (None when absent)."""


# Reading `properties.a.b` per engine, natively (Ibis' JSON type falls back to a Python UDF on Spark).
JSON_TEXT = {"duckdb": _duckdb_json_text, "spark": _spark_json_text}


class SegmentCompileError(FootfallError):
    """A rule that parses but cannot be evaluated here (unknown trait or segment, a missing table, a cycle)."""


def _as_utc(as_of: datetime) -> datetime:
    return as_of.replace(tzinfo=timezone.utc) if as_of.tzinfo is None else as_of.astimezone(timezone.utc)


def _time(as_of: datetime, column: Column) -> Any:
    return ibis.literal(as_of, type=column.type())


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
        return ibis.literal(_as_utc(parsed), type=kind)
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


def _count_test(n: Column, count: Count) -> BooleanValue:
    return {"=": n == count.value, "!=": n != count.value, "<": n < count.value, "<=": n <= count.value,
            ">": n > count.value, ">=": n >= count.value}[count.op]


class _Events:
    """Events up to `as_of`, filtered on typed columns before anything is joined to them."""

    def __init__(self, warehouse: Any, as_of: datetime) -> None:
        self.warehouse = warehouse
        self.as_of = _as_utc(as_of)

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

    def matching(self, match: EventMatch, window: Duration | None, keep: tuple[str, ...] = ()) -> Table:
        """(person_id, timestamp, *keep) of the events a match selects; order lines stand in for sku."""
        events = self.warehouse.table("events")
        line_level = match.event in (None, "Order Completed") and (
            any(f in LINE_FIELDS for f in keep) or any(f.field in LINE_FIELDS for f in match.filters))
        predicates = [events.timestamp <= _time(self.as_of, events.timestamp)]
        if window is not None:
            predicates.append(events.timestamp > _time(self.as_of - timedelta(hours=window.hours), events.timestamp))
        if match.event is not None:
            predicates.append(events.event == match.event)
        columns = {"message_id": events.message_id, "timestamp": events.timestamp}
        for name in keep:
            columns[name] = self.field(events, name, "")
        if line_level:
            # An order's skus are on its lines; an event that names one sku keeps it.
            selected = events.filter(predicates)
            lines = self.warehouse.table("order_lines").select(message_id="message_id", line_sku="sku")
            selected = selected.left_join(lines, "message_id").mutate(sku=ibis.coalesce(_.line_sku, _.sku))
            predicates = [compare(self.field(selected, f.field, f.value), f, f"event field {f.field}")
                          for f in match.filters]
            rows = selected.filter(predicates) if predicates else selected
            rows = rows.select("message_id", "timestamp", *keep)
        else:
            predicates += [compare(self.field(events, f.field, f.value), f, f"event field {f.field}")
                           for f in match.filters]
            rows = events.filter(predicates).select(**columns)
        owners = self.warehouse.table("event_persons")
        return rows.join(owners, "message_id").select("person_id", "timestamp", *keep)


def event_condition_counts(warehouse: Any, condition: Did, as_of: datetime) -> Table:
    """Per person with at least one matching event: n (how many), first_at and last_at.

    The single place a `did` condition is evaluated from raw events (one pass over the filtered
    events); the count comparison is applied by the caller.
    """
    rows = _Events(warehouse, as_of).matching(condition, condition.window)
    return rows.group_by("person_id").aggregate(
        n=rows.count(), first_at=rows.timestamp.min(), last_at=rows.timestamp.max())


class _Compiler:
    def __init__(self, warehouse: Any, as_of: datetime, segments: SegmentLookup | None,
                 counts: EventCounts | None) -> None:
        self.warehouse = warehouse
        self.events = _Events(warehouse, as_of)
        self.segments = segments
        self.counts = counts or (lambda did: event_condition_counts(warehouse, did, as_of))
        self.cache: dict[Any, Table] = {}  # one expression per distinct condition
        self.expanding: list[str] = []

    def table(self, name: str, purpose: str) -> Table:
        if name not in self.warehouse.materialized_tables():
            raise SegmentCompileError(f"{purpose} needs the `{name}` table: "
                                      + ("run `footfall profile build`" if name == "profiles" else "run `footfall resolve`"))
        return self.warehouse.table(name)

    def persons(self) -> Table:
        return self.table("persons", "a segment").select("person_id")

    def compile(self, rule: Rule) -> Table:
        if rule not in self.cache:
            self.cache[rule] = self._compile(rule)
        return self.cache[rule]

    def _compile(self, rule: Rule) -> Table:
        if isinstance(rule, And):
            return self.conjunction(rule)
        if isinstance(rule, Or):
            return ibis.union(*(self.compile(r) for r in rule.rules), distinct=True)
        if isinstance(rule, Not):
            return self.persons().anti_join(self.compile(rule.rule), "person_id")
        if isinstance(rule, Did):
            return self.did(rule)
        if isinstance(rule, Sequence):
            return self.sequence(rule)
        if isinstance(rule, Trait):
            return self.trait(rule)
        if isinstance(rule, NearStore):
            return self.near_store(rule)
        if isinstance(rule, InSegment):
            return self.in_segment(rule)
        raise TypeError(f"not a segment rule: {rule!r}")

    def conjunction(self, rule: And) -> Table:
        """Semi joins for the positive parts, anti joins for the negated ones (no universe unless needed)."""
        positive = [r for r in rule.rules if not isinstance(r, Not)]
        negative = [r.rule for r in rule.rules if isinstance(r, Not)]
        members = self.compile(positive[0]) if positive else self.persons()
        for part in positive[1:]:
            members = members.semi_join(self.compile(part), "person_id")
        for part in negative:
            members = members.anti_join(self.compile(part), "person_id")
        return members.select("person_id")

    def did(self, rule: Did) -> Table:
        counts = self.counts(rule)
        if rule.count.holds(0):
            # "fewer than 3" includes people with none: everyone but those whose count fails
            failing = counts.filter(~_count_test(counts.n, rule.count))
            return self.persons().anti_join(failing, "person_id")
        return counts.filter(_count_test(counts.n, rule.count)).select("person_id")

    def sequence(self, rule: Sequence) -> Table:
        """People with an A event followed, strictly later and within the bound, by a B event sharing `same`."""
        first = self.events.matching(rule.first, rule.window, rule.same)
        then = self.events.matching(rule.then, rule.window, rule.same).rename(
            {"then_timestamp": "timestamp", **{f"then_{f}": f for f in rule.same}, "then_person_id": "person_id"})
        predicates = [first.person_id == then.then_person_id, then.then_timestamp > first.timestamp]
        predicates += [first[f] == then[f"then_{f}"] for f in rule.same]
        if rule.within is not None:
            predicates.append(then.then_timestamp <= first.timestamp + ibis.interval(hours=rule.within.hours))
        return first.join(then, predicates).select("person_id").distinct()

    def profiles(self, column: str, purpose: str) -> Table:
        profiles = self.table("profiles", purpose)
        if column not in profiles.columns:
            raise SegmentCompileError(f"{purpose}: the profiles table has no column {column!r}; "
                                      f"known traits: {', '.join(c for c in profiles.columns if c != 'person_id')}")
        return profiles

    def trait(self, rule: Trait) -> Table:
        profiles = self.profiles(rule.name, f"trait {rule.name}")
        return profiles.filter(compare(profiles[rule.name], rule, f"trait {rule.name}")).select("person_id")

    def near_store(self, rule: NearStore) -> Table:
        """Great-circle distance from the profile's home location to the store (or any store)."""
        profiles = self.profiles("home_lat", "within … of store")
        homes = profiles.filter(profiles.home_lat.notnull() & profiles.home_lon.notnull()).select(
            "person_id", "home_lat", "home_lon")
        stores = self.warehouse.table("stores")
        if rule.store_id is not None:
            stores = stores.filter(stores.store_id == rule.store_id)
        stores = stores.select(store_lat="lat", store_lon="lon")
        pairs = homes.cross_join(stores)
        radians = math.pi / 180.0
        dlat = (pairs.store_lat - pairs.home_lat) * radians / 2
        dlon = (pairs.store_lon - pairs.home_lon) * radians / 2
        a = dlat.sin() ** 2 + (pairs.home_lat * radians).cos() * (pairs.store_lat * radians).cos() * dlon.sin() ** 2
        metres = 2 * EARTH_RADIUS_M * a.sqrt().asin()
        return pairs.filter(metres <= rule.metres).select("person_id").distinct()

    def in_segment(self, rule: InSegment) -> Table:
        if rule.name in self.expanding:
            cycle = " → ".join([*self.expanding[self.expanding.index(rule.name):], rule.name])
            raise SegmentCompileError(f"segment {rule.name!r} refers to itself: {cycle}")
        definition = self._lookup(rule.name)
        if definition is None:
            raise SegmentCompileError(f"no segment named {rule.name!r}")
        if isinstance(definition, str):
            from footfall.segments.language import parse

            definition = parse(definition)
        self.expanding.append(rule.name)
        try:
            return self._compile(definition)
        finally:
            self.expanding.pop()

    def _lookup(self, name: str) -> Rule | str | None:
        if self.segments is not None:
            found = self.segments.get(name) if isinstance(self.segments, Mapping) else self.segments(name)
            if found is not None:
                return found
        from footfall.segments.builtin import BUILTIN_SEGMENTS

        return BUILTIN_SEGMENTS.get(name)


def compile_rule(rule: Rule | str, warehouse: Any, as_of: datetime, segments: SegmentLookup | None = None,
                 counts: EventCounts | None = None) -> Table:
    """One Ibis expression for the members of `rule` at `as_of`: a table with one column, person_id.

    segments: finds other segments by name for `in segment "x"` (a mapping or a function; the
        built-ins are found when it does not know the name).
    counts: replaces `event_condition_counts` (the incremental rollups do).
    """
    if isinstance(rule, str):
        from footfall.segments.language import parse

        rule = parse(rule)
    return _Compiler(warehouse, as_of, segments, counts).compile(rule)
