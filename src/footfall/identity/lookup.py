"""Finding an identifier the way a person types it, in the tables the last resolution left behind.

`email:Jane.Doe@GMail.com`, `Jane.Doe@GMail.com` and `jane.doe@gmail.com` all name the same
identifier: the text is normalised as resolution normalised it (`normalise.py`), with or without a
`type:` prefix. Errors say what was looked for and how to find valid identifiers.
"""

from __future__ import annotations

from ibis.expr.types import Table

from footfall.errors import FootfallError
from footfall.identity.engine import materialized
from footfall.identity.identifiers import IDENTIFIER_TYPES, RECORD_TYPE, identifier_key, split_key
from footfall.identity.normalise import normalise_email, normalise_phone
from footfall.identity.settings import IdentitySettings, load_identity_settings
from footfall.warehouse import Warehouse

KNOWN_TYPES = (*IDENTIFIER_TYPES, RECORD_TYPE)


class NotResolvedError(FootfallError):
    """Identity tables are missing: resolution has not run in this project yet."""

    def __init__(self) -> None:
        super().__init__("identities have not been resolved in this project yet; run `footfall resolve` first")


class UnknownIdentifierError(FootfallError):
    """No identifier matching the given text was seen in the project's events."""

    def __init__(self, text: str, tried: list[str]) -> None:
        looked = ", ".join(tried[:4]) if tried else "no usable form"
        super().__init__(
            f"no identifier {text!r} is known (looked for {looked}). Give it as TYPE:VALUE with TYPE one of "
            f"{', '.join(KNOWN_TYPES)}, e.g. email:jane.doe@gmail.com, or run `footfall resolve` after importing new events."
        )


class NotLinkedError(FootfallError):
    """Two identifiers are not joined by an accepted edge."""


def identity_table(warehouse: Warehouse, name: str) -> Table:
    """One of the identity tables (id_map, persons, identity_edges, event_persons)."""
    if name not in warehouse.materialized_tables():
        raise NotResolvedError()
    return materialized(warehouse, name)


def _candidates(text: str, settings: IdentitySettings, phone_region: str) -> list[str]:
    """Identifier keys `text` may stand for, most specific first."""
    prefix, _, rest = text.partition(":")
    if prefix in KNOWN_TYPES and rest:
        typed = [(prefix, rest)]
    else:
        typed = [(t, text) for t in IDENTIFIER_TYPES]
    keys: list[str] = []
    for identifier_type, value in typed:
        if identifier_type == "email":
            normalised, _ = normalise_email(value, settings.normalisation)
        elif identifier_type == "phone":
            if not any(ch.isdigit() for ch in value):
                continue
            normalised, _ = normalise_phone(value, phone_region, settings.normalisation)
        elif identifier_type == "device_id":
            normalised = value.strip().lower()
        elif identifier_type == "loyalty_id":
            normalised = value.strip().upper().replace(" ", "")
        else:
            normalised = value.strip()
        if normalised:
            keys.append(identifier_key(identifier_type, normalised))
    return list(dict.fromkeys(keys))


def find_identifier(warehouse: Warehouse, text: str, settings: IdentitySettings | None = None) -> str:
    """The identifier key `text` names, among identifiers resolution has seen (assigned or not)."""
    settings = settings or load_identity_settings(warehouse.project)
    candidates = _candidates(text.strip(), settings, warehouse.project.settings.phone_region)
    if not candidates:
        raise UnknownIdentifierError(text, [])
    mapping = identity_table(warehouse, "id_map")
    edges = identity_table(warehouse, "identity_edges")
    found_mapped = mapping.filter(mapping.identifier.isin(candidates)).select(key=mapping.identifier)
    found_left = edges.filter(edges.left.isin(candidates)).select(key=edges.left)
    found_right = edges.filter(edges.right.isin(candidates)).select(key=edges.right)
    found = set(found_mapped.union(found_left).union(found_right).distinct().to_pyarrow()["key"].to_pylist())
    for key in candidates:
        if key in found:
            return key
    raise UnknownIdentifierError(text, candidates)


def describe_key(key: str) -> str:
    """`email jane.doe@gmail.com` for display."""
    identifier_type, value = split_key(key)
    return f"{identifier_type} {value}"
