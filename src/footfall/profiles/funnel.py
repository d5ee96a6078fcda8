"""Funnels: how many people go from one step to the next, in order, each step within a window.

A step is an event with optional filters in the segment language's syntax (`Order Completed[channel=pos]`,
`"Product Viewed"[category=shoes]`; `footfall.segments` parses it and selects its events, so a funnel
step and a segment's `did` condition mean the same thing). A person reaches step k when one of their
step-k events follows (strictly later) an event by which they reached step k-1, within that step's
window. Every occurrence of a step counts, not only the first: viewing on day 0 and again on day 20,
then visiting on day 25, converts within a 14-day window. The time between steps is from the latest
qualifying step k-1 event to the person's first step-k event. One Ibis query per funnel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import ibis
from ibis.expr.types import Table

from footfall.errors import InvalidDefinitionError
from footfall.profiles.traits import default_as_of
from footfall.warehouse import Warehouse

MAX_STEPS = 10


class FunnelDefinitionError(InvalidDefinitionError):
    """A funnel step or window that cannot be read: `.field` (`step[0]`, `within`), `.position`
    (0-based, in the step as written) and `.expected` say where and what (HTTP 422 in the API)."""


@dataclass(frozen=True)
class StepResult:
    """One step of a funnel: who reached it and how long it took from the previous step."""

    step: str
    persons: int
    conversion_from_previous: float | None
    conversion_from_first: float | None
    median_hours_from_previous: float | None
    window: str | None

    def to_json(self) -> dict:
        return {"step": self.step, "persons": self.persons, "conversion_from_previous": self.conversion_from_previous,
                "conversion_from_first": self.conversion_from_first,
                "median_hours_from_previous": self.median_hours_from_previous, "within": self.window}


def _segment_language():
    from footfall.segments.language import SegmentSyntaxError, parse  # the segment package is heavier

    return SegmentSyntaxError, parse


def parse_step(text: str, field: str = "step"):
    """A step (`Name[key=value,...]`, the name quoted or not) as the segment language's `Did` rule."""
    SegmentSyntaxError, parse = _segment_language()
    stripped = text.strip()
    if not stripped:
        raise FunnelDefinitionError("a funnel step is empty: give an event name, e.g. \"Store Visited\"", field)
    prefix = "did "
    name_end = len(stripped)
    if not stripped.startswith('"'):
        name, bracket, rest = stripped.partition("[")
        name_end = len(name)
        stripped = f'"{name.strip()}"' + (bracket + rest if bracket else "")
        shift = len(name) - len(name.strip()) - 2  # the quotes added around the name
    else:
        shift = 0
    try:
        rule = parse(prefix + stripped)
    except SegmentSyntaxError as exc:
        # Back to a position in the step as it was written (before "did " and the added quotes).
        position = exc.position - len(prefix)
        position = max(0, min(position, name_end) if position <= name_end else position + shift)
        raise FunnelDefinitionError(
            f"funnel step {text!r}: expected {exc.expected} at column {position + 1}\n{text}\n{' ' * position}^",
            field, position, exc.expected,
        ) from None
    if type(rule).__name__ != "Did" or rule.window is not None or rule.count.value != 1:
        raise FunnelDefinitionError(f"funnel step {text!r}: give an event and filters only, e.g. Order Completed[channel=pos]", field)
    return rule


def parse_window(text: str) -> timedelta:
    """`12h`, `14d` or `2w` as a timedelta (the segment language's durations)."""
    SegmentSyntaxError, parse = _segment_language()
    try:
        rule = parse(f'did "x" in {text.strip()}')
    except SegmentSyntaxError:
        raise FunnelDefinitionError(f"window {text!r}: use a whole number of hours, days or weeks, e.g. 12h, 14d, 2w", "within") from None
    return timedelta(hours=rule.window.hours)


def _windows(within: Sequence[timedelta | None] | timedelta | None, steps: int) -> list[timedelta | None]:
    """One window per transition: a single value applies to all, else one per step after the first."""
    if within is None or isinstance(within, timedelta):
        return [within] * (steps - 1)
    within = list(within)
    if len(within) == 1:
        return within * (steps - 1)
    if len(within) != steps - 1:
        raise FunnelDefinitionError(f"{len(within)} windows for {steps} steps: give one for all steps, or one per step after the first ({steps - 1})", "within")
    return within


def _describe(window: timedelta | None) -> str | None:
    if window is None:
        return None
    hours = int(window.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def _step_events(warehouse: Warehouse, rule, as_of: datetime, since: datetime | None) -> Table:
    from footfall.segments.conditions import EventRows  # one definition of what a step's events are

    rows = EventRows(warehouse, as_of).matching(rule, None)
    if since is not None:
        rows = rows.filter(rows.timestamp >= ibis.literal(since, type=rows.timestamp.type()))
    return rows.select("person_id", "timestamp").distinct()


def _reached_next(previous: Table, candidates: Table, window: timedelta | None) -> Table:
    """The step-k events that follow one of the person's step-(k-1) events, within the window."""
    prev = previous.select(prev_person="person_id", prev_at="timestamp")
    predicates = [candidates.person_id == prev.prev_person, prev.prev_at < candidates.timestamp]
    if window is not None:
        predicates.append(candidates.timestamp <= prev.prev_at + ibis.interval(seconds=int(window.total_seconds())))
    return candidates.semi_join(prev, predicates)


def _step_summary(number: int, reached: Table, previous: Table | None, window: timedelta | None) -> Table:
    """(step, persons, median_s) of one step: one row."""
    persons = reached.person_id.nunique()
    if previous is None:
        return reached.aggregate(step=ibis.literal(number), persons=persons, median_s=ibis.null("float64"))
    first = reached.group_by("person_id").aggregate(reached_at=reached.timestamp.min())
    prev = previous.select(prev_person="person_id", prev_at="timestamp")
    predicates = [first.person_id == prev.prev_person, prev.prev_at < first.reached_at]
    if window is not None:
        predicates.append(first.reached_at <= prev.prev_at + ibis.interval(seconds=int(window.total_seconds())))
    pairs = first.join(prev, predicates)
    latest = pairs.group_by("person_id").aggregate(reached_at=pairs.reached_at.max(), prev_at=pairs.prev_at.max())
    # Whole seconds: DuckDB's epoch_seconds is fractional, Spark's whole; the same medians on both.
    seconds = (latest.reached_at.epoch_seconds().floor() - latest.prev_at.epoch_seconds().floor()).cast("float64")
    return latest.aggregate(step=ibis.literal(number), persons=latest.person_id.nunique(), median_s=seconds.median())


def funnel(warehouse: Warehouse, steps: Sequence[str], within: Sequence[timedelta | None] | timedelta | None = None,
           as_of: datetime | None = None, since: datetime | None = None) -> list[StepResult]:
    """Persons per step, conversion from the previous and the first step, median time between steps.

    `within`: one window for every step or one per step after the first (None: no limit); events
    after `as_of` (default: the latest event) and step-1 events before `since` are not counted.
    """
    if not 2 <= len(steps) <= MAX_STEPS:
        raise FunnelDefinitionError(f"a funnel needs 2 to {MAX_STEPS} steps, not {len(steps)}", "step")
    rules = [parse_step(step, f"step[{index}]") for index, step in enumerate(steps)]
    windows = _windows(within, len(steps))
    as_of = as_of or default_as_of(warehouse)
    if as_of is None:  # an empty lake: nobody reached anything
        return [StepResult(s, 0, None, None, None, None) for s in steps]
    reached = [_step_events(warehouse, rules[0], as_of, since)]
    for rule, window in zip(rules[1:], windows):
        reached.append(_reached_next(reached[-1], _step_events(warehouse, rule, as_of, None), window))
    summaries = [
        _step_summary(k, reached[k], reached[k - 1] if k else None, windows[k - 1] if k else None)
        for k in range(len(steps))
    ]
    plan = summaries[0]
    for summary in summaries[1:]:
        plan = plan.union(summary)
    rows = {row["step"]: row for row in plan.to_pyarrow().to_pylist()}
    results: list[StepResult] = []
    first = rows[0]["persons"]
    for k, step in enumerate(steps):
        persons = rows[k]["persons"]
        previous = rows[k - 1]["persons"] if k else None
        median_s = rows[k]["median_s"]
        results.append(StepResult(
            step=step.strip(),
            persons=persons,
            conversion_from_previous=None if k == 0 else (persons / previous if previous else 0.0),
            conversion_from_first=persons / first if first else 0.0,
            median_hours_from_previous=None if median_s is None else median_s / 3600,
            window=_describe(windows[k - 1]) if k else None,
        ))
    return results
