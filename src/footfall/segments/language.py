"""The segment language: the rule tree (`rules`), its text form (`parse` here, `render` below) and JSON.

`render` writes the canonical text of a tree: minimal parentheses (`and` binds tighter than `or`; a
rule nested in one of its own kind keeps its parentheses so that the tree comes back unchanged), the
default count `>= 1` left out, strings bare when they are plain words and quoted (JSON escapes)
otherwise, floats as Python's shortest round-tripping repr. Hence `parse(render(rule)) == rule`.
"""

from __future__ import annotations

import json

from footfall.segments.parser import SegmentSyntaxError, parse
from footfall.segments.rules import (
    IDENTIFIER,
    KEYWORDS,
    And,
    Comparison,
    Did,
    Duration,
    EventMatch,
    Filter,
    InSegment,
    NearStore,
    Not,
    Or,
    Rule,
    Scalar,
    Sequence,
    Trait,
    rule_from_json,
    rule_to_json,
)

__all__ = ["SegmentSyntaxError", "parse", "render", "rule_from_json", "rule_to_json"]


def render_value(value: Scalar) -> str:
    """One value as the parser reads it back: plain words bare, other strings quoted."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if IDENTIFIER.fullmatch(value) and value not in KEYWORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


def _comparison(comparison: Comparison, spaced: bool) -> str:
    if comparison.op in ("in", "not in"):
        values = ", ".join(render_value(v) for v in comparison.value)
        return f" {comparison.op} ({values})"
    gap = " " if spaced else ""
    return f"{gap}{comparison.op}{gap}{render_value(comparison.value)}"


def _filter(item: Filter) -> str:
    return item.field + _comparison(item, spaced=False)


def _match(match: EventMatch) -> str:
    name = "any" if match.event is None else json.dumps(match.event, ensure_ascii=False)
    if not match.filters:
        return name
    return f"{name}[{', '.join(_filter(f) for f in match.filters)}]"


def _duration(duration: Duration) -> str:
    return f"{duration.amount}{duration.unit}"


def _did(rule: Did) -> str:
    text = f"did {_match(rule)}"
    if rule.count.op != ">=" or rule.count.value != 1:
        text += f" {rule.count.op} {rule.count.value}"
    if rule.window is not None:
        text += f" in {_duration(rule.window)}"
    return text


def _sequence(rule: Sequence) -> str:
    text = f"did {_match(rule.first)} then {_match(rule.then)}"
    if rule.within is not None:
        text += f" within {_duration(rule.within)}"
    if rule.same:
        text += " same " + (rule.same[0] if len(rule.same) == 1 else f"({', '.join(rule.same)})")
    if rule.window is not None:
        text += f" in {_duration(rule.window)}"
    return text


def _near_store(rule: NearStore) -> str:
    distance = render_value(rule.distance)
    target = "any store" if rule.store_id is None else f"store {render_value(rule.store_id)}"
    return f"within {distance}{rule.unit} of {target}"


def _wrapped(rule: Rule, parent: type) -> str:
    """A child rule, in parentheses only where the parser would otherwise read a different tree."""
    text = render(rule)
    needs = (parent is And and isinstance(rule, (And, Or))) or (parent is Or and isinstance(rule, Or)) or (
        parent is Not and isinstance(rule, (And, Or)))
    return f"({text})" if needs else text


def render(rule: Rule) -> str:
    """The canonical one-line text of a rule tree."""
    if isinstance(rule, Or):
        return " or ".join(_wrapped(r, Or) for r in rule.rules)
    if isinstance(rule, And):
        return " and ".join(_wrapped(r, And) for r in rule.rules)
    if isinstance(rule, Not):
        return "not " + _wrapped(rule.rule, Not)
    if isinstance(rule, Did):
        return _did(rule)
    if isinstance(rule, Sequence):
        return _sequence(rule)
    if isinstance(rule, Trait):
        return rule.name + _comparison(rule, spaced=True)
    if isinstance(rule, NearStore):
        return _near_store(rule)
    if isinstance(rule, InSegment):
        return f"in segment {render_value(rule.name)}"
    raise TypeError(f"not a segment rule: {rule!r}")
