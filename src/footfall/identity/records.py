"""Which person each record (event or receipt) belongs to, and the personal details records carry.

A record is owned by the person of its highest-priority identifier that belongs to someone: a
receipt with a card token and a household email belongs to the card holder even when the email was
detached as shared. Records whose identifiers all belong to nobody (a cash receipt with only a name)
are unowned until probabilistic matching links them (`probabilistic.py`).
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import pyarrow as pa
from ibis.expr.types import Table

from footfall.identity.normalise import normalise_name, normalise_postcode

_RANK_WIDTH = 3  # ranks are zero-padded so that the smallest string is the strongest identifier


def record_owners(observations: Table, assignment: Table, ranks: Table) -> Table:
    """message_id, owner: the owner (assignment.owner) of each record's strongest assigned identifier.

    observations: message_id, identifier, identifier_type; assignment: node, owner;
    ranks: identifier_type, rank. One hash aggregation: the minimum of "rank|owner" per record picks
    the strongest identifier (ties between equally strong identifiers: the smallest owner key).
    """
    owned = observations.join(assignment, observations.identifier == assignment.node).join(
        ranks, observations.identifier_type == ranks.identifier_type
    )
    ranked = owned.select(
        "message_id", choice=owned.rank.cast("string").lpad(_RANK_WIDTH, "0").concat("|", owned.owner)
    )
    best = ranked.group_by("message_id").aggregate(choice=ranked.choice.min())
    return best.select("message_id", owner=best.choice.substr(_RANK_WIDTH + 1))


def _mapping(events: Table, column: str, normalise: Callable[[str], tuple[str | None, ...]], names: list[str]) -> Table:
    """Distinct raw values of `column` → normalised columns `names`, computed in Python (a memtable)."""
    values = events.filter(events[column].notnull()).select(column).distinct().to_pyarrow()[column].to_pylist()
    results = [normalise(value) for value in values]
    data = {f"raw_{column}": pa.array(values, pa.string())}
    data.update({name: pa.array([r[i] for r in results], pa.string()) for i, name in enumerate(names)})
    return ibis.memtable(pa.table(data))


def record_details(events: Table, observations: Table) -> Table:
    """Personal details of every record that has any: message_id, ts, email, phone, first_name,
    last_name, postcode — emails and phones normalised as identifiers are, names split and lower-cased,
    postcodes upper-cased without spaces (in Python, once per distinct value). Probabilistic matching
    compares these."""
    with_details = events.filter(
        events.email.notnull() | events.phone.notnull() | events.name.notnull() | events.postcode.notnull()
    )
    names = _mapping(with_details, "name", normalise_name, ["first_name", "last_name"])
    postcodes = _mapping(with_details, "postcode", lambda raw: (normalise_postcode(raw),), ["postcode"])
    named = with_details.left_join(names, with_details.name == names.raw_name)
    named = named.left_join(postcodes, named.postcode == postcodes.raw_postcode)
    base = named.select(
        "message_id", ts=named.timestamp, first_name=named.first_name, last_name=named.last_name,
        postcode=named.postcode_right,
    )
    for kind in ("email", "phone"):
        observed = observations.filter(observations.identifier_type == kind)
        values = observed.group_by("message_id").aggregate(value=observed.identifier.min())
        values = values.select(detail_id=values.message_id, **{kind: values.value.substr(len(kind) + 1)})
        base = base.left_join(values, base.message_id == values.detail_id).drop("detail_id")
    return base
