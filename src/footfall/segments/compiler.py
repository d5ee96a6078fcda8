"""Compiling a segment rule into ONE Ibis expression: a table of the members' `person_id`s.

The plan is what hand-written SQL would do:

1. `in segment` references are expanded into the tree (cycles are an error).
2. All `did` conditions are aggregated in one pass over the events (`person_condition_counts`: one
   scan, one join to `event_persons`, one group by with a filtered count per condition).
3. Any part of the rule made only of `did`s, `and`, `or` and `not` becomes one filter over that
   table; when it holds for people with no events at all (`not did X`, `did X < 2`), it is an anti
   join of the people it excludes instead, so the full `persons` universe is read only then.
4. Sequences, traits, distances are their own small plans, combined with semi joins (`and`), anti
   joins (`not` parts of an `and`), distinct unions (`or`).

Nothing is executed while compiling and there is no loop over people, so the same expression runs on
DuckDB and Spark. With `counts=` (the incremental rollups), each `did` instead comes from that
function, one condition at a time (`event_condition_counts` is the raw-events version of it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import ibis
from ibis.expr.types import BooleanValue, Table

from footfall.segments.conditions import (
    EventRows,
    SegmentCompileError,
    compare,
    count_test,
    event_condition_counts,
    is_line_level,
    person_condition_counts,
)
from footfall.segments.rules import And, Count, Did, InSegment, NearStore, Not, Or, Rule, Sequence, Trait

__all__ = ["SegmentCompileError", "compare", "compile_rule", "event_condition_counts", "expand_segments"]

EARTH_RADIUS_M = 6_371_008.8
# A segment by name: its rule (tree or text), or an Ibis table of its members already evaluated.
SegmentLookup = Callable[[str], "Rule | str | Table | None"] | Mapping[str, "Rule | str | Table"]
EventCounts = Callable[[Did], Table]


def _lookup(segments: SegmentLookup | None, name: str) -> Rule | str | Table | None:
    if segments is not None:
        found = segments.get(name) if isinstance(segments, Mapping) else segments(name)
        if found is not None:
            return found
    from footfall.segments.builtin import BUILTIN_SEGMENTS

    return BUILTIN_SEGMENTS.get(name)


def expand_segments(rule: Rule, segments: SegmentLookup | None = None, expanding: tuple[str, ...] = ()) -> Rule:
    """The rule with every `in segment "x"` replaced by x's own rule (built-ins found by name too)."""
    if isinstance(rule, InSegment):
        if rule.name in expanding:
            cycle = " → ".join([*expanding[expanding.index(rule.name):], rule.name])
            raise SegmentCompileError(f"segment {rule.name!r} refers to itself: {cycle}")
        definition = _lookup(segments, rule.name)
        if definition is None:
            raise SegmentCompileError(f"no segment named {rule.name!r}")
        if isinstance(definition, Table):
            return rule  # members already evaluated: the compiler reads them as they are
        if isinstance(definition, str):
            from footfall.segments.language import parse

            definition = parse(definition)
        return expand_segments(definition, segments, (*expanding, rule.name))
    if isinstance(rule, (And, Or)):
        return type(rule)(rules=tuple(expand_segments(r, segments, expanding) for r in rule.rules))
    if isinstance(rule, Not):
        return Not(rule=expand_segments(rule.rule, segments, expanding))
    return rule


def _condition(did: Did) -> Did:
    """What a did's aggregate depends on: event, filters and window (the count is applied after)."""
    return did.model_copy(update={"count": Count()}) if did.count != Count() else did


def _dids(rule: Rule) -> list[Did]:
    if isinstance(rule, Did):
        return [rule]
    if isinstance(rule, (And, Or)):
        return [d for r in rule.rules for d in _dids(r)]
    if isinstance(rule, Not):
        return _dids(rule.rule)
    return []


class _Compiler:
    def __init__(self, warehouse: Any, as_of: datetime, rule: Rule, counts: EventCounts | None,
                 segments: SegmentLookup | None = None) -> None:
        self.warehouse = warehouse
        self.segments = segments
        self.events = EventRows(warehouse, as_of)
        self.counts = counts or (lambda did: event_condition_counts(warehouse, did, as_of))
        self.cache: dict[Any, Table] = {}  # one expression per distinct sub-rule
        # The one-pass table of every did condition (not with rollups, not for order-line conditions).
        self.columns: dict[Did, int] = {}
        if counts is None:
            for did in _dids(rule):
                if not is_line_level(did):
                    self.columns.setdefault(_condition(did), len(self.columns))
        self.wide = person_condition_counts(warehouse, list(self.columns), as_of) if self.columns else None

    def table(self, name: str, purpose: str) -> Table:
        if name not in self.warehouse.materialized_tables():
            raise SegmentCompileError(f"{purpose} needs the `{name}` table: "
                                      + ("run `footfall profile build`" if name == "profiles" else "run `footfall resolve`"))
        return self.warehouse.table(name)

    def persons(self) -> Table:
        return self.table("persons", "a segment").select("person_id")

    # -- rules made only of did / and / or / not: one filter over the one-pass table ----------------
    def pure(self, rule: Rule) -> bool:
        if isinstance(rule, Did):
            return _condition(rule) in self.columns
        if isinstance(rule, (And, Or)):
            return all(self.pure(r) for r in rule.rules)
        if isinstance(rule, Not):
            return self.pure(rule.rule)
        return False

    def predicate(self, rule: Rule) -> BooleanValue:
        if isinstance(rule, Did):
            return count_test(self.wide[f"n_{self.columns[_condition(rule)]}"], rule.count)
        if isinstance(rule, And):
            return ibis.and_(*(self.predicate(r) for r in rule.rules))
        if isinstance(rule, Or):
            return ibis.or_(*(self.predicate(r) for r in rule.rules))
        return ~self.predicate(rule.rule)

    @staticmethod
    def holds_for_nobody(rule: Rule) -> bool:
        """Whether a pure rule is true for a person with no matching events at all."""
        if isinstance(rule, Did):
            return rule.count.holds(0)
        if isinstance(rule, And):
            return all(_Compiler.holds_for_nobody(r) for r in rule.rules)
        if isinstance(rule, Or):
            return any(_Compiler.holds_for_nobody(r) for r in rule.rules)
        return not _Compiler.holds_for_nobody(rule.rule)

    def narrow(self, members: Table | None, rule: Rule) -> Table:
        """`members` (None: everyone) cut to those for whom the pure `rule` holds."""
        if self.holds_for_nobody(rule):
            failing = self.wide.filter(~self.predicate(rule))
            return (members if members is not None else self.persons()).anti_join(failing, "person_id")
        passing = self.wide.filter(self.predicate(rule)).select("person_id")
        return passing if members is None else members.semi_join(passing, "person_id")

    # -- everything else -------------------------------------------------------------------------
    def compile(self, rule: Rule) -> Table:
        if rule not in self.cache:
            self.cache[rule] = self._compile(rule).select("person_id")
        return self.cache[rule]

    def _compile(self, rule: Rule) -> Table:
        if self.pure(rule):
            return self.narrow(None, rule)
        if isinstance(rule, And):
            return self.conjunction(rule)
        if isinstance(rule, Or):
            pure = [r for r in rule.rules if self.pure(r)]
            parts = [self.compile(r) for r in rule.rules if not self.pure(r)]
            if pure:
                parts.append(self.compile(pure[0] if len(pure) == 1 else Or(rules=tuple(pure))))
            return ibis.union(*parts, distinct=True)
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
        if isinstance(rule, InSegment):  # left in the tree only when its members were given as a table
            return _lookup(self.segments, rule.name).select("person_id")
        raise TypeError(f"not a segment rule: {rule!r}")

    def conjunction(self, rule: And) -> Table:
        """Semi joins for the positive parts, anti joins for the negated ones, one filter for the dids."""
        pure = [r for r in rule.rules if self.pure(r)]
        positive = [r for r in rule.rules if not self.pure(r) and not isinstance(r, Not)]
        negative = [r.rule for r in rule.rules if not self.pure(r) and isinstance(r, Not)]
        members = self.compile(positive[0]) if positive else None
        for part in positive[1:]:
            members = members.semi_join(self.compile(part), "person_id")
        if pure:
            members = self.narrow(members, pure[0] if len(pure) == 1 else And(rules=tuple(pure)))
        members = members if members is not None else self.persons()
        for part in negative:
            members = members.anti_join(self.compile(part), "person_id")
        return members

    def did(self, rule: Did) -> Table:
        counts = self.counts(rule)
        if rule.count.holds(0):
            # "fewer than 3" includes people with none: everyone but those whose count fails
            return self.persons().anti_join(counts.filter(~count_test(counts.n, rule.count)), "person_id")
        return counts.filter(count_test(counts.n, rule.count))

    def sequence(self, rule: Sequence) -> Table:
        """People with an A event followed, strictly later and within the bound, by a B event sharing `same`."""
        first = self.events.matching(rule.first, rule.window, rule.same).drop("message_id")
        then = self.events.matching(rule.then, rule.window, rule.same).drop("message_id").rename(
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
        return profiles.filter(compare(profiles[rule.name], rule, f"trait {rule.name}"))

    def near_store(self, rule: NearStore) -> Table:
        """Great-circle distance from the profile's home location to the store (or any store)."""
        profiles = self.profiles("home_lat", "within … of store")
        homes = profiles.filter(profiles.home_lat.notnull() & profiles.home_lon.notnull()).select(
            "person_id", "home_lat", "home_lon")
        stores = self.warehouse.table("stores")
        if rule.store_id is not None:
            stores = stores.filter(stores.store_id == rule.store_id)
        pairs = homes.cross_join(stores.select(store_lat="lat", store_lon="lon"))
        radians = math.pi / 180.0
        dlat = (pairs.store_lat - pairs.home_lat) * radians / 2
        dlon = (pairs.store_lon - pairs.home_lon) * radians / 2
        a = dlat.sin() ** 2 + (pairs.home_lat * radians).cos() * (pairs.store_lat * radians).cos() * dlon.sin() ** 2
        metres = 2 * EARTH_RADIUS_M * ibis.least(a, 1.0).sqrt().asin()
        return pairs.filter(metres <= rule.metres).select("person_id").distinct()


def compile_rule(rule: Rule | str, warehouse: Any, as_of: datetime, segments: SegmentLookup | None = None,
                 counts: EventCounts | None = None) -> Table:
    """One Ibis expression for the members of `rule` at `as_of`: a table with one column, person_id.

    segments: finds other segments by name for `in segment "x"` (a mapping or a function giving a
        rule, its text, or an Ibis table of members already evaluated — e.g. a segment materialised
        earlier in the same run; the built-ins are found when it does not know the name).
    counts: per-condition aggregates replacing `event_condition_counts` (the incremental rollups).
    """
    if isinstance(rule, str):
        from footfall.segments.language import parse

        rule = parse(rule)
    expanded = expand_segments(rule, segments)
    return _Compiler(warehouse, as_of, expanded, counts, segments).compile(expanded)
