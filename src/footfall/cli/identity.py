"""Identity commands: `footfall resolve` and `footfall identity explain | stats | unmerge`."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from footfall.cli import EngineOption, ProjectOption, app, console, progress_bar

identity_app = typer.Typer(help="Who is who: explain merges, summarise persons, undo a wrong merge.", no_args_is_help=True)
app.add_typer(identity_app, name="identity")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _warehouse(project: Path, engine: str | None) -> Any:
    from footfall.project import open_project
    from footfall.warehouse import open_warehouse

    return open_warehouse(open_project(project, engine=engine))  # type: ignore[arg-type]


def _print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


@app.command()
def resolve(
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
    no_probabilistic: Annotated[bool, typer.Option("--no-probabilistic", help="Deterministic graph only (no Splink).")] = False,
    threshold: Annotated[Optional[float], typer.Option(min=0.01, max=0.99, help="Splink match probability to accept a link.")] = None,
) -> None:
    """Resolve identities: identifiers → graph → merge protection → Splink → stable person ids."""
    from footfall.identity import STEPS, load_identity_settings, resolve_identities

    with _warehouse(project, engine) as warehouse:
        settings = load_identity_settings(warehouse.project)
        if no_probabilistic:
            settings.probabilistic.enabled = False
        if threshold is not None:
            settings.probabilistic.threshold = threshold
        steps = [s for s in STEPS if settings.probabilistic.enabled or s != "probabilistic"]
        with progress_bar() as progress:
            task = progress.add_task("resolving identities", total=len(steps))
            seen: list[str] = []

            def on_step(name: str) -> None:
                if seen:
                    progress.advance(task)
                seen.append(name)
                progress.update(task, description=f"resolving identities: {name}")

            result = resolve_identities(warehouse, settings, progress=on_step)
            progress.update(task, completed=len(steps), description="resolving identities: done")
    summary = Table(title=f"Identity resolution {result.run_id} ({result.engine})")
    summary.add_column("what")
    summary.add_column("count", justify="right")
    for label, value in (
        ("persons", result.persons), ("identifiers", result.identifiers),
        ("detached identifiers", result.detached_identifiers), ("edges accepted", result.accepted_edges),
        ("edges refused", result.edges - result.accepted_edges), ("probabilistic links", result.probabilistic_links),
        ("events resolved", f"{result.events_resolved:,} of {result.events:,}"), ("new persons", result.created),
        ("persons kept", result.kept), ("merges", result.merged), ("splits", result.split),
        ("garbage values", sum(g.occurrences for g in result.garbage)),
    ):
        summary.add_row(label, f"{value:,}" if isinstance(value, int) else str(value))
    console.print(summary)
    console.print(f"Explore: footfall identity stats --project {project}")


@identity_app.command("explain")
def explain(
    identifier: Annotated[str, typer.Argument(help="TYPE:VALUE (email:jane.doe@gmail.com) or just the value.")],
    to: Annotated[Optional[str], typer.Option("--to", help="Show the chain of edges to this identifier instead of the anchor.")] = None,
    json_: JsonOption = False,
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
) -> None:
    """The person an identifier belongs to, and the chain of edges (source, time, probability) that joined them."""
    from footfall.identity import explain_identifier

    with _warehouse(project, engine) as warehouse:
        explanation = explain_identifier(warehouse, identifier, other=to)
    if json_:
        _print_json(explanation.to_dict())
        return
    if explanation.status == "detached":
        console.print(f"{explanation.identifier} belongs to no person: {explanation.detached_reason or 'detached'}")
    else:
        console.print(f"{explanation.identifier} → person [bold]{explanation.person_id}[/] (anchor {explanation.anchor}, "
                      f"{len(explanation.identifiers)} identifiers)")
        if explanation.chain:
            console.print(f"Chain to {explanation.target}:")
            console.print(f"  {explanation.identifier}", highlight=False)
            node = explanation.identifier
            for edge in explanation.chain:
                node = edge.other(node)
                console.print(f"    ↳ {_evidence(edge)}", highlight=False)
                console.print(f"  {node}", highlight=False)
        else:
            console.print("The identifier is the person's anchor.")
        console.print("Identifiers: " + ", ".join(explanation.identifiers))
    if explanation.refused:
        refused = Table(title="Refused edges (kept apart by merge protection or unmerge)")
        for column in ("from", "to", "rule", "detail"):
            refused.add_column(column)
        for edge in explanation.refused:
            refused.add_row(edge.left, edge.right, edge.rule or "", edge.detail or "")
        console.print(refused)
    for entry in explanation.history:
        console.print(f"{entry['at']}: {entry['kind']} {entry['person_id']} {entry['other_person_id'] or ''} by {entry['actor']}")


def _evidence(edge: Any) -> str:
    """One edge's evidence on a line: source, probability, when first seen, records, example message."""
    parts = [edge.source]
    when = (edge.first_seen or "")[:16].replace("T", " ")
    if edge.source == "probabilistic":
        parts += [f"probability {edge.probability:.3f}", f"inferred {when}"]
    elif when:
        parts.append(f"first seen {when}")
    parts.append(f"{edge.records} record{'s' if edge.records != 1 else ''}")
    if edge.message_id:
        parts.append(f"e.g. message {edge.message_id}")
    return ", ".join(parts)


@identity_app.command("stats")
def stats(project: ProjectOption = Path("."), engine: EngineOption = None, json_: JsonOption = False) -> None:
    """Persons, identifiers per person, the largest persons, refused merges and garbage values."""
    from footfall.identity import identity_stats

    with _warehouse(project, engine) as warehouse:
        result = identity_stats(warehouse)
    if json_:
        _print_json(result.to_dict())
        return
    console.print(f"{result.persons:,} persons, {result.identifiers:,} identifiers, {result.events_resolved:,} of "
                  f"{result.events:,} events resolved, {result.probabilistic_links:,} probabilistic links.")
    histogram = Table(title="Identifiers per person")
    histogram.add_column("identifiers")
    histogram.add_column("persons", justify="right")
    for label, count in result.identifiers_per_person.items():
        histogram.add_row(label, f"{count:,}")
    largest = Table(title="Largest persons")
    for column in ("person", "anchor", "identifiers", "events"):
        largest.add_column(column)
    for row in result.largest:
        largest.add_row(row["person_id"], row["anchor"], str(row["identifiers"]), str(row["events"]))
    rejected = Table(title="Rejected merges")
    rejected.add_column("rule")
    rejected.add_column("count", justify="right")
    for rule, count in result.detached_identifiers.items():
        rejected.add_row(f"identifiers detached: {rule}", f"{count:,}")
    for rule, count in result.refused_edges.items():
        rejected.add_row(f"edges refused: {rule}", f"{count:,}")
    garbage = Table(title="Garbage values ignored")
    for column in ("type", "reason", "occurrences", "distinct values"):
        garbage.add_column(column)
    for row in result.garbage:
        garbage.add_row(row["identifier_type"], row["reason"], f"{row['occurrences']:,}", f"{row['distinct_values']:,}")
    for table in (histogram, largest, rejected, garbage):
        console.print(table)


@identity_app.command("unmerge")
def unmerge(
    reason: Annotated[str, typer.Option("--reason", help="Why: kept with the decision in the merge history.")],
    edge: Annotated[Optional[tuple[str, str]], typer.Option("--edge", help="Two identifiers whose edge must not be applied.")] = None,
    identifier: Annotated[Optional[str], typer.Option("--identifier", help="An identifier that must join nobody (shared).")] = None,
    by: Annotated[str, typer.Option("--by", help="Who decides (default: the current user).")] = getpass.getuser(),
    no_resolve: Annotated[bool, typer.Option("--no-resolve", help="Record the decision only; it applies at the next resolve.")] = False,
    json_: JsonOption = False,
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
) -> None:
    """Split a wrongly merged person by blocking an edge or an identifier; both sides keep their history."""
    from footfall.identity import unmerge as unmerge_identities

    with _warehouse(project, engine) as warehouse:
        result = unmerge_identities(
            warehouse, reason=reason, actor=by, edge=edge, identifier=identifier, resolve=not no_resolve
        )
    if json_:
        _print_json(result.to_dict())
        return
    console.print(f"Decision {result.decision_id} ({result.kind}) recorded for person {result.person_before}.")
    for key, person in result.persons_after.items():
        console.print(f"  {key} → {person or 'no person (detached)'}")
    if no_resolve:
        console.print("It applies at the next `footfall resolve`.")
