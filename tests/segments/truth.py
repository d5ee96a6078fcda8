"""Scoring segments against the synthetic world's ground truth.

A resolved person stands for the true person behind most of its events. Identity resolution splits
some people (a cash receipt, a card never used online) and then no segment rule can see their whole
behaviour, so scores are given twice: over everyone, and over the true persons whose events identity
resolution attributed whole to one person ("identity-complete"), which isolates the segment definition.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from footfall.project import open_project
from footfall.synth import WorldManifest
from footfall.warehouse import open_warehouse

# Which true people each built-in segment is meant to find.
TARGETS = {
    "ropo": ("ropo", None),
    "showroomers": ("showroomer", None),
    "omnichannel": ("omnichannel", None),
    "online_only_near_store": ("online_only", 8.0),
    "lapsed_store_active_online": ("lapsed", None),
    "event_attendees": ("event_goer", None),
    "store_only": ("store_only", None),
}
PASSIVE = ("Location Updated", "Beacon Sighted")  # device signals: they place people, they are not behaviour


@dataclass(frozen=True)
class Truth:
    owner: dict[str, str]  # resolved person → its true person (majority of its events)
    archetype: dict[str, str]  # true person → archetype
    home_store_km: dict[str, float]
    complete: frozenset[str]  # true persons whose behaviour is owned whole by one resolved person

    def target(self, segment: str) -> set[str]:
        archetype, near_km = TARGETS[segment]
        return {p for p, a in self.archetype.items()
                if a == archetype and (near_km is None or self.home_store_km[p] < near_km)}


@dataclass(frozen=True)
class Score:
    members: int
    precision: float
    recall: float
    complete_precision: float
    complete_recall: float
    false_positives: dict[str, int]


def load_truth(project_dir: Path, manifest: WorldManifest) -> Truth:
    records = pq.read_table(manifest.path("records"), columns=["message_id", "person_id"])
    true_of = dict(zip(records["message_id"].to_pylist(), records["person_id"].to_pylist()))
    with open_warehouse(open_project(project_dir)) as warehouse:
        owners = warehouse.to_arrow(warehouse.table("event_persons"))
        events = warehouse.to_arrow(warehouse.table("events").select("message_id", "event"))
    owned = dict(zip(owners["message_id"].to_pylist(), owners["person_id"].to_pylist()))
    votes: dict[str, Counter[str]] = {}
    for message_id, person in owned.items():
        if message_id in true_of:
            votes.setdefault(person, Counter())[true_of[message_id]] += 1
    owner = {person: counts.most_common(1)[0][0] for person, counts in votes.items()}
    behaviour = events.filter(pc.invert(pc.fill_null(pc.is_in(events["event"], pa_array(PASSIVE)), False)))
    holders: dict[str, set[str | None]] = {}
    for message_id in behaviour["message_id"].to_pylist():
        if message_id in true_of:
            holders.setdefault(true_of[message_id], set()).add(owned.get(message_id))
    complete = frozenset(p for p, held in holders.items() if len(held) == 1 and None not in held)
    persons = pq.read_table(manifest.path("persons"), columns=["person_id", "archetype", "home_store_km"])
    ids = persons["person_id"].to_pylist()
    return Truth(owner, dict(zip(ids, persons["archetype"].to_pylist())),
                 dict(zip(ids, persons["home_store_km"].to_pylist())), complete)


def pa_array(values: tuple[str, ...]):
    import pyarrow as pa

    return pa.array(values)


def score(members: set[str], segment: str, truth: Truth) -> Score:
    """Precision over members (each mapped to its true person), recall over the target's true persons."""
    target = truth.target(segment)
    mapped = [truth.owner.get(m) for m in members]
    hits = [t for t in mapped if t in target]
    complete_mapped = [t for t in mapped if t in truth.complete]
    complete_target = target & truth.complete
    false_positives = Counter(truth.archetype.get(t, "unowned") for t in mapped if t not in target)
    return Score(
        members=len(members),
        precision=len(hits) / max(1, len(mapped)),
        recall=len(set(hits)) / max(1, len(target)),
        complete_precision=sum(t in target for t in complete_mapped) / max(1, len(complete_mapped)),
        complete_recall=len(set(hits) & complete_target) / max(1, len(complete_target)),
        false_positives=dict(false_positives),
    )
