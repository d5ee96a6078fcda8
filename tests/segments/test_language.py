"""The segment language: text ↔ tree ↔ JSON round trips (Hypothesis) and located syntax errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from footfall.errors import FootfallError
from footfall.segments import SegmentSyntaxError, parse, render, rule_from_json, rule_to_json
from footfall.segments.rules import (
    KEYWORDS,
    And,
    Count,
    Did,
    Duration,
    EventMatch,
    Filter,
    InSegment,
    NearStore,
    Not,
    Or,
    Sequence,
    Trait,
)

# -- strategies: arbitrary trees, awkward strings and numbers included -----------------------------
names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True).filter(lambda n: n not in KEYWORDS)
texts = st.text(max_size=12)  # quotes, backslashes, unicode, control characters
floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), floats, texts,
                    st.sampled_from(["pos", "S001", "web", "1e-7", "-3", "and", "true", "null", "a b", 'q"uote']))
numbers = st.one_of(st.integers(-10**6, 10**6), floats)
fields = st.one_of(st.sampled_from(["channel", "realm", "store_id", "amount", "sku", "category", "quantity"]),
                   names.map(lambda n: f"properties.{n}"))
durations = st.builds(Duration, amount=st.integers(1, 400), unit=st.sampled_from(["h", "d", "w"]))


@st.composite
def comparisons(draw: st.DrawFn) -> dict[str, object]:
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "in", "not in"]))
    if op in ("in", "not in"):
        return {"op": op, "value": tuple(draw(st.lists(scalars, min_size=1, max_size=4)))}
    if op in ("<", "<=", ">", ">="):
        return {"op": op, "value": draw(st.one_of(numbers, texts))}
    return {"op": op, "value": draw(scalars)}


filters = st.builds(lambda field, c: Filter(field=field, **c), fields, comparisons())
matches = st.builds(EventMatch, event=st.one_of(st.none(), texts, st.sampled_from(["Order Completed", "any"])),
                    filters=st.lists(filters, max_size=3).map(tuple))
dids = st.builds(lambda m, count, window: Did(event=m.event, filters=m.filters, count=count, window=window),
                 matches, st.builds(Count, op=st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
                                    value=st.integers(0, 1000)), st.one_of(st.none(), durations))
sequences = st.builds(Sequence, first=matches, then=matches, within=st.one_of(st.none(), durations),
                      same=st.lists(st.sampled_from(["sku", "store_id", "category", "properties.colour"]),
                                    max_size=3, unique=True).map(tuple), window=st.one_of(st.none(), durations))
traits = st.builds(lambda name, c: Trait(name=name, **c), names, comparisons())
near = st.builds(NearStore, distance=st.one_of(st.integers(1, 10**6), st.floats(1e-9, 1e6)),
                 unit=st.sampled_from(["km", "m"]), store_id=st.one_of(st.none(), texts, st.just("S001")))
segments = st.builds(InSegment, name=texts.filter(bool))
leaves = st.one_of(dids, sequences, traits, near, segments)
rules = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(lambda rs: And(rules=tuple(rs)), st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda rs: Or(rules=tuple(rs)), st.lists(children, min_size=2, max_size=3)),
        st.builds(lambda r: Not(rule=r), children),
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules)
def test_parse_of_render_gives_back_every_tree(rule) -> None:
    text = render(rule)
    assert parse(text) == rule, text
    assert render(parse(text)) == text  # the rendering is canonical


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules)
def test_json_round_trip_gives_back_every_tree(rule) -> None:
    data = rule_to_json(rule)
    assert rule_from_json(json.loads(json.dumps(data))) == rule
    assert rule_from_json(json.dumps(data)) == rule
    assert next(iter(data)) == "kind"


def test_the_issue_example_parses_into_the_expected_tree() -> None:
    text = 'did "Product Viewed" >= 2 in 30d and not did "Order Completed"[channel=web] in 30d and nearest_store_km < 10'
    assert parse(text) == And(rules=(
        Did(event="Product Viewed", count=Count(op=">=", value=2), window=Duration(amount=30, unit="d")),
        Not(rule=Did(event="Order Completed", filters=(Filter(field="channel", op="=", value="web"),),
                     window=Duration(amount=30, unit="d"))),
        Trait(name="nearest_store_km", op="<", value=10),
    ))
    assert render(parse(text)) == text


def test_and_binds_tighter_than_or_and_render_keeps_only_needed_parentheses() -> None:
    rule = parse("a = 1 or b = 2 and c = 3")
    assert isinstance(rule, Or) and isinstance(rule.rules[1], And)
    assert render(parse("(a = 1 or b = 2) and c = 3")) == "(a = 1 or b = 2) and c = 3"
    assert render(parse("(a = 1 and b = 2) or (c = 3)")) == "a = 1 and b = 2 or c = 3"
    assert render(parse("not (a = 1 or b = 2)")) == "not (a = 1 or b = 2)"
    assert render(parse("a = 1 or (b = 2 or c = 3)")) == "a = 1 or (b = 2 or c = 3)"


def test_did_not_is_not_did_and_defaults_are_left_out() -> None:
    assert parse('did not "X" in 2w') == Not(rule=Did(event="X", window=Duration(amount=2, unit="w")))
    assert render(parse('did "X" >= 1')) == 'did "X"'
    assert render(parse('did any [ realm = online , amount>50 ] in 12 h')) == 'did any[realm=online, amount>50] in 12h'


def test_sequence_with_shared_sku_and_filters() -> None:
    rule = parse('did "Product Viewed"[realm=online] then "Order Completed"[channel=pos] within 14d same sku')
    assert rule == Sequence(first=EventMatch(event="Product Viewed", filters=(Filter(field="realm", op="=", value="online"),)),
                            then=EventMatch(event="Order Completed", filters=(Filter(field="channel", op="=", value="pos"),)),
                            within=Duration(amount=14, unit="d"), same=("sku",))


def test_values_keep_their_types() -> None:
    rule = parse('x in ("10", 10, 10.0, -1e-07, true, null, pos)')
    assert rule.value == ("10", 10, 10.0, -1e-07, True, None, "pos")
    assert [type(v) for v in rule.value] == [str, int, float, float, bool, type(None), str]
    assert parse('within 2.5km of store "S 1"') == NearStore(distance=2.5, unit="km", store_id="S 1")
    assert parse('in segment "VIP \\"gold\\" ✨"') == InSegment(name='VIP "gold" ✨')


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ('did "Product Viewed" >= abc', 25, 'expected a whole number of events after ">=" at column 25'),
        ('did "Product Viewed" in 30', 25, "expected a unit (h, d, w) for the duration at column 25"),
        ("nearest_store_km <", 19, 'expected a value (a quoted string, a number, true, false or null) after "<" at column 19'),
        ('did "X" and', 12, 'expected a condition'),
        ("a = 1 b = 2", 7, 'expected "and", "or" or the end of the text after "1" at column 7'),
        ('(a = 1', 7, 'expected ")", "and" or "or" after "1" at column 7'),
        ('did Viewed', 5, 'expected an event name in double quotes or "any" after "did" at column 5'),
        ('did "X"[colour=red]', 9, "unknown event field 'colour'"),
        ('x < true', 1, "'<' needs a number or a string"),
        ('in segment "a', 12, "expected a closing quote at column 12"),
        ('x = 1 & y = 2', 7, "at column 7"),
        ('within 5 of store S1', 8, "expected a unit (km, m) for the distance at column 8"),
    ],
)
def test_syntax_errors_say_what_was_expected_and_where(text: str, column: int, expected: str) -> None:
    with pytest.raises(SegmentSyntaxError) as caught:
        parse(text)
    error = caught.value
    assert isinstance(error, FootfallError)
    assert error.column == column and error.position == column - 1
    assert expected in str(error)
    lines = str(error).split("\n")
    assert lines[1] == text and lines[2] == " " * (column - 1) + "^"
    assert error.details()["column"] == column
