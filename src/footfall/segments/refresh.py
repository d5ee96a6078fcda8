"""`refresh_segments`: bring segments up to date after a load by re-evaluating only who may have changed.

A person's result for a rule at `as_of` depends on their events with timestamps up to `as_of` (and,
for windowed conditions, after `as_of - window`), their profile and the persons table. Between two
refreshes (`before` → `as_of`) it can only change for:

1. people with newly rolled-up events that some event condition of the rule (or of a segment it
   refers to) matches — the cube parts added since this segment's last refresh, late events
   included, whatever day they land on;
2. people with such an event that time carried across a boundary: one in `(before, as_of]` now
   counts (it was in the future), one in `(before - w, as_of - w]` has slid out of the window `w` of
   its condition. The cube's first/last times per person-day find them without per-person state: a
   row whose `[first_at, last_at]` meets the interval may hold such an event.

A condition is matched on the cube's columns only (event, realm, channel, store, fulfilment); filters
on other columns are left out, which can only add people, never miss one.

Everyone else keeps their result, so the new members are (old members − affected) ∪ (affected people
who match), with the rule compiled by the ordinary compiler against the rollups restricted to the
affected people (`RollupView`). The whole segment is evaluated again (still from the rollups) when that
argument does not hold: the first refresh, a changed definition, a rebuild of the rollups (identity
changed), `as_of` moving backwards, a rule that reads profile traits (profiles are rebuilt whole), or
one that filters on an event column the rollups do not keep (JSON properties, identifiers, pages).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ibis.expr.types import Table

from footfall.lake import fsync_path
from footfall.segments.compiler import compile_rule, expand_segments
from footfall.segments.condition_state import CONDITIONS_DIR, ConditionStates, holds, leaf_key, leaves, unsupported
from footfall.segments.rollup_eval import RollupView, _utc, bind, matching_any
from footfall.segments.rollups import CUBE, LOG_COLUMNS, RollupUpdate, exclusive, files_table, rollup_dir, update_rollups
from footfall.segments.rules import (
    Did,
    EventMatch,
    InSegment,
    NearStore,
    Rule,
    Sequence,
    Trait,
    atoms,
    rule_to_json,
)

STATE_DIR = "segments"
MEMBERS = pa.schema([pa.field("person_id", pa.string())])
# members found from condition states also keep their codes, so the next refresh diffs arrays, not ids
CODED_MEMBERS = pa.schema([pa.field("person_id", pa.string()), pa.field("code", pa.int32())])
SegmentLookup = Callable[[str], "Rule | str | None"]


@dataclass
class RefreshReport:
    """What refreshing one segment touched and changed."""

    segment: str
    mode: str  # "incremental" or "full"
    rollups: str  # what the rollup update did: unchanged, incremental or rebuild
    reason: str  # why a full evaluation, or what the incremental one looked at
    as_of: datetime
    new_batches: int
    new_events: int
    persons_evaluated: int | None  # None: everyone
    members: int
    entered: int
    exited: int


@dataclass
class _State:
    rule: dict
    as_of: str
    generation: str
    cube_parts: list[str]
    members_file: str
    leaves: dict[str, list] | None = None  # condition-state leaf key → [lineage, version] the members reflect


@dataclass(frozen=True)
class _Leaf:
    """An event match the rule reads, and the window (hours) it is read in, if any."""

    match: EventMatch
    window_hours: int | None


@dataclass
class _RuleShape:
    """What a rule (with the segments it refers to) reads: its event leaves, and whether profile traits."""

    leaves: list[_Leaf] = field(default_factory=list)
    traits: bool = False
    same: list[str] = field(default_factory=list)  # fields sequences require to be equal
    raw_columns: bool = False  # a filter or `same` names a column the event log lacks (properties.…, email, ...)
    opaque: bool = False  # refers to a segment given as evaluated members: its conditions are unknown


def _shape(rule: Rule, lookup: SegmentLookup, seen: tuple[str, ...] = ()) -> _RuleShape:
    shape = _RuleShape()
    for node in atoms(rule):
        if isinstance(node, Did):
            shape.leaves.append(_Leaf(node, node.window.hours if node.window else None))
            shape.raw_columns |= any(f.field not in LOG_COLUMNS for f in node.filters)
        elif isinstance(node, Sequence):
            hours = node.window.hours if node.window else None
            shape.leaves += [_Leaf(node.first, hours), _Leaf(node.then, hours)]
            fields = [*node.same, *(f.field for f in (*node.first.filters, *node.then.filters))]
            shape.same += list(node.same)
            shape.raw_columns |= any(name not in LOG_COLUMNS for name in fields)
        elif isinstance(node, (Trait, NearStore)):
            shape.traits = True
        elif isinstance(node, InSegment) and node.name not in seen:
            found = lookup(node.name)
            if isinstance(found, str):
                from footfall.segments.language import parse

                found = parse(found)
            if isinstance(found, Table):
                shape.opaque = True
            elif found is not None:
                inner = _shape(found, lookup, (*seen, node.name))
                shape.leaves += inner.leaves
                shape.same += inner.same
                shape.traits |= inner.traits
                shape.raw_columns |= inner.raw_columns
                shape.opaque |= inner.opaque
    return shape


def _state_dir(warehouse: Any, name: str) -> Path:
    return rollup_dir(warehouse.project) / STATE_DIR / name


def _load_state(directory: Path) -> _State | None:
    path = directory / "state.json"
    if not path.exists():
        return None
    return _State(**json.loads(path.read_text(encoding="utf-8")))


def _save_state(directory: Path, state: _State, members: pa.Table) -> None:
    """Members file first, then the state naming it, replaced atomically; the old members file goes."""
    directory.mkdir(parents=True, exist_ok=True)
    previous = _load_state(directory)
    schema = CODED_MEMBERS if "code" in members.column_names else MEMBERS
    # ids are unique: written plain (a dictionary of them is tried, overflows and costs ten times the write)
    pq.write_table(members.select(schema.names).cast(schema), directory / state.members_file, use_dictionary=False)
    fsync_path(directory / state.members_file)
    temporary = directory / f".state.{uuid.uuid4().hex}"
    temporary.write_text(json.dumps(asdict(state)), encoding="utf-8")
    fsync_path(temporary)
    os.replace(temporary, directory / "state.json")
    fsync_path(directory)
    if previous is not None and previous.members_file != state.members_file:
        (directory / previous.members_file).unlink(missing_ok=True)


def _bind(warehouse: Any, data: pa.Table) -> Table:
    return bind(warehouse, f"_refresh_persons_{uuid.uuid4().hex[:12]}", data)


def _affected_persons(warehouse: Any, view: RollupView, new_parts: list[str], before: datetime,
                      as_of: datetime, leaves: list[_Leaf]) -> Table:
    """person_id of everyone whose result may differ between `before` and `as_of` (module docstring):
    people with new events some leaf matches, or with such events crossing `as_of` or a window edge."""
    directory = rollup_dir(warehouse.project)
    added = matching_any(files_table(warehouse, [directory / p for p in new_parts], CUBE), [l.match for l in leaves])
    person = dt.String(nullable=True)  # files and temporary tables may disagree on NOT NULL
    found = [added.select(person_id=added.person_id.cast(person))]
    if as_of > before:
        intervals = [((before, as_of), leaves)]  # events that were in the future and now count
        for hours in sorted({leaf.window_hours for leaf in leaves if leaf.window_hours is not None}):
            slid = timedelta(hours=hours)
            intervals.append(((before - slid, as_of - slid), [l for l in leaves if l.window_hours == hours]))
        for (start, end), which in intervals:
            cube = view.cube_between(start, end)
            lit = lambda moment: ibis.literal(moment, type=cube.first_at.type())  # noqa: E731
            day_start = start.replace(hour=0, minute=0, second=0, microsecond=0)
            rows = cube.filter(cube.day >= lit(day_start), cube.day <= lit(end),
                               cube.first_at <= lit(end), cube.last_at > lit(start))
            rows = matching_any(rows, [l.match for l in which])
            found.append(rows.select(person_id=rows.person_id.cast(person)))
    union = ibis.union(*found, distinct=True) if len(found) > 1 else found[0].distinct()
    return union.semi_join(warehouse.table("persons").select("person_id"), "person_id")


@dataclass
class _Plan:
    """One segment's refresh, decided before anything is evaluated."""

    name: str
    rule: Rule
    shape: _RuleShape
    state: _State | None
    reason: str | None  # why everyone is evaluated; None: incremental
    affected: Table | pa.Table | None = None  # person_id of the people to re-evaluate (incremental)
    expanded: Rule | None = None  # with condition states: the rule, `in segment` expanded
    evaluated: int | None = None  # with condition states: how many people were evaluated (None: everyone)
    leaves: dict[str, list] | None = None  # the leaf versions its new members reflect


def _plan(warehouse: Any, view: RollupView, name: str, rule: Rule, as_of: datetime, manifest: Any,
          lookup: SegmentLookup) -> _Plan:
    state = _load_state(_state_dir(warehouse, name))
    shape = _shape(rule, lookup)
    expanded = None if shape.opaque else expand_segments(rule, lookup)
    leafy = expanded is not None and unsupported(expanded) is None
    reason = None
    if state is None:
        reason = "first refresh"
    elif state.rule != rule_to_json(rule):
        reason = "definition changed"
    elif state.generation != manifest.generation:
        reason = "rollups rebuilt (identity changed)"
    elif _utc(datetime.fromisoformat(state.as_of)) > as_of:
        reason = "as_of moved back"
    elif shape.traits and not leafy:
        reason = "reads profile traits"
    elif shape.raw_columns or shape.opaque:
        reason = ("filters on a column the rollups do not keep" if shape.raw_columns
                  else "refers to members given as a table")
    plan = _Plan(name, rule, shape, state, reason, expanded=expanded if leafy else None)
    if reason is None and not leafy:
        new_parts = [p for p in manifest.cube if p not in set(state.cube_parts)]
        before = _utc(datetime.fromisoformat(state.as_of))
        plan.affected = _affected_persons(warehouse, view, new_parts, before, as_of, shape.leaves)
    return plan


@dataclass
class _Coded:
    """Members found from condition states: codes of the generation's universe, sorted."""

    codes: np.ndarray
    previous: np.ndarray | None  # the previous members' codes (None: not kept as codes)
    universe: pa.Array

    def table(self) -> pa.Table:
        return pa.table({"person_id": self.universe.take(self.codes), "code": self.codes.astype(np.int32)})


def _previous_codes(warehouse: Any, plan: _Plan, generation: str) -> np.ndarray | None:
    """The codes of the members a segment's last refresh kept, if it kept them in this generation."""
    state = plan.state
    if state is None or state.generation != generation:
        return None
    path = _state_dir(warehouse, plan.name) / state.members_file
    if "code" not in pq.read_schema(path).names:
        return None
    return pq.read_table(path, columns=["code"])["code"].to_numpy()


def _from_conditions(warehouse: Any, plans: list[_Plan], states: ConditionStates) -> dict[str, _Coded]:
    """Segments refreshed from condition states: who changed is read from the leaves' deltas, and their
    result is the rule over the kept numbers; a segment that cannot tell (first refresh, a leaf started
    over) is evaluated for everyone, from the same numbers. People are codes (`ConditionStates.universe`),
    sets of them boolean masks over the universe."""
    universe = states.universe()
    found: dict[str, _Coded] = {}
    for plan in plans:
        keys = [leaf_key(leaf) for leaf in leaves(plan.expanded)]
        kept = plan.state.leaves if plan.state is not None and plan.state.leaves else {}
        previous = _previous_codes(warehouse, plan, states.manifest.generation)
        changed = [states.changed_since(key, kept.get(key)) for key in keys] if plan.reason is None else [None]
        members = np.zeros(len(universe), bool)
        if previous is None or any(c is None for c in changed):
            plan.reason = plan.reason or ("condition state started over" if previous is not None
                                          else "members were kept without codes")
            people = np.arange(len(universe))
        else:
            touched = np.zeros(len(universe), bool)
            for codes in changed:
                touched[codes] = True
            people = np.flatnonzero(touched)
            members[previous] = True
            plan.evaluated = len(people)
        members[people] = holds(plan.expanded, {key: states.dense(key)[people] for key in keys})
        found[plan.name] = _Coded(np.flatnonzero(members), previous, universe)
        plan.leaves = {key: states.token(key) for key in keys}
    return found


def _refresh(warehouse: Any, rules: list[tuple[str, Rule]], as_of: datetime, update: RollupUpdate,
             lookup: SegmentLookup, progress: Callable[[str], None] | None = None) -> list[tuple[RefreshReport, pa.Table]]:
    """Refresh segments against already-updated rollups; (report, members) per segment.

    The affected people of all incremental segments are read from the rollups once, together: their
    rows that some condition of those segments may select become temporary tables every segment reads.
    """
    # leaf and segment states are shared by the segments of concurrent refreshes: one at a time
    with exclusive(rollup_dir(warehouse.project) / CONDITIONS_DIR):
        return _refresh_locked(warehouse, rules, _utc(as_of), update, lookup, progress)


def _refresh_locked(warehouse: Any, rules: list[tuple[str, Rule]], as_of: datetime, update: RollupUpdate,
                    lookup: SegmentLookup, progress: Callable[[str], None] | None) -> list[tuple[RefreshReport, pa.Table]]:
    manifest = update.manifest
    view = RollupView(warehouse, manifest)
    plans = [_plan(warehouse, view, name, rule, as_of, manifest, lookup) for name, rule in rules]
    found: dict[str, pa.Table | _Coded] = {}
    leafy = [p for p in plans if p.expanded is not None]
    if leafy:
        states = ConditionStates(warehouse, view, manifest, as_of)
        states.advance([leaf for p in leafy for leaf in leaves(p.expanded)])
        found.update(_from_conditions(warehouse, leafy, states))
    incremental = [p for p in plans if p.reason is None and p.expanded is None]
    if incremental:
        # who is affected, for every segment in one query (each query costs a compile and a round trip)
        text = dt.String(nullable=True)  # the parts of a union must agree on NOT NULL too
        labelled = [p.affected.select(segment=ibis.literal(p.name).cast(text), person_id=p.affected.person_id.cast(text))
                    for p in incremental]
        affected = warehouse.to_arrow(ibis.union(*labelled, distinct=False) if len(labelled) > 1 else labelled[0])
        for plan in incremental:
            plan.affected = affected.filter(pc.equal(affected["segment"], plan.name)).select(["person_id"])
        busy = [p for p in incremental if p.affected.num_rows]
        if busy:
            found.update(_reevaluate(warehouse, view, busy, affected, as_of, lookup))
    done = []
    for plan in plans:
        if progress:
            progress(f"refreshing {plan.name}")
        done.append(_finish(warehouse, plan, view, found.get(plan.name), as_of, update, lookup))
    return done


def _reevaluate(warehouse: Any, view: RollupView, busy: list[_Plan], affected: pa.Table, as_of: datetime,
                lookup: SegmentLookup) -> dict[str, pa.Table]:
    """The affected people who match, per segment: their rows are read from the rollups once, for
    every segment together, and all segments are evaluated in one query."""
    bound = _bind(warehouse, affected)
    everyone = bound.select("person_id").distinct()
    shared = view.keep(everyone, [leaf.match for p in busy for leaf in p.shape.leaves],
                       tuple(field for p in busy for field in p.shape.same))
    results = []
    for plan in busy:
        mine = bound.filter(bound.segment == plan.name).select("person_id")
        members = _compile(plan.rule, shared.narrowed(mine), as_of, lookup)
        text = dt.String(nullable=True)
        results.append(members.select(segment=ibis.literal(plan.name).cast(text), person_id=members.person_id.cast(text)))
    rows = warehouse.to_arrow(ibis.union(*results, distinct=False) if len(results) > 1 else results[0])
    return {p.name: rows.filter(pc.equal(rows["segment"], p.name)).select(["person_id"]) for p in busy}


def _finish(warehouse: Any, plan: _Plan, view: RollupView, found: pa.Table | _Coded | None, as_of: datetime,
            update: RollupUpdate, lookup: SegmentLookup) -> tuple[RefreshReport, pa.Table]:
    """Complete one planned segment (evaluating everyone if planned so), store its state, report."""
    directory = _state_dir(warehouse, plan.name)
    coded_diff = isinstance(found, _Coded) and found.previous is not None  # entered and left from codes
    previous = (pq.read_table(directory / plan.state.members_file, columns=["person_id"])
                if plan.state and not coded_diff else MEMBERS.empty_table())
    if isinstance(found, _Coded):  # from the condition states
        members, evaluated = found.table(), plan.evaluated
        reason = plan.reason or f"{evaluated} persons whose conditions changed"
    elif plan.reason is not None:
        # columns the event log does not keep (and unknown conditions): the raw events
        source = warehouse if plan.shape.raw_columns or plan.shape.opaque else view
        members = warehouse.to_arrow(_compile(plan.rule, source, as_of, lookup)).select(["person_id"])
        evaluated, reason = None, plan.reason
    else:
        affected = plan.affected
        evaluated = affected.num_rows
        members = previous.filter(pc.invert(pc.is_in(previous["person_id"], affected["person_id"])))
        if found is not None:
            members = pa.concat_tables([members.cast(MEMBERS), found.cast(MEMBERS)])
        reason = f"{evaluated} persons with new events or events crossing a window edge"
    _save_state(directory, _State(rule_to_json(plan.rule), as_of.isoformat(), update.manifest.generation,
                                  list(update.manifest.cube), f"members-{uuid.uuid4().hex[:12]}.parquet",
                                  plan.leaves), members)
    if coded_diff:
        now, before = np.zeros(len(found.universe), bool), np.zeros(len(found.universe), bool)
        now[found.codes], before[found.previous] = True, True
        size, entered, exited = len(found.codes), int(np.count_nonzero(now & ~before)), int(np.count_nonzero(before & ~now))
    else:
        old_ids, new_ids = pc.unique(previous["person_id"]), pc.unique(members["person_id"])
        size, entered, exited = len(new_ids), _outside(new_ids, old_ids), _outside(old_ids, new_ids)
    report = RefreshReport(
        segment=plan.name, mode="full" if evaluated is None else "incremental", rollups=update.mode,
        reason=reason, as_of=as_of, new_batches=update.batches, new_events=update.events,
        persons_evaluated=evaluated, members=size, entered=entered, exited=exited)
    return report, members.select(["person_id"])


def _outside(ids: pa.Array, others: pa.Array) -> int:
    """How many of `ids` are not among `others`."""
    return len(ids) - pc.count(ids.filter(pc.is_in(ids, value_set=others))).as_py()


def _compile(rule: Rule, source: Any, as_of: datetime, lookup: SegmentLookup) -> Table:
    if not isinstance(source, RollupView):
        return compile_rule(rule, source, as_of, segments=lookup)
    return compile_rule(rule, source, as_of, segments=lookup, counts=lambda did: source.counts(did, as_of))


def refresh_segments(warehouse: Any, segments: dict[str, Rule | str], as_of: datetime,
                     lookup: SegmentLookup | None = None,
                     progress: Callable[[str], None] | None = None) -> list[RefreshReport]:
    """Update the rollups from new lake batches, then refresh each segment (name → rule or text)."""
    from footfall.segments.language import parse

    rules = {name: parse(rule) if isinstance(rule, str) else rule for name, rule in segments.items()}
    update = update_rollups(warehouse, progress)
    find = lookup or (lambda name: rules.get(name))
    return [report for report, _ in _refresh(warehouse, list(rules.items()), as_of, update, find, progress)]


def refresh_and_record(warehouse: Any, store: Any, names: list[str], as_of: datetime | None = None,
                       progress: Callable[[str], None] | None = None) -> list[tuple[RefreshReport, Any]]:
    """Refresh stored or built-in segments and record who entered and left (`membership.record_members`).

    Returns (what the refresh touched, the recorded evaluation) per segment.
    """
    from footfall.segments.membership import default_as_of, record_members

    definitions = [store.get(name) for name in names]
    as_of = _utc(as_of) if as_of is not None else default_as_of(warehouse)
    update = update_rollups(warehouse, progress)
    refreshed = _refresh(warehouse, [(d.name, d.rule) for d in definitions], as_of, update, store.lookup, progress)
    return [(report, record_members(warehouse, definition, as_of, members))
            for definition, (report, members) in zip(definitions, refreshed)]


def refreshed_members(warehouse: Any, name: str) -> pa.Table:
    """The members recorded by the last refresh of a segment (empty before the first)."""
    directory = _state_dir(warehouse, name)
    state = _load_state(directory)
    return pq.read_table(directory / state.members_file, columns=["person_id"]) if state else MEMBERS.empty_table()

