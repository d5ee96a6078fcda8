"""Splitting persons that break a limit (merge protection, rule 3), on the collected conflict subgraph.

Conflicts are rare and local — a household email reaching two account holders, a store tablet's
anonymous id — so only the components that break a limit are collected from the engine and split
here, the same way whatever the engine (deterministic order everywhere); the rest of the graph never
leaves the engine. One round, per person over a limit, for its most important broken type T:

- limit 1: a breadth-first search from every T identifier at once gives each identifier the nearest
  one (its region). An identifier equally close to two is detached; so is the lower-ranked end of
  every edge between two regions (an edge whose ends rank equally is refused instead);
- a larger limit: the T identifiers first seen earliest are kept, the others detached.

Rounds repeat (components recomputed) until no person breaks a limit or `max_rounds` is reached.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ConflictNode:
    """An identifier of a conflicting component."""

    node: str
    identifier_type: str
    first_seen: object


@dataclass
class ConflictResolution:
    """What splitting decided: detached identifiers, refused edges and the resulting components."""

    detached: list[tuple[str, str, str]] = field(default_factory=list)  # node, rule, detail
    refused: list[tuple[str, str, str, str]] = field(default_factory=list)  # left, right, rule, detail
    components: dict[str, str] = field(default_factory=dict)  # node -> component (smallest node key)
    rounds: int = 0
    unresolved: int = 0  # persons still over a limit after max_rounds


def _components(nodes: list[str], adjacency: dict[str, set[str]]) -> dict[str, str]:
    """node -> smallest node key of its component (iterative: no recursion limit on long chains)."""
    component: dict[str, str] = {}
    for start in sorted(nodes):
        if start in component:
            continue
        members, queue = [start], deque([start])
        component[start] = start
        while queue:
            for neighbour in adjacency[queue.popleft()]:
                if neighbour not in component:
                    component[neighbour] = start
                    members.append(neighbour)
                    queue.append(neighbour)
    return component


def _regions(seeds: list[str], members: set[str], adjacency: dict[str, set[str]]) -> tuple[dict[str, str], set[str]]:
    """Multi-source BFS: node -> nearest seed; nodes equally close to two seeds are contested."""
    region = {seed: seed for seed in seeds}
    contested: set[str] = set()
    frontier = sorted(seeds)
    while frontier:
        arrivals: dict[str, set[str]] = defaultdict(set)
        for node in frontier:
            for neighbour in adjacency[node]:
                if neighbour in members and neighbour not in region and neighbour not in contested:
                    arrivals[neighbour].add(region[node])
        frontier = []
        for node in sorted(arrivals):
            if len(arrivals[node]) > 1:
                contested.add(node)
            else:
                region[node] = next(iter(arrivals[node]))
                frontier.append(node)
    return region, contested


def split_conflicts(
    nodes: list[ConflictNode],
    edges: list[tuple[str, str]],
    limits: dict[str, int],
    ranks: dict[str, int],
    max_rounds: int,
) -> ConflictResolution:
    """Split the given components until every person respects `limits` (see the module docstring)."""
    kind = {n.node: n.identifier_type for n in nodes}
    first_seen = {n.node: n.first_seen for n in nodes}
    live_edges = {tuple(sorted(e)) for e in edges}
    detached: dict[str, tuple[str, str]] = {}
    result = ConflictResolution()
    for round_number in range(1, max_rounds + 1):  # noqa: B007 - the last value is reported
        result.rounds = round_number
        adjacency: dict[str, set[str]] = defaultdict(set)
        for left, right in live_edges:
            adjacency[left].add(right)
            adjacency[right].add(left)
        alive = [n for n in kind if n not in detached]
        component = _components(alive, adjacency)
        members: dict[str, list[str]] = defaultdict(list)
        for node, comp in component.items():
            members[comp].append(node)
        broken = 0
        for comp in sorted(members):
            held: dict[str, list[str]] = defaultdict(list)
            for node in members[comp]:
                held[kind[node]].append(node)
            over = sorted((ranks[t], t) for t, found in held.items() if len(found) > limits[t])
            if not over:
                continue
            broken += 1
            identifier_type = over[0][1]
            if limits[identifier_type] == 1:
                _split_around(sorted(held[identifier_type]), set(members[comp]), adjacency, kind, ranks,
                              detached, live_edges, result)
            else:
                keep = limits[identifier_type]
                ordered = sorted(held[identifier_type], key=lambda n: (str(first_seen[n]), n))
                for node in ordered[keep:]:
                    detached[node] = ("over_limit", f"person already holds {keep} {identifier_type} identifiers")
        if broken == 0:
            break
        live_edges = {e for e in live_edges if e[0] not in detached and e[1] not in detached}
    else:
        result.unresolved = _count_broken(kind, detached, live_edges, limits)
    adjacency = defaultdict(set)
    for left, right in live_edges:
        adjacency[left].add(right)
        adjacency[right].add(left)
    result.components = _components([n for n in kind if n not in detached], adjacency)
    result.detached = [(node, rule, detail) for node, (rule, detail) in sorted(detached.items())]
    return result


def _split_around(
    seeds: list[str],
    members: set[str],
    adjacency: dict[str, set[str]],
    kind: dict[str, str],
    ranks: dict[str, int],
    detached: dict[str, tuple[str, str]],
    live_edges: set[tuple[str, str]],
    result: ConflictResolution,
) -> None:
    """Limit 1: detach what joins two regions; refuse bridging edges whose ends rank equally."""
    region, contested = _regions(seeds, members, adjacency)
    for node in sorted(contested):
        detached.setdefault(node, ("conflict", "equally close to " + " and ".join(_nearest(node, region, adjacency))))
    for left, right in sorted(e for e in live_edges if e[0] in region and e[1] in region):
        if region[left] == region[right]:
            continue
        detail = f"links the persons of {region[left]} and {region[right]}"
        if ranks[kind[left]] == ranks[kind[right]]:
            live_edges.discard((left, right))
            result.refused.append((left, right, "conflict", detail))
        else:
            weaker = left if ranks[kind[left]] > ranks[kind[right]] else right
            detached.setdefault(weaker, ("conflict", detail))


def _nearest(node: str, region: dict[str, str], adjacency: dict[str, set[str]]) -> list[str]:
    """The (two or more) seeds a contested node is equally close to, for its detail text."""
    return sorted({region[n] for n in adjacency[node] if n in region})[:3]


def _count_broken(kind: dict[str, str], detached: dict[str, tuple[str, str]], live_edges: set[tuple[str, str]],
                  limits: dict[str, int]) -> int:
    adjacency: dict[str, set[str]] = defaultdict(set)
    for left, right in live_edges:
        adjacency[left].add(right)
        adjacency[right].add(left)
    component = _components([n for n in kind if n not in detached], adjacency)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for node, comp in component.items():
        counts[(comp, kind[node])] += 1
    return len({comp for (comp, t), n in counts.items() if n > limits[t]})
