"""The segment rule tree: frozen Pydantic models whose JSON form (with a `kind` discriminator) is canonical.

A segment is data, not code: the tree below is what the store keeps, the API accepts as JSON and the
compiler turns into one Ibis expression. The one-line text form (`footfall.segments.language`) is
another spelling of exactly the same tree: `parse(render(rule)) == rule` for every rule.

Kinds: `and` / `or` (two or more rules), `not`, `did` (an event condition with filters, a count
comparison and a window relative to `as_of`), `sequence` (one event, then another within a time,
optionally sharing properties such as the sku), `trait` (a column of the `profiles` table compared with
a value), `near_store` (home within a distance of a store) and `segment` (membership of another segment).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from footfall.schema.tables import EVENTS

# Words with a meaning in the text form; a trait or field may not be named like one.
KEYWORDS = frozenset(
    {"and", "or", "not", "did", "then", "within", "in", "of", "store", "any", "segment", "same",
     "true", "false", "null"}
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Event columns a filter or `same` may name; `properties.a.b` reaches into the JSON object.
EVENT_FIELDS = frozenset(EVENTS.names) - {"context", "properties", "traits"}
PROPERTY_PATH = re.compile(r"properties(\.[A-Za-z_][A-Za-z0-9_]*)+")

Scalar = Union[bool, int, float, str, None]
ComparisonOp = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in"]
CountOp = Literal["=", "!=", "<", "<=", ">", ">="]
DurationUnit = Literal["h", "d", "w"]
DistanceUnit = Literal["km", "m"]
UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7}


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_scalar(value: Scalar) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    return value


def _check_identifier(name: str, what: str) -> str:
    if not IDENTIFIER.fullmatch(name) or name in KEYWORDS:
        raise ValueError(f"{what} {name!r} must be a name of letters, digits and _ (and not a keyword)")
    return name


def check_event_field(name: str) -> str:
    """A field a filter may name: a typed event column or a `properties.…` JSON path."""
    if name in EVENT_FIELDS or PROPERTY_PATH.fullmatch(name):
        return name
    raise ValueError(f"unknown event field {name!r}: use a typed event column "
                     f"({', '.join(sorted(EVENT_FIELDS))}) or properties.NAME")


class Comparison(_Node):
    """`field op value`; `in` / `not in` take a tuple of values; `= null` / `!= null` test for absence."""

    op: ComparisonOp
    value: Union[Scalar, tuple[Scalar, ...]]

    @model_validator(mode="after")
    def _value_fits_op(self) -> Comparison:
        if self.op in ("in", "not in"):
            if not isinstance(self.value, tuple) or not self.value:
                raise ValueError(f"{self.op!r} needs a non-empty list of values")
            for item in self.value:
                _check_scalar(item)
        else:
            if isinstance(self.value, tuple):
                raise ValueError(f"{self.op!r} compares with one value, not a list")
            _check_scalar(self.value)
            if self.op in ("<", "<=", ">", ">=") and (self.value is None or isinstance(self.value, bool)):
                raise ValueError(f"{self.op!r} needs a number or a string, not {json.dumps(self.value)}")
        return self


class Filter(Comparison):
    """A condition on one event: `channel=pos`, `amount>50`, `category in ("shoes","bags")`."""

    field: str

    _field = field_validator("field")(lambda cls, v: check_event_field(v))


class Duration(_Node):
    """A positive whole number of hours, days or weeks (`12h`, `30d`, `2w`), kept as written."""

    amount: int = Field(gt=0)
    unit: DurationUnit

    @property
    def hours(self) -> int:
        return self.amount * UNIT_HOURS[self.unit]


class Count(_Node):
    """How many matching events a person must have: `>= 1` unless the rule says otherwise."""

    op: CountOp = ">="
    value: int = Field(default=1, ge=0)

    def holds(self, n: int) -> bool:
        return {"=": n == self.value, "!=": n != self.value, "<": n < self.value, "<=": n <= self.value,
                ">": n > self.value, ">=": n >= self.value}[self.op]


class EventMatch(_Node):
    """Which events count: a name (None: any event) and filters on their columns."""

    event: str | None = None
    filters: tuple[Filter, ...] = ()


class Did(EventMatch):
    """`did EVENT[filters] >= N in WINDOW`: at least (or at most, ...) N matching events in the window."""

    kind: Literal["did"] = "did"
    count: Count = Count()
    window: Duration | None = None


class Sequence(_Node):
    """`did A then B within 14d same sku`: an A event followed (strictly later) by a B event.

    `within` bounds the time from A to B; `same` names event fields both must share (the sku of a
    viewed product and of a bought order line); `window` keeps both events within that time of as_of.
    """

    kind: Literal["sequence"] = "sequence"
    first: EventMatch
    then: EventMatch
    within: Duration | None = None
    same: tuple[str, ...] = ()
    window: Duration | None = None

    @field_validator("same")
    @classmethod
    def _same_fields(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            check_event_field(name)
        if len(set(value)) != len(value):
            raise ValueError("a field appears twice after 'same'")
        return value


class Trait(Comparison):
    """`nearest_store_km < 10`: a column of the person's profile compared with a value."""

    kind: Literal["trait"] = "trait"
    name: str

    _name = field_validator("name")(lambda cls, v: _check_identifier(v, "trait"))


class NearStore(_Node):
    """`within 5km of store "S001"` (or `of any store`): distance from the profile's home location."""

    kind: Literal["near_store"] = "near_store"
    distance: Union[int, float] = Field(gt=0)
    unit: DistanceUnit = "km"
    store_id: str | None = None

    _distance = field_validator("distance")(lambda cls, v: _check_scalar(v))

    @property
    def metres(self) -> float:
        return float(self.distance) * (1000.0 if self.unit == "km" else 1.0)


class InSegment(_Node):
    """`in segment "name"`: members of another (stored or built-in) segment."""

    kind: Literal["segment"] = "segment"
    name: str = Field(min_length=1)


class And(_Node):
    kind: Literal["and"] = "and"
    rules: tuple[Rule, ...] = Field(min_length=2)


class Or(_Node):
    kind: Literal["or"] = "or"
    rules: tuple[Rule, ...] = Field(min_length=2)


class Not(_Node):
    kind: Literal["not"] = "not"
    rule: Rule


Rule = Annotated[Union[And, Or, Not, Did, Sequence, Trait, NearStore, InSegment], Field(discriminator="kind")]
for _model in (And, Or, Not):
    _model.model_rebuild()
_RULE = TypeAdapter(Rule)


def atoms(rule: Rule) -> Iterator[Rule]:
    """The conditions of a rule under its and / or / not, in order (a `did`, a sequence, a trait, ...)."""
    if isinstance(rule, (And, Or)):
        for part in rule.rules:
            yield from atoms(part)
    elif isinstance(rule, Not):
        yield from atoms(rule.rule)
    else:
        yield rule


def rule_to_json(rule: Rule) -> dict[str, Any]:
    """The canonical JSON form of a rule (a dict ready for `json.dumps`); defaults are written out."""
    return _kind_first(_RULE.dump_python(rule, mode="json"))


def _kind_first(data: Any) -> Any:
    """The same JSON with `kind`, then the subject (`name`, `field`) first in each object: easier to read."""
    if isinstance(data, list):
        return [_kind_first(item) for item in data]
    if isinstance(data, dict):
        keys = sorted(data, key=lambda key: 0 if key == "kind" else 1 if key in ("name", "field") else 2)
        return {key: _kind_first(data[key]) for key in keys}
    return data


def rule_from_json(data: dict[str, Any] | str) -> Rule:
    """A rule from its JSON form (a dict or JSON text); raises pydantic.ValidationError when invalid."""
    if isinstance(data, str):
        return _RULE.validate_json(data)
    return _RULE.validate_python(data)
