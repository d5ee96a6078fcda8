"""Segment membership over time: evaluating a segment records who entered and who left it.

Where it is kept, and why: in the Parquet lake (`segment_changes`, `segment_evaluations`; schemas in
`footfall.schema.tables`), written by `Lake.commit`. One evaluation is one atomic commit holding its
changes *and* its evaluation row, so a process killed mid-way leaves the whole evaluation or none of
it. Current members are never stored separately: they are the people whose latest change is
`entered` (their entries outnumber their exits), so members and history cannot disagree. The lake
(not the DuckDB file) because both engines read it as ordinary tables, because campaigns will read
"who entered since T" while the API serves requests (a DuckDB file admits one writer process; the
lake takes appends from any process under its writer lock), and because history only grows.

An evaluation computes the members at `as_of` with the engine (outside any lock), then, under the
lake's writer lock, reads the members recorded so far, compares, and commits. Two evaluations of a
segment running at once therefore cannot both record the same entry. Evaluations of a segment move
forward in time: one at an `as_of` earlier than the last recorded is refused (look at the past with
`count_members(as_of=...)`, which records nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import ibis
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.types import Table

from footfall.errors import FootfallError
from footfall.lake import new_batch_id
from footfall.schema.tables import SEGMENT_CHANGES, SEGMENT_EVALUATIONS
from footfall.segments.compiler import compile_rule
from footfall.segments.store import SegmentDefinition, SegmentStore
from footfall.warehouse import Warehouse

ENTERED, EXITED = "entered", "exited"


@dataclass(frozen=True)
class Evaluation:
    """One recorded evaluation of a segment: its size at `at` and how many entered and left since the last."""

    evaluation_id: str
    segment: str
    at: datetime
    evaluated_at: datetime
    engine: str
    size: int
    entered: int
    exited: int
    text: str


class EvaluationOrderError(FootfallError):
    """An evaluation at an `as_of` earlier than the segment's last recorded one."""


def default_as_of(warehouse: Warehouse) -> datetime:
    """The latest event time in the lake (as profiles use: the data as loaded, reproducibly), else now."""
    from footfall.profiles.traits import default_as_of as latest_event

    return _utc(latest_event(warehouse)) or datetime.now(timezone.utc)


def segment_members(warehouse: Warehouse, store: SegmentStore, name: str, as_of: datetime) -> Table:
    """The members of segment `name` at `as_of`, computed from the data (Ibis table: person_id)."""
    return _members(warehouse, store, store.get(name), as_of)


def count_members(warehouse: Warehouse, store: SegmentStore, name: str, as_of: datetime) -> int:
    """How many people segment `name` holds at `as_of` (computed; nothing is recorded)."""
    return int(segment_members(warehouse, store, name, as_of).count().to_pyarrow().as_py())


def _members(warehouse: Warehouse, store: SegmentStore, definition: SegmentDefinition, as_of: datetime) -> Table:
    return compile_rule(definition.rule, warehouse, _utc(as_of), segments=store.lookup)


# -- the recorded history, as Ibis expressions (both engines) ----------------------------------
def segment_changes(warehouse: Warehouse, name: str) -> Table:
    """Every recorded change of segment `name`: person_id, change (entered / exited), at, evaluation_id."""
    changes = warehouse.table("segment_changes")
    return changes.filter(changes.segment == name).select("person_id", "change", "at", "evaluation_id")


def entered_since(warehouse: Warehouse, name: str, since: datetime, change: str = ENTERED) -> Table:
    """People who entered (or, with `change="exited"`, left) segment `name` at an evaluation at or after `since`."""
    changes = segment_changes(warehouse, name)
    return changes.filter((changes.change == change) & (changes.at >= ibis.literal(_utc(since)))).select(
        "person_id", "at", "evaluation_id")


def recorded_members(warehouse: Warehouse, name: str) -> Table:
    """The members as of the segment's last evaluation: people whose entries outnumber their exits."""
    changes = segment_changes(warehouse, name)
    delta = ibis.cases((changes.change == ENTERED, 1), else_=-1)
    net = changes.group_by("person_id").aggregate(net=delta.sum())
    return net.filter(net.net > 0).select("person_id")


def segment_history(warehouse: Warehouse, name: str) -> Table:
    """The evaluations of segment `name`, oldest first: at, size, entered, exited (size over time)."""
    evaluations = warehouse.table("segment_evaluations")
    return evaluations.filter(evaluations.segment == name).order_by(["at", "evaluation_id"])


def last_evaluation(warehouse: Warehouse, name: str) -> Evaluation | None:
    """The segment's latest recorded evaluation, or None when it was never evaluated."""
    rows = segment_history(warehouse, name).order_by([ibis.desc("at"), ibis.desc("evaluation_id")]).limit(1)
    found = rows.to_pyarrow().to_pylist()
    return _evaluation(found[0]) if found else None


# -- recording ------------------------------------------------------------------------------
def evaluate_segment(warehouse: Warehouse, store: SegmentStore, name: str, as_of: datetime | None = None) -> Evaluation:
    """Compute segment `name` at `as_of` (default: the latest event) and record who entered and left."""
    definition = store.get(name)
    as_of = _utc(as_of) if as_of is not None else default_as_of(warehouse)
    members = warehouse.to_arrow(_members(warehouse, store, definition, as_of))
    return record_members(warehouse, definition, as_of, members)


def record_members(warehouse: Warehouse, definition: SegmentDefinition, as_of: datetime,
                   members: pa.Table) -> Evaluation:
    """Record `members` (a person_id column, however computed: fully or by incremental refresh) as the
    segment's members at `as_of`: who entered and left since the last evaluation, in one atomic commit."""
    name, as_of = definition.name, _utc(as_of)
    current = _person_ids(members)
    lake = warehouse.lake
    with lake.writer_lock():
        warehouse.refresh()  # see every evaluation committed so far (the lock keeps new ones out)
        last = last_evaluation(warehouse, name)
        if last is not None and as_of < last.at:
            raise EvaluationOrderError(
                f"segment {name!r} was last evaluated as of {last.at:%Y-%m-%d %H:%M:%S} UTC; evaluations move "
                f"forward in time, so --as-of {as_of:%Y-%m-%d %H:%M:%S} cannot be recorded "
                "(`footfall segment count --as-of` looks at the past without recording)")
        previous = _person_ids(warehouse.to_arrow(recorded_members(warehouse, name)))
        entered = pc.filter(current, pc.invert(pc.is_in(current, previous)))
        exited = pc.filter(previous, pc.invert(pc.is_in(previous, current)))
        evaluation = Evaluation(new_batch_id(), name, as_of, datetime.now(timezone.utc), warehouse.engine,
                                len(current), len(entered), len(exited), definition.text)
        lake.commit({"segment_changes": _changes(evaluation, entered, exited),
                     "segment_evaluations": pa.Table.from_pylist([evaluation.__dict__], SEGMENT_EVALUATIONS)},
                    batch_id=evaluation.evaluation_id)
    warehouse.refresh()
    return evaluation


def evaluate_segments(warehouse: Warehouse, store: SegmentStore, names: Sequence[str], as_of: datetime | None = None,
                      progress: Callable[[Evaluation], None] | None = None) -> list[Evaluation]:
    """Evaluate several segments at one `as_of`, each recorded as soon as it is done."""
    as_of = _utc(as_of) if as_of is not None else default_as_of(warehouse)
    evaluations = []
    for name in names:
        evaluations.append(evaluate_segment(warehouse, store, name, as_of))
        if progress is not None:
            progress(evaluations[-1])
    return evaluations


def _changes(evaluation: Evaluation, entered: pa.Array, exited: pa.Array) -> pa.Table:
    """One row per person entering or leaving, in the lake's schema."""
    count = len(entered) + len(exited)
    return pa.table({
        "segment": pa.array([evaluation.segment] * count, pa.string()),
        "person_id": pa.concat_arrays([entered.cast(pa.string()), exited.cast(pa.string())]),
        "change": pa.array([ENTERED] * len(entered) + [EXITED] * len(exited), pa.string()),
        "at": pa.array([evaluation.at] * count, SEGMENT_CHANGES.field("at").type),
        "evaluation_id": pa.array([evaluation.evaluation_id] * count, pa.string()),
    }, schema=SEGMENT_CHANGES)


def _person_ids(table: pa.Table) -> pa.Array:
    """The distinct, non-null person ids of a one-column result, as one array."""
    ids = table.column("person_id").combine_chunks().cast(pa.string())
    return pc.unique(ids.filter(pc.is_valid(ids)))


def _evaluation(row: dict) -> Evaluation:
    return Evaluation(row["evaluation_id"], row["segment"], _utc(row["at"]), _utc(row["evaluated_at"]),
                      row["engine"], row["size"], row["entered"], row["exited"], row["text"])


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
