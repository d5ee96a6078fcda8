"""Reading the one-line text form of a segment: a regex tokenizer and a recursive-descent parser.

Grammar (`and` binds tighter than `or`, `not` tighter than both; keywords are lower case):

    rule       := or ("or" and)*          and := unary ("and" unary)*
    unary      := "not" unary | "(" rule ")" | did | near | "in" "segment" VALUE | NAME comparison
    did        := "did" ["not"] match ( "then" match ["within" DURATION] ["same" fields] ["in" DURATION]
                                      | [COUNT_OP INTEGER] ["in" DURATION] )
    match      := ("any" | STRING) ["[" NAME comparison ("," NAME comparison)* "]"]
    comparison := OP VALUE | ["not"] "in" "(" VALUE ("," VALUE)* ")"
    near       := "within" NUMBER ("km" | "m") "of" ("any" "store" | "store" VALUE)
    fields     := NAME | "(" NAME ("," NAME)* ")"

VALUE is a "double-quoted string" (JSON escapes), a number (`10`, `-2.5`, `1e-07`), true, false, null or
a bare word (`pos`, `S001`). A hand-written parser (no grammar library) keeps error messages exact:
each names what was expected, after which token, at which column.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from pydantic import ValidationError

from footfall.errors import FootfallError
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
    Rule,
    Sequence,
    Trait,
)


class SegmentSyntaxError(FootfallError):
    """Segment text that does not parse; `.position` (0-based) and `.expected` say where and what."""

    def __init__(self, text: str, position: int, expected: str, after: str | None = None,
                 found: str | None = None) -> None:
        self.text, self.position, self.expected = text, position, expected
        self.column = position + 1
        where = f' after "{after}"' if after else ""
        got = f" (found {found})" if found else ""
        line = text.replace("\n", " ").replace("\t", " ")
        super().__init__(f"expected {expected}{where} at column {self.column}{got}\n{line}\n{' ' * position}^")

    def details(self) -> dict[str, Any]:
        """What an API client needs to point at the fault."""
        return {"message": str(self).split("\n")[0], "position": self.position, "column": self.column,
                "expected": self.expected}


_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?P<unit>[A-Za-z]+)?
      | (?P<op>>=|<=|!=|=|<|>)
      | (?P<punct>[()\[\],])
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)""",
    re.VERBOSE | re.DOTALL,
)
DURATION_UNITS = ("h", "d", "w")
DISTANCE_UNITS = ("km", "m")


@dataclass(frozen=True)
class Token:
    kind: str  # string, number, op, punct, name, end
    text: str
    position: int
    value: Any = None
    unit: str | None = None

    def describe(self) -> str:
        return "the end of the text" if self.kind == "end" else f'"{self.text}"'


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            unterminated = text[position] == '"'
            raise SegmentSyntaxError(text, position, "a closing quote" if unterminated else "a word, number, "
                                     "quoted string or one of = != < <= > >= ( ) [ ] ,",
                                     found=None if unterminated else f'"{text[position]}"')
        kind = match.lastgroup if match.lastgroup != "unit" else "number"
        if kind == "string":
            tokens.append(Token("string", match.group(), position, json.loads(match.group(), strict=False)))
        elif kind == "number":
            number = match.group("number")
            value = float(number) if any(c in number for c in ".eE") else int(number)
            tokens.append(Token("number", match.group(), position, value, match.group("unit")))
        elif kind != "ws":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # -- token helpers ----------------------------------------------------------------------------
    @property
    def token(self) -> Token:
        return self.tokens[self.index]

    def fail(self, expected: str, token: Token | None = None) -> NoReturn:
        token = token or self.token
        previous = self.tokens[self.index - 1].text if self.index > 0 and token is self.token else None
        raise SegmentSyntaxError(self.text, token.position, expected, previous,
                                 None if token.kind == "end" else token.describe())

    def next(self) -> Token:
        token = self.token
        self.index += 1
        return token

    def at(self, *words: str) -> bool:
        token = self.token
        return token.text in words and token.kind in ("name", "punct", "op")

    def expect(self, word: str, expected: str | None = None) -> Token:
        if not self.at(word):
            self.fail(expected or f'"{word}"')
        return self.next()

    def build(self, model: type, position: int, **fields: Any) -> Any:
        """Construct a tree node; a value the model refuses becomes a syntax error at `position`."""
        try:
            return model(**fields)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise SegmentSyntaxError(self.text, position, f"a valid {model.__name__.lower()} rule ({problem})") from None

    # -- rules ------------------------------------------------------------------------------------
    def rule(self) -> Rule:
        rule = self.disjunction()
        if self.token.kind != "end":
            self.fail('"and", "or" or the end of the text')
        return rule

    def disjunction(self) -> Rule:
        rules = [self.conjunction()]
        while self.at("or"):
            self.next()
            rules.append(self.conjunction())
        return rules[0] if len(rules) == 1 else Or(rules=tuple(rules))

    def conjunction(self) -> Rule:
        rules = [self.unary()]
        while self.at("and"):
            self.next()
            rules.append(self.unary())
        return rules[0] if len(rules) == 1 else And(rules=tuple(rules))

    def unary(self) -> Rule:
        token = self.token
        if self.at("not"):
            self.next()
            return Not(rule=self.unary())
        if self.at("("):
            self.next()
            rule = self.disjunction()
            self.expect(")", '")", "and" or "or"')
            return rule
        if self.at("did"):
            return self.did()
        if self.at("within"):
            return self.near_store()
        if self.at("in"):
            self.next()
            self.expect("segment")
            return self.build(InSegment, token.position, name=self.value("a segment name"))
        if token.kind == "name" and token.text not in KEYWORDS:
            self.next()
            op, value = self.comparison()
            return self.build(Trait, token.position, name=token.text, op=op, value=value)
        self.fail('a condition ("did", "not", "within", "in segment", a trait name or "(")')

    def did(self) -> Rule:
        start = self.next().position
        negated = self.at("not")
        if negated:
            self.next()
        first = self.match()
        if self.at("then"):
            self.next()
            then = self.match()
            within = self.duration() if self.at("within") else None
            same = self.same_fields() if self.at("same") else ()
            window = self.duration() if self.at("in") else None
            rule: Rule = self.build(Sequence, start, first=first, then=then, within=within, same=same, window=window)
        else:
            count = Count()
            if self.token.kind == "op":
                op = self.next()
                number = self.token
                if number.kind != "number" or not isinstance(number.value, int) or number.value < 0 or number.unit:
                    self.fail("a whole number of events")
                self.next()
                count = Count(op=op.text, value=number.value)
            window = self.duration() if self.at("in") else None
            rule = self.build(Did, start, event=first.event, filters=first.filters, count=count, window=window)
        return Not(rule=rule) if negated else rule

    def match(self) -> EventMatch:
        token = self.token
        if self.at("any"):
            event = None
        elif token.kind == "string":
            event = token.value
        else:
            self.fail('an event name in double quotes or "any"')
        self.next()
        filters: list[Filter] = []
        if self.at("["):
            self.next()
            while True:
                field = self.token
                if field.kind != "name" or field.text in KEYWORDS:
                    self.fail("an event field (e.g. channel, store_id, amount, properties.color)")
                self.next()
                op, value = self.comparison()
                filters.append(self.build(Filter, field.position, field=field.text, op=op, value=value))
                if self.at("]"):
                    break
                self.expect(",", '"," or "]"')
            self.next()
        return EventMatch(event=event, filters=tuple(filters))

    def comparison(self) -> tuple[str, Any]:
        if self.token.kind == "op":
            op = self.next().text
            return op, self.value("a value")
        op = "in"
        if self.at("not"):
            self.next()
            op = "not in"
            self.expect("in", '"in" after "not"')
        elif self.at("in"):
            self.next()
        else:
            self.fail('a comparison (= != < <= > >= in, not in)')
        self.expect("(", '"(" and a list of values')
        values = [self.value("a value")]
        while self.at(","):
            self.next()
            values.append(self.value("a value"))
        self.expect(")", '"," or ")"')
        return op, tuple(values)

    def value(self, expected: str) -> Any:
        token = self.token
        if token.kind == "string":
            self.next()
            return token.value
        if token.kind == "number":
            if token.unit:
                self.fail(f"{expected} (a plain number, not {token.text})")
            self.next()
            return token.value
        if token.kind == "name" and token.text in ("true", "false", "null"):
            self.next()
            return {"true": True, "false": False, "null": None}[token.text]
        if token.kind == "name" and token.text not in KEYWORDS and "." not in token.text:
            self.next()
            return token.text
        self.fail(expected + " (a quoted string, a number, true, false or null)")

    def _amount(self, units: tuple[str, ...], what: str) -> tuple[Any, str]:
        """A number with its unit, written `30d` or `30 d`."""
        token = self.token
        if token.kind != "number":
            self.fail(f"a {what} like 30{units[0]}" if what == "duration" else f"a distance like 5{units[0]}")
        self.next()
        unit = token.unit
        if unit is None and self.token.kind == "name" and self.token.text in units:
            unit = self.next().text
        if unit not in units:
            self.fail(f"a unit ({', '.join(units)}) for the {what}", token)
        return token.value, unit

    def duration(self) -> Duration:
        keyword = self.next()
        position = self.token.position
        amount, unit = self._amount(DURATION_UNITS, "duration")
        if not isinstance(amount, int) or amount <= 0:
            raise SegmentSyntaxError(self.text, position, "a positive whole number of hours, days or weeks", keyword.text)
        return Duration(amount=amount, unit=unit)

    def same_fields(self) -> tuple[str, ...]:
        self.next()
        if not self.at("("):
            return (self.field_name(),)
        self.next()
        names = [self.field_name()]
        while self.at(","):
            self.next()
            names.append(self.field_name())
        self.expect(")", '"," or ")"')
        return tuple(names)

    def field_name(self) -> str:
        token = self.token
        if token.kind != "name" or token.text in KEYWORDS:
            self.fail("an event field (e.g. sku, store_id)")
        return self.next().text

    def near_store(self) -> NearStore:
        start = self.next().position
        distance, unit = self._amount(DISTANCE_UNITS, "distance")
        self.expect("of")
        store_id = None
        if self.at("any"):
            self.next()
            self.expect("store")
        else:
            self.expect("store", '"store" or "any store"')
            store_id = self.value("a store id")
        return self.build(NearStore, start, distance=distance, unit=unit, store_id=store_id)


def parse(text: str) -> Rule:
    """The rule tree of a segment's text form; raises SegmentSyntaxError pointing at the fault."""
    return _Parser(text).rule()
