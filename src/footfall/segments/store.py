"""Segment definitions in the operational store: a name, the text a marketer wrote, its canonical JSON.

Definitions are small transactional facts, so they live in the op store (SQLite or PostgreSQL through
SQLAlchemy Core) next to keys and identity runs; what a segment *contains* is computed by the engine
(`footfall.segments.compiler`) and recorded over time by `footfall.segments.membership`.

A definition is validated before it is stored: its text must parse (`SegmentSyntaxError` points at
the position), and every `in segment "x"` must name a segment that exists without leading back to the
segment being defined. The text stored is the canonical rendering of the parsed rule, so two ways of
writing the same rule are stored alike. Built-in segments (`BUILTIN_SEGMENTS`) are always listed and
cannot be replaced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Column, DateTime, String, Table, Text, delete, insert, select, update

from footfall.errors import AlreadyExistsError, FootfallError, InvalidDefinitionError, NotFoundError, ReadOnlyError
from footfall.opstore import metadata, operational_engine
from footfall.project import Project
from footfall.segments.builtin import BUILTIN_SEGMENTS
from footfall.segments.language import parse, render
from footfall.segments.rules import And, InSegment, Not, Or, Rule, rule_from_json, rule_to_json

segment_definitions = Table(
    "segment_definitions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("text", Text, nullable=False),  # canonical text (`render(parse(written))`)
    Column("rule_json", Text, nullable=False),  # the canonical JSON tree, for API clients and audits
    Column("description", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class SegmentDefinition:
    """A segment's definition: its name, canonical text and rule tree."""

    name: str
    text: str
    rule: Rule
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    builtin: bool = False

    @property
    def rule_json(self) -> dict:
        return rule_to_json(self.rule)


def check_segment_name(name: str) -> str:
    """A segment name is a slug: lower-case letters, digits, '_' and '-' (it appears in URLs and files)."""
    if not _NAME.match(name):
        raise InvalidDefinitionError(
            f"segment name {name!r} is not allowed: use 1-64 lower-case letters, digits, '_' or '-', "
            "starting with a letter or digit, e.g. near-store-browsers", "name")
    return name


def segment_references(rule: Rule) -> Iterator[str]:
    """The names of the segments `rule` refers to (`in segment "x"`), in order of appearance."""
    if isinstance(rule, InSegment):
        yield rule.name
    elif isinstance(rule, (And, Or)):
        for part in rule.rules:
            yield from segment_references(part)
    elif isinstance(rule, Not):
        yield from segment_references(rule.rule)


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


class SegmentStore:
    """Stored segment definitions of a project, plus the read-only built-ins."""

    def __init__(self, project: Project) -> None:
        self._engine = operational_engine(project)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> SegmentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading --------------------------------------------------------------------------------
    def find(self, name: str) -> SegmentDefinition | None:
        """The definition called `name` (stored or built-in), or None."""
        if name in BUILTIN_SEGMENTS:
            return _builtin(name)
        with self._engine.connect() as connection:
            row = connection.execute(select(segment_definitions).where(segment_definitions.c.name == name)).first()
        return None if row is None else _definition(row)

    def get(self, name: str) -> SegmentDefinition:
        """The definition called `name`; `NotFoundError` naming how to list them when there is none."""
        found = self.find(name)
        if found is None:
            raise NotFoundError(f"no segment named {name!r}; `footfall segment list` shows them")
        return found

    def definitions(self) -> list[SegmentDefinition]:
        """Every segment: the built-ins first, then the stored ones by name."""
        with self._engine.connect() as connection:
            rows = connection.execute(select(segment_definitions).order_by(segment_definitions.c.name)).all()
        return [*(_builtin(name) for name in BUILTIN_SEGMENTS), *(_definition(row) for row in rows)]

    def lookup(self, name: str) -> Rule | None:
        """The rule of segment `name` or None: what `compile_rule(segments=...)` asks for `in segment` rules."""
        found = self.find(name)
        return None if found is None else found.rule

    # -- writing --------------------------------------------------------------------------------
    def create(self, name: str, text: str, description: str | None = None, replace: bool = False) -> SegmentDefinition:
        """Validate and store a segment; with `replace`, an existing stored segment of that name is redefined.

        Raises `SegmentSyntaxError` (with `.position`) for text that does not parse and
        `InvalidDefinitionError` for references to unknown segments or cycles.
        """
        check_segment_name(name)
        if name in BUILTIN_SEGMENTS:
            raise ReadOnlyError(f"{name!r} is a built-in segment and cannot be redefined; choose another name")
        rule = parse(text)
        self._check_references(name, rule)
        now = datetime.now(timezone.utc)
        values = {"text": render(rule), "rule_json": json.dumps(rule_to_json(rule), separators=(",", ":")),
                  "description": description, "updated_at": now}
        with self._engine.begin() as connection:
            existing = connection.execute(
                select(segment_definitions.c.created_at).where(segment_definitions.c.name == name)).first()
            if existing is not None and not replace:
                raise AlreadyExistsError(f"a segment named {name!r} exists; redefine it with --replace "
                                         "(API: \"replace\": true) or choose another name")
            if existing is None:
                connection.execute(insert(segment_definitions).values(name=name, created_at=now, **values))
            else:
                connection.execute(update(segment_definitions).where(segment_definitions.c.name == name).values(**values))
        return self.get(name)

    def delete(self, name: str) -> None:
        """Remove a stored segment that no other segment refers to (its membership history is kept)."""
        if name in BUILTIN_SEGMENTS:
            raise ReadOnlyError(f"{name!r} is a built-in segment and cannot be deleted")
        self.get(name)
        users = [d.name for d in self.definitions() if name in segment_references(d.rule)]
        if users:
            raise FootfallError(f"segment {name!r} is used by {', '.join(users)}; change those first")
        with self._engine.begin() as connection:
            connection.execute(delete(segment_definitions).where(segment_definitions.c.name == name))

    def _check_references(self, name: str, rule: Rule) -> None:
        """Every `in segment` names an existing segment, and none leads back to `name` (no cycles)."""
        path = [name]

        def visit(current: Rule) -> None:
            for reference in segment_references(current):
                if reference in path:
                    cycle = " → ".join([*path[path.index(reference):], reference])
                    raise InvalidDefinitionError(f"segment {name!r} would refer to itself: {cycle}", "text")
                found = self.find(reference)
                if found is None:
                    raise InvalidDefinitionError(
                        f"no segment named {reference!r} (used as `in segment {reference}`); "
                        "`footfall segment list` shows them", "text")
                path.append(reference)
                visit(found.rule)
                path.pop()

        visit(rule)


def _builtin(name: str) -> SegmentDefinition:
    rule = parse(BUILTIN_SEGMENTS[name])
    return SegmentDefinition(name, render(rule), rule, "built-in", builtin=True)


def _definition(row) -> SegmentDefinition:
    return SegmentDefinition(row.name, row.text, rule_from_json(row.rule_json), row.description, _utc(row.created_at),
                             _utc(row.updated_at))
