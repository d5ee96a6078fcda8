"""`identity stats`: how many persons, how their identifiers spread, the largest ones, what was refused."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import ibis

from footfall.identity.lookup import identity_table
from footfall.identity.store import IdentityStore
from footfall.warehouse import Warehouse

# Identifiers-per-person histogram buckets: (label, lowest, highest inclusive).
BUCKETS = (("1", 1, 1), ("2", 2, 2), ("3", 3, 3), ("4-5", 4, 5), ("6-10", 6, 10), ("11-20", 11, 20),
           ("21-50", 21, 50), ("51+", 51, 10**12))


@dataclass
class IdentityStats:
    """A summary of the latest resolution (JSON-able through `to_dict`)."""

    persons: int
    identifiers: int
    events: int
    events_resolved: int
    probabilistic_links: int
    identifiers_per_person: dict[str, int]
    largest: list[dict[str, Any]]
    refused_edges: dict[str, int]
    detached_identifiers: dict[str, int]
    garbage: list[dict[str, Any]] = field(default_factory=list)
    last_run: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def identity_stats(warehouse: Warehouse, largest: int = 10) -> IdentityStats:
    """Counts from the materialised tables, plus garbage and rule counts from the last run's log."""
    persons = identity_table(warehouse, "persons")
    edges = identity_table(warehouse, "identity_edges")
    bucket = ibis.cases(*((persons.identifiers.between(low, high), label) for label, low, high in BUCKETS))
    histogram = persons.group_by(bucket=bucket).aggregate(n=persons.count()).to_pyarrow().to_pylist()
    counts = {r["bucket"]: int(r["n"]) for r in histogram}
    totals = persons.aggregate(
        persons=persons.count(), identifiers=persons.identifiers.sum(), events=persons.events.sum()
    ).to_pyarrow().to_pylist()[0]
    top = persons.order_by([ibis.desc("identifiers"), "person_id"]).limit(largest)
    top_rows = top.select("person_id", "anchor", "identifiers", "events").to_pyarrow().to_pylist()
    refused = edges.filter(edges.status == "refused")
    by_rule = refused.group_by("rule").aggregate(n=refused.count()).to_pyarrow().to_pylist()
    links = edges.filter((edges.source == "probabilistic") & (edges.status == "accepted")).count().execute()
    with IdentityStore(warehouse.project) as store:
        run = store.last_run() or {}
    summary = run.get("summary", {})
    detached = {k.removeprefix("detached "): v for k, v in summary.get("rule_counts", {}).items() if k.startswith("detached ")}
    return IdentityStats(
        persons=int(totals["persons"] or 0),
        identifiers=int(totals["identifiers"] or 0),
        events=int(summary.get("events", 0)),
        events_resolved=int(totals["events"] or 0),
        probabilistic_links=int(links),
        identifiers_per_person={label: counts.get(label, 0) for label, _, _ in BUCKETS},
        largest=[{**r, "identifiers": int(r["identifiers"]), "events": int(r["events"])} for r in top_rows],
        refused_edges={r["rule"]: int(r["n"]) for r in sorted(by_rule, key=lambda r: r["rule"])},
        detached_identifiers=detached,
        garbage=summary.get("garbage", []),
        last_run={k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in run.items() if k != "summary"},
    )
