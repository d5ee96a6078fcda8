"""Per-condition state: what lets a refresh cost the new events rather than the people they touch.

A rule is a boolean formula over *leaves*: `did` conditions (without their count: the count test is
applied to the kept number), sequences without a window, traits and distances to a store. For every
leaf a refresh needs, a per-person number `n` is kept under `lake/_rollups/conditions/<key>/`:

- `did X [filters] [in W]`: how many matching events fall in the window at the state's `as_of`.
  Moving to `as_of'` changes it by the new events in the new window, plus the old events that time
  carried into the window (`(max(as_of, as_of' - W), as_of']`), minus those it carried out
  (`(as_of - W, min(as_of, as_of' - W)]`): three time-bounded reads, never a person's whole history.
- `did A then B within D [same f]` (no window): 1 once the person has such a pair. Pairs only appear,
  and a new one has at least one *fresh* event (newly rolled up, or carried across `as_of`): each
  fresh A of a person without a pair looks for a B of that person within D after it, each fresh B
  for an A within D before it, by binary searches in the sequence's per-person step index
  (`sequence_index.py`), which the new log rows join.
- traits and distances: 1 for the people who pass, read again from `profiles` (one row per person)
  when its version (`Warehouse.version_of`; and the store files, for a distance) changed, the change
  being the difference with the kept set.

Values are a base file plus one delta file per change (`version`); a segment remembers the
(lineage, version) of each leaf it last saw, so the people whose result may have changed are exactly
those in the deltas after it, and their result is the formula over the kept numbers. A leaf is
computed from scratch (a new lineage) when it has no state, the rollups were rebuilt (identity
changed) or `as_of` moved back; deltas are folded into the base when they grow, after which segments
that had not seen them evaluate everyone once.

Windowed sequences, JSON properties and identifiers are not leaves: such rules keep the
re-evaluation of affected people (`refresh.py`) or a full evaluation.
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Union

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ibis.expr.types import Table

from footfall.lake import fsync_path
from footfall.segments.compiler import compile_rule
from footfall.segments.conditions import EventRows, is_line_level
from footfall.segments.rollups import (LOG_COLUMNS, PERSON_EVENTS, Manifest, files_table, part_month, read_universe,
                                       rollup_dir, universe_table)
from footfall.segments.rules import And, Count, Did, InSegment, NearStore, Not, Or, Rule, Sequence, Trait, atoms, rule_to_json
from footfall.segments.sequence_index import KEY_SEPARATOR, SequenceIndex, StepFiles, micros, micros_at, new_pairs

Leaf = Union[Did, Sequence, Trait, NearStore]
CONDITIONS_DIR = "conditions"
FOLD_DELTAS = 24  # more delta files than this: fold them into the base
LEAF_FORMAT = 3  # 2: dense NumPy numbers by person code; 3: sequences keep a per-person index
COMPARE = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
TEXT = dt.String(nullable=True)
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=timezone.utc)  # "any time": rows joining an index whenever they fall
MOMENT = dt.Timestamp(timezone="UTC", scale=6, nullable=True)
STEP_COLUMNS = ("leaf", "step", "new", "timestamp", "key")  # and `code`: the rows of a sequence's steps
CODE = dt.Int32(nullable=True)


def leaf_of(node: Did | Sequence | Trait | NearStore) -> Leaf:
    """The state a node reads: a `did` without its count (one state serves `>= 1` and `< 3` alike)."""
    return node.model_copy(update={"count": Count()}) if isinstance(node, Did) else node


def leaf_key(leaf: Leaf) -> str:
    return hashlib.sha1(json.dumps(rule_to_json(leaf), sort_keys=True).encode()).hexdigest()[:16]


def leaves(rule: Rule) -> list[Leaf]:
    """The distinct leaves of an expanded rule, in order."""
    found: dict[str, Leaf] = {}
    for node in atoms(rule):
        if isinstance(node, (Did, Sequence, Trait, NearStore)):
            leaf = leaf_of(node)
            found.setdefault(leaf_key(leaf), leaf)
    return list(found.values())


def unsupported(rule: Rule) -> str | None:
    """Why an expanded rule cannot be refreshed from condition states (None: it can)."""
    for node in atoms(rule):
        if isinstance(node, InSegment):
            return "refers to members given as a table"
        if isinstance(node, Sequence) and node.window is not None:
            return "a sequence inside a window"
        if isinstance(node, (Did, Sequence)):
            matches = [node] if isinstance(node, Did) else [node.first, node.then]
            fields = [f.field for m in matches for f in m.filters] + list(getattr(node, "same", ()))
            if any(name not in LOG_COLUMNS for name in fields):
                return "filters on a column the rollups do not keep"
    return None


def holds(rule: Rule, values: dict[str, np.ndarray]) -> np.ndarray:
    """The rule for some people, from their leaves' numbers (`values`: leaf key → n per person)."""
    if isinstance(rule, (And, Or)):
        combine = np.logical_and if isinstance(rule, And) else np.logical_or
        return functools.reduce(combine, [holds(r, values) for r in rule.rules])
    if isinstance(rule, Not):
        return np.logical_not(holds(rule.rule, values))
    n = values[leaf_key(leaf_of(rule))]
    if isinstance(rule, Did):
        return COMPARE[rule.count.op](n, rule.count.value)
    return n > 0


@dataclass
class LeafState:
    """What is kept of one leaf (see the module docstring)."""

    leaf: dict
    lineage: str
    as_of: str
    generation: str
    person_events: list[str]  # log parts the numbers reflect
    base: str
    base_rows: int = 0  # people with a non-zero number in the base
    base_version: int = 0
    version: int = 0
    deltas: list[list] = field(default_factory=list)  # [version, file, rows]
    format: int = LEAF_FORMAT
    index: dict | None = None  # sequences: the per-person index of their steps (`StepFiles`)
    inputs: str | None = None  # traits and distances: the versions of the tables the set was read from

    def files(self) -> set[str]:
        return {self.base, *(d[1] for d in self.deltas),
                *(SequenceIndex.names_of(StepFiles(**self.index)) if self.index else ())}


class ConditionStates:
    """The leaves of some rules, brought to `as_of` against updated rollups."""

    def __init__(self, warehouse: Any, view: Any, manifest: Manifest, as_of: datetime) -> None:
        self.warehouse, self.view, self.manifest, self.as_of = warehouse, view, manifest, as_of
        self.directory = rollup_dir(warehouse.project) / CONDITIONS_DIR
        self.states: dict[str, LeafState] = {}
        self._tables: dict[tuple[Path, ...], Table] = {}
        self._dense: dict[str, np.ndarray] = {}
        self._universe: pa.Array | None = None
        self._universe_table: Table | None = None
        if warehouse.engine == "duckdb":  # the log's Parquet footers are read by many queries of one refresh
            warehouse.con.raw_sql("SET parquet_metadata_cache = true")

    # -- bringing leaves up to date ---------------------------------------------------------------
    def advance(self, wanted: list[Leaf]) -> None:
        """Bring every leaf to `as_of`: from scratch where it must, else by one delta each, all the
        deltas (and all the from-scratch leaves) in one query each."""
        distinct = {leaf_key(leaf): leaf for leaf in wanted}
        fresh, moving, traits = {}, {}, {}
        # read before the tables themselves: a table replaced in between gets a newer version
        inputs = {key: self._inputs(leaf) for key, leaf in distinct.items() if isinstance(leaf, (Trait, NearStore))}
        for key, leaf in distinct.items():
            state = self._load(key)
            if state is not None:
                self.states[key] = state
            if state is None or state.generation != self.manifest.generation or _at(state.as_of) > self.as_of:
                fresh[key] = leaf
            elif isinstance(leaf, (Trait, NearStore)):
                if state.inputs is None or state.inputs != inputs[key]:  # else: nothing it reads changed
                    traits[key] = leaf
            elif _at(state.as_of) != self.as_of or state.person_events != self.manifest.person_events:
                moving[key] = leaf
        if fresh:
            rows = self.warehouse.to_arrow(_union([self._from_scratch(k, leaf) for k, leaf in fresh.items()]))
            indexes = self._start_indexes({k: leaf for k, leaf in fresh.items() if isinstance(leaf, Sequence)})
            for key, (codes, n) in self._split(rows, fresh).items():
                self._start(key, fresh[key], codes, n, indexes.get(key), inputs.get(key))
        counted = {k: leaf for k, leaf in moving.items() if isinstance(leaf, Did)}
        sequences = {k: leaf for k, leaf in moving.items() if isinstance(leaf, Sequence)}
        # one query for every count, trait and sequence's fresh rows
        parts = [_padded(delta) for k, leaf in counted.items() if (delta := self._delta(k, leaf)) is not None]
        parts += [_padded(self._from_scratch(k, leaf)) for k, leaf in traits.items()]
        parts += [_padded(step) for step in self._sequence_step_rows(sequences)]
        rows = self.warehouse.to_arrow(_union(parts)) if parts else None
        is_step = pc.is_valid(rows["step"]) if rows is not None else None
        found = self._split(rows.filter(pc.invert(is_step)) if rows is not None else None, {**counted, **traits})
        for key in counted:
            self._add_delta(key, *found[key])
        steps = self._step_arrays(rows.filter(is_step)) if rows is not None else {}
        for key, (codes, index) in self._sequence_deltas(sequences, steps).items():
            self._add_delta(key, codes, np.ones(len(codes), np.int64), index)
        for key in traits:  # the change: who passes now and did not, and the reverse
            now, kept = np.zeros(len(self.universe()), bool), self.dense(key) > 0
            now[found[key][0]] = True
            came, went = np.flatnonzero(now & ~kept), np.flatnonzero(kept & ~now)
            self._add_delta(key, np.concatenate([came, went]),
                            np.concatenate([np.ones(len(came), np.int64), -np.ones(len(went), np.int64)]),
                            inputs=inputs[key])

    def _inputs(self, leaf: Leaf) -> str | None:
        """The versions of what a trait or distance leaf reads: `profiles` (and the lake's store files
        for a distance); None when a version is not known (then it is read every refresh)."""
        profiles = self.warehouse.version_of("profiles")
        if profiles is None or not isinstance(leaf, NearStore):
            return profiles
        lake = Path(self.warehouse.project.lake_dir)
        stores = sorted(str(p.relative_to(lake)) for p in self.warehouse.lake.files("stores"))
        return profiles + ":" + hashlib.sha256("\n".join(stores).encode()).hexdigest()[:16]

    def _split(self, rows: pa.Table | None, keys: dict[str, Leaf]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """(person codes, n) per leaf of a query's rows (each with its `code`), summed per person."""
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        if rows is None or rows.num_rows == 0:
            return {key: empty for key in keys}
        codes, n = rows["code"].to_numpy(), rows["n"].to_numpy()
        leaf, names = _leaf_labels(rows)
        found = {}
        for key in keys:
            mine = leaf == (names.index(key) if key in names else -1)
            # a dense sum by code: cheaper than sorting the people (exact: float64 holds counts up to 2^53)
            summed = np.bincount(codes[mine], weights=n[mine], minlength=len(self.universe()))
            changed = np.flatnonzero(summed)
            found[key] = (changed, summed[changed].astype(np.int64))
        return found

    def _coded(self, rows: Table) -> Table:
        """`rows` with `code` in place of `person_id`: ids turned into codes by the engine, joined with
        the universe (hashing them in Python costs several times more) — for rows that do not come from
        the event log, which carries codes. People outside the universe (no row in `persons`) are no
        one's members and drop out."""
        if self._universe_table is None:
            self._universe_table = universe_table(self.warehouse, rollup_dir(self.warehouse.project), self.manifest.generation)
        coded = rows.join(self._universe_table, rows.person_id == self._universe_table.universe_person_id)
        return coded.select(*(c for c in rows.columns if c != "person_id"), "code")

    # -- sequences: new pairs through the per-person index (sequence_index.py) ----------------------
    def _step_rows(self, key: str, sequence: Sequence, parts: list[str], start: datetime | None,
                   end: datetime | None, new: bool) -> list[Table]:
        """leaf, step, new, code, timestamp, key: the rows of both steps in some log parts, after
        `start` and up to `end` (None: any time — rows that join the index whenever they fall)."""
        match = EventRows(self.warehouse, end or FAR_FUTURE)
        log = self._log(parts, start, end or FAR_FUTURE)
        same = tuple(sequence.same)
        found = []
        for number, step in enumerate((sequence.first, sequence.then)):
            rows = match.rows(log, step, None, same, carry=("code",))
            value = ibis.null(TEXT) if not same else rows[same[0]].cast(TEXT)
            if len(same) > 1:  # one text for several fields; a null in any of them never pairs
                joined = ibis.literal(KEY_SEPARATOR).join([rows[f].cast(TEXT) for f in same])
                value = ibis.ifelse(ibis.or_(*[rows[f].isnull() for f in same]), ibis.null(TEXT), joined)
            found.append(rows.select(leaf=ibis.literal(key).cast(TEXT), step=ibis.literal(number, type="int8"),
                                     new=ibis.literal(new), code=rows.code.cast(CODE),
                                     timestamp=rows.timestamp.cast(MOMENT), key=value.cast(TEXT)))
        return found

    def _step_arrays(self, rows: pa.Table) -> dict[str, list[dict[str, np.ndarray]]]:
        """Coded `_step_rows` rows as arrays: per leaf, per step."""
        leaf, names = _leaf_labels(rows)
        step, new = rows["step"].to_numpy(), rows["new"].to_numpy(zero_copy_only=False)
        codes, times = rows["code"].to_numpy().astype(np.int64), micros(rows["timestamp"])
        found: dict[str, list[dict[str, np.ndarray]]] = {}
        for number_of_leaf, key in enumerate(names):
            found[key] = []
            for number in (0, 1):
                mine = np.flatnonzero((leaf == number_of_leaf) & (step == number))
                found[key].append({"code": codes[mine], "new": new[mine], "time": times[mine],
                                   "key": rows["key"].take(mine)})
        return found

    def _start_indexes(self, sequences: dict[str, Sequence]) -> dict[str, StepFiles]:
        """A new index per sequence leaf, from every row of its steps in the log."""
        if not sequences:
            return {}
        parts = [p for key, leaf in sequences.items()
                 for p in self._step_rows(key, leaf, self.manifest.person_events, None, None, True)]
        rows = self._step_arrays(self.warehouse.to_arrow(_union(parts)))
        built = {}
        for key, leaf in sequences.items():
            self._dir(key).mkdir(parents=True, exist_ok=True)
            index = SequenceIndex(self._dir(key), leaf)
            for number, step in enumerate(rows.get(key, [])):
                index.add(number, step["code"], index.key_codes(step["key"], len(step["code"])), step["time"])
            built[key] = index.files
        return built

    def _sequence_step_rows(self, sequences: dict[str, Sequence]) -> list[Table]:
        """The step rows a refresh of these sequences reads: their new log rows (any time: they join
        the index) and the old rows time carried across `as_of` (fresh, already indexed)."""
        parts = []
        for key, leaf in sequences.items():
            state = self.states[key]
            new = self._unseen_parts(state)
            if new:
                parts += self._step_rows(key, leaf, new, None, None, True)
            before = _at(state.as_of)
            if self.as_of > before and state.person_events:
                parts += self._step_rows(key, leaf, state.person_events, before, self.as_of, False)
        return parts

    def _sequence_deltas(self, sequences: dict[str, Sequence],
                         rows: dict[str, list[dict[str, np.ndarray]]]) -> dict[str, tuple[np.ndarray, StepFiles]]:
        """Per sequence leaf, the people who gained a pair and its extended index: the new log rows
        of its steps (`rows`, from `_sequence_step_rows`) join the index, then every fresh event (new,
        or carried across `as_of`) of a person without a pair yet looks for a partner in it."""
        limit = micros_at(self.as_of)
        found = {}
        for key, leaf in sequences.items():
            index = SequenceIndex(self._dir(key), leaf, StepFiles(**self.states[key].index))
            fresh = []
            for number, step in enumerate(rows.get(key, [])):
                keys = index.key_codes(step["key"], len(step["code"]))
                new = step["new"]
                index.add(number, step["code"][new], keys[new], step["time"][new])
                # fresh: up to as_of, of people without a pair yet (a pair found again is no change)
                usable = (step["time"] <= limit) & (self.dense(key)[step["code"]] == 0)
                fresh.append((step["code"][usable], keys[usable], step["time"][usable]))
            codes = new_pairs(index, fresh, self.as_of) if fresh else np.zeros(0, np.int64)
            found[key] = (codes, index.files)
        return found

    def _from_scratch(self, key: str, leaf: Leaf) -> Table:
        """leaf, code, n at `as_of` from all the rollups (cube counts where they answer)."""
        if isinstance(leaf, Did):
            counts = self._coded(self.view.counts(leaf, self.as_of).select("person_id", "n"))
            return _labelled(key, counts, counts.n)
        members = self._coded(compile_rule(leaf, self.view, self.as_of).select("person_id"))
        return _labelled(key, members, ibis.literal(1, type="int64"))

    def _log(self, parts: list[str], start: datetime | None, end: datetime) -> Table:
        """Log rows of these parts with `start < timestamp` (the `<= end` bound is the matcher's),
        reading only the months the interval meets; only rows whose owner has a code (is in the
        universe: others are no one's members)."""
        low = f"{start:%Y-%m}" if start is not None else ""
        chosen = tuple(self.directory.parent / p for p in parts if low <= part_month(p) <= f"{end:%Y-%m}")
        if chosen not in self._tables:  # each table of files is a view whose files' schemas are read
            self._tables[chosen] = files_table(self.warehouse, list(chosen), PERSON_EVENTS)
        log = self._tables[chosen]
        log = log.filter(log.code.notnull())
        if start is None:
            return log
        return log.filter(log.timestamp > ibis.literal(start, type=log.timestamp.type()))

    def _unseen_parts(self, state: LeafState) -> list[str]:
        """The log parts rolled up since a leaf's state was brought forward."""
        seen = set(state.person_events)
        return [p for p in self.manifest.person_events if p not in seen]

    def _delta(self, key: str, leaf: Did) -> Table | None:
        """The change of a `did` leaf's counts from its state's `as_of` to this one (module docstring)."""
        state = self.states[key]
        before, now = _at(state.as_of), self.as_of
        old = state.person_events
        width = timedelta(hours=leaf.window.hours) if leaf.window is not None else None
        lower = now - width if width is not None else None
        pieces = [(self._unseen_parts(state), lower, now, 1)]
        if now > before:
            pieces.append((old, before if lower is None else max(before, lower), now, 1))
            if width is not None and before - width < min(before, lower):
                pieces.append((old, before - width, min(before, lower), -1))
        reads = [self._did_rows(key, leaf, parts, start, end, sign) for parts, start, end, sign in pieces if parts]
        return _union(reads) if reads else None

    def _did_rows(self, key: str, did: Did, parts: list[str], start: datetime | None, end: datetime,
                  sign: int) -> Table:
        rows = EventRows(self.warehouse, end).rows(self._log(parts, start, end), did, None, carry=("code",))
        n = rows.message_id.nunique() if is_line_level(did) else rows.count()
        counted = rows.group_by("code").aggregate(n=n * sign)
        return _labelled(key, counted, counted.n)

    # -- files ----------------------------------------------------------------------------------
    # A person is a code: its position in the universe of this rollup generation (`persons`, which
    # cannot change without a rebuild). A leaf's base is a dense array of numbers by code and each
    # delta an array of (code, change), all NumPy files memory-mapped: a refresh looks up many people
    # in many leaves, and indexing an array costs nothing next to hashing their ids.
    def universe(self) -> pa.Array:
        """person_id by code for this generation of rollups (`rollups.write_universe`)."""
        if self._universe is None:
            self._universe = read_universe(rollup_dir(self.warehouse.project), self.manifest.generation)
        return self._universe

    def _dir(self, key: str) -> Path:
        return self.directory / key

    def _load(self, key: str) -> LeafState | None:
        path = self._dir(key) / "state.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return LeafState(**data) if data.get("format") == LEAF_FORMAT else None  # older layouts start over

    def _save(self, key: str, state: LeafState, previous: LeafState | None) -> None:
        """The state file replaced atomically after its data files; files no longer named go."""
        directory = self._dir(key)
        temporary = directory / f".state.{uuid.uuid4().hex}"
        temporary.write_text(json.dumps(asdict(state)), encoding="utf-8")
        fsync_path(temporary)
        os.replace(temporary, directory / "state.json")
        fsync_path(directory)
        if previous is not None:
            for old in previous.files() - state.files():
                (directory / old).unlink(missing_ok=True)
        self.states[key] = state

    def _write(self, key: str, array: np.ndarray) -> str:
        directory = self._dir(key)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex[:12]}.npy"
        np.save(directory / name, array)
        fsync_path(directory / name)
        return name

    def _read(self, key: str, name: str) -> np.ndarray:
        return np.load(self._dir(key) / name, mmap_mode="r")

    def _start(self, key: str, leaf: Leaf, codes: np.ndarray, n: np.ndarray, index: StepFiles | None = None,
               inputs: str | None = None) -> None:
        dense = np.zeros(len(self.universe()), np.int64)
        dense[codes] += n  # codes are unique: one number per person
        self._dense[key] = dense
        previous = self.states.get(key)
        self._save(key, LeafState(rule_to_json(leaf), uuid.uuid4().hex, self.as_of.isoformat(), self.manifest.generation,
                                  list(self.manifest.person_events), self._write(key, dense), base_rows=int(len(codes)),
                                  index=asdict(index) if index is not None else None, inputs=inputs),
                   previous)

    def _add_delta(self, key: str, codes: np.ndarray, n: np.ndarray, index: StepFiles | None = None,
                   inputs: str | None = None) -> None:
        previous = self.states[key]
        state = LeafState(**{**asdict(previous), "as_of": self.as_of.isoformat(),
                             "person_events": list(self.manifest.person_events), "inputs": inputs})
        if index is not None:
            state.index = asdict(index)
        if len(codes):
            dense = self.dense(key)
            dense[codes] += n
            state.version += 1
            state.deltas = [*previous.deltas, [state.version, self._write(key, np.stack([codes, n])), int(len(codes))]]
            if len(state.deltas) > FOLD_DELTAS or sum(d[2] for d in state.deltas) > max(state.base_rows // 4, 10_000):
                # fold all but the newest delta: segments refreshed last time can still tell who changed
                newest = self._read(key, state.deltas[-1][1])
                older = dense.copy()
                older[newest[0]] -= newest[1]
                state.base, state.base_rows = self._write(key, older), int(np.count_nonzero(older))
                state.base_version, state.deltas = state.version - 1, state.deltas[-1:]
        self._save(key, state, previous)

    def dense(self, key: str) -> np.ndarray:
        """The leaf's number for every person code (base and deltas summed), kept for this refresh."""
        if key not in self._dense:
            state = self.states[key]
            dense = np.array(self._read(key, state.base), dtype=np.int64)
            for _, name, _ in state.deltas:
                delta = self._read(key, name)
                dense[delta[0]] += delta[1]
            self._dense[key] = dense
        return self._dense[key]

    # -- reading ----------------------------------------------------------------------------------
    def token(self, key: str) -> list:
        state = self.states[key]
        return [state.lineage, state.version]

    def changed_since(self, key: str, token: list | None) -> np.ndarray | None:
        """Codes of the people whose number changed after `token` (None: cannot tell, evaluate everyone).
        A code may appear more than once (once per delta): callers mark them in a mask."""
        state = self.states[key]
        if token is None or token[0] != state.lineage or token[1] < state.base_version:
            return None
        newer = [self._read(key, d[1])[0] for d in state.deltas if d[0] > token[1]]
        return np.concatenate(newer) if newer else np.zeros(0, np.int64)


def _at(text: str) -> datetime:
    from footfall.segments.rollup_eval import _utc

    return _utc(datetime.fromisoformat(text))


def _leaf_labels(rows: pa.Table) -> tuple[np.ndarray, list[str]]:
    """Each row's leaf as a number, and the leaf keys those numbers stand for."""
    labels = pc.dictionary_encode(rows["leaf"]).combine_chunks()
    return labels.indices.to_numpy(), labels.dictionary.to_pylist()


def _labelled(key: str, table: Table, n: Any) -> Table:
    """leaf, code, n: the one shape every leaf's rows take, so all go in one query."""
    return table.select(leaf=ibis.literal(key).cast(TEXT), code=table.code.cast(CODE), n=n.cast("int64"))


def _union(tables: list[Table]) -> Table:
    return tables[0] if len(tables) == 1 else ibis.union(*tables, distinct=False)


def _padded(rows: Table) -> Table:
    """Count rows (leaf, code, n) and step rows (`STEP_COLUMNS`, code) in one shape, so that
    both go in one query; `step` is null on count rows. Every column nullable: the parts of a union
    must agree on that too."""
    shape = {"leaf": TEXT, "step": dt.Int8(nullable=True), "new": dt.Boolean(nullable=True), "code": CODE,
             "timestamp": MOMENT, "key": TEXT, "n": dt.Int64(nullable=True)}
    return rows.select(**{name: (rows[name] if name in rows.columns else ibis.null()).cast(kind)
                          for name, kind in shape.items()})
