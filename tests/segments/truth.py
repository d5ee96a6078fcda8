"""Scoring segments against the synthetic world's ground truth.

A resolved person stands for the true person behind most of its events. Scores are given twice: over
every true person, and over the *observable* true persons (`observable_persons`): those whose whole
behaviour an identity resolver can attribute to one person from the identifiers the data carries.
The others cannot be seen whole by any resolver — an anonymous cash receipt carries no identifier; a
card used only at the till, or a browser never logged in, is never seen with any other identifier of
its owner — so no segment rule can see their whole behaviour either (the ceiling this puts on the
scores over everyone is measured in docs/segments.md). The observable set is computed from the world's
truth and the events alone, not from what Footfall resolved, so a person Footfall wrongly splits or
merges still counts against it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from footfall.identity import IdentitySettings
from footfall.identity.identifiers import extract_identifiers
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


@dataclass(frozen=True)
class Truth:
    owner: dict[str, str]  # resolved person → its true person (majority of its events)
    archetype: dict[str, str]  # true person → archetype
    home_store_km: dict[str, float]
    observable: frozenset[str]  # true persons an identity resolver can see whole (`observable_persons`)

    def target(self, segment: str) -> set[str]:
        archetype, near_km = TARGETS[segment]
        return {p for p, a in self.archetype.items()
                if a == archetype and (near_km is None or self.home_store_km[p] < near_km)}


@dataclass(frozen=True)
class Score:
    members: int
    precision: float
    recall: float
    observable_precision: float  # over members standing for observable true persons
    observable_recall: float  # over the observable true persons of the target
    false_positives: dict[str, int]


def load_truth(project_dir: Path, manifest: WorldManifest) -> Truth:
    records = pq.read_table(manifest.path("records"), columns=["message_id", "person_id"])
    true_of = dict(zip(records["message_id"].to_pylist(), records["person_id"].to_pylist()))
    with open_warehouse(open_project(project_dir)) as warehouse:
        owners = warehouse.to_arrow(warehouse.table("event_persons"))
        events = warehouse.table("events")
        loaded = warehouse.to_arrow(events.select("message_id"))
        observations = warehouse.to_arrow(extract_identifiers(
            events, IdentitySettings().normalisation, warehouse.project.settings.phone_region
        ).observations.select("message_id", "identifier"))
    owned = dict(zip(owners["message_id"].to_pylist(), owners["person_id"].to_pylist()))
    votes: dict[str, Counter[str]] = {}
    for message_id, person in owned.items():
        if message_id in true_of:
            votes.setdefault(person, Counter())[true_of[message_id]] += 1
    owner = {person: counts.most_common(1)[0][0] for person, counts in votes.items()}
    persons = pq.read_table(manifest.path("persons"), columns=["person_id", "archetype", "home_store_km"])
    ids = persons["person_id"].to_pylist()
    observable = observable_persons(true_of, loaded["message_id"].to_pylist(), observations)
    return Truth(owner, dict(zip(ids, persons["archetype"].to_pylist())),
                 dict(zip(ids, persons["home_store_km"].to_pylist())), observable)


def observable_persons(true_of: dict[str, str], loaded: list[str], observations: pa.Table) -> frozenset[str]:
    """The true persons whose whole behaviour an identity resolver can attribute to one person.

    The one definition of "observable" in the tests. A true person is observable when every one of
    their events carries at least one identifier of their own, and their events are connected through
    their own identifiers: the graph of events and identifiers, with an edge where an event carries an
    identifier, has all their events in one component. Device signals count: store visits and homes
    are derived from them, so a phone whose pings are never seen with its owner's other identifiers
    hides the visits it observed. An identifier is a person's own when every event carrying it is theirs; one seen in
    the events of several true persons (a household email, a store tablet's anonymous id) attributes
    nobody and is left out. Identifiers are the normalised keys identity resolution extracts (the
    normaliser is tested on its own in tests/identity). Personal details that are not identifiers (a
    name, a postcode, an email with a typo) are left out: only probabilistic matching can use them.

    true_of: message_id → true person (the world's records); loaded: the message ids of the events in
    the warehouse; observations: (message_id, identifier) for every identifier of every event.
    """
    mine = observations.filter(pc.is_in(observations["message_id"], pa.array(list(true_of))))
    holder = pa.array([true_of[m] for m in mine["message_id"].to_pylist()])
    holders = pa.table({"identifier": mine["identifier"], "holder": holder}).group_by("identifier").aggregate(
        [("holder", "count_distinct")])
    own = holders.filter(pc.equal(holders["holder_count_distinct"], 1))["identifier"]
    edges = mine.filter(pc.is_in(mine["identifier"], own))
    # Event and identifier nodes share one code space (message ids and `type:value` keys never collide).
    encoded = pa.concat_arrays([edges["message_id"].combine_chunks(), edges["identifier"].combine_chunks()]
                               ).dictionary_encode()
    codes = encoded.indices.to_numpy()
    half = edges.num_rows
    size = len(encoded.dictionary)
    graph = coo_matrix((np.ones(half, dtype=np.int8), (codes[:half], codes[half:])), shape=(size, size))
    _, labels = connected_components(graph, directed=False)
    label_of = dict(zip(encoded.dictionary.to_pylist(), labels.tolist()))
    components: dict[str, set[int | None]] = {}
    for message_id in loaded:
        if message_id in true_of:
            components.setdefault(true_of[message_id], set()).add(label_of.get(message_id))
    return frozenset(p for p, labels in components.items() if len(labels) == 1 and None not in labels)


def score(members: set[str], segment: str, truth: Truth) -> Score:
    """Precision over members (each mapped to its true person), recall over the target's true persons;
    both again over the observable true persons only."""
    target = truth.target(segment)
    mapped = [truth.owner.get(m) for m in members]
    hits = [t for t in mapped if t in target]
    observable_mapped = [t for t in mapped if t in truth.observable]
    observable_target = target & truth.observable
    false_positives = Counter(truth.archetype.get(t, "unowned") for t in mapped if t not in target)
    return Score(
        members=len(members),
        precision=len(hits) / max(1, len(mapped)),
        recall=len(set(hits)) / max(1, len(target)),
        observable_precision=sum(t in target for t in observable_mapped) / max(1, len(observable_mapped)),
        observable_recall=len(set(hits) & observable_target) / max(1, len(observable_target)),
        false_positives=dict(false_positives),
    )
