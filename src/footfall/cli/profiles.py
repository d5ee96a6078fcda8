"""Profile and journey commands: `footfall profile build | show` and `footfall journey paths | funnel`."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from footfall.cli import EngineOption, ProjectOption, app, console, progress_bar
from footfall.errors import FootfallError

profile_app = typer.Typer(help="Computed traits and unified timelines of resolved persons.", no_args_is_help=True)
journey_app = typer.Typer(help="Cross-channel journeys: frequent paths and funnels.", no_args_is_help=True)
app.add_typer(profile_app, name="profile")
app.add_typer(journey_app, name="journey")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _warehouse(project: Path, engine: str | None) -> Any:
    from footfall.project import open_project
    from footfall.warehouse import open_warehouse

    return open_warehouse(open_project(project, engine=engine))  # type: ignore[arg-type]


def _print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FootfallError(f"{option} {text!r} is not an ISO-8601 time; write e.g. 2026-03-31 or 2026-03-31T18:00:00Z") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(value)


@profile_app.command("build")
def build(
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Measure recency from this time (default: the latest event).")] = None,
) -> None:
    """Compute every trait of every resolved person and store them as the `profiles` table."""
    from footfall.profiles.traits import PROFILES_TABLE, build_profiles, summarise_profiles

    moment = _moment(as_of, "--as-of")
    started = time.perf_counter()
    with _warehouse(project, engine) as warehouse, progress_bar() as progress:
        task = progress.add_task("building profiles: planning", total=3)
        plan = build_profiles(warehouse, moment)
        progress.update(task, advance=1, description="building profiles: computing traits")
        stored = warehouse.materialize(PROFILES_TABLE, plan)
        progress.update(task, advance=1, description="building profiles: summarising")
        summary = summarise_profiles(stored)
        progress.update(task, advance=1, description="building profiles: done")
        engine_name = warehouse.engine
    elapsed = time.perf_counter() - started
    table = Table(title=f"Profiles ({engine_name}, {elapsed:.1f} s)")
    table.add_column("what")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), _cell(value) if not isinstance(value, int) else f"{value:,}")
    console.print(table)
    console.print(f"Explore: footfall profile show IDENTIFIER --project {project}")


@profile_app.command("show")
def show(
    identifier: Annotated[str, typer.Argument(help="An identifier (email:jane@x.com, a raw email, a user id) or a person id.")],
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many events (oldest first).")] = 200,
    json_: JsonOption = False,
) -> None:
    """A person's traits and unified timeline: online and offline events in order, with channel and store."""
    from footfall.profiles.timeline import describe_properties, timeline

    with _warehouse(project, engine) as warehouse:
        found = timeline(warehouse, identifier, limit=limit)
    if json_:
        _print_json(found.to_json())
        return
    via = f" (via {found.identifier})" if found.identifier else ""
    console.print(f"Person [bold]{found.person_id}[/]{via}: {found.total_events:,} events")
    if found.traits:
        traits = Table(title="Traits", show_header=False)
        traits.add_column("trait")
        traits.add_column("value", justify="right")
        for key, value in found.traits.items():
            if key != "person_id" and value is not None:
                traits.add_row(key, f"{value:.5f}" if key in ("home_lat", "home_lon") else _cell(value))
        console.print(traits)
    events = Table(title=f"Timeline ({len(found.entries)} of {found.total_events})")
    for column in ("time", "realm", "channel", "store", "event", "key properties"):
        events.add_column(column)
    for entry in found.entries:
        events.add_row(_cell(entry.timestamp), entry.realm, entry.channel, entry.store_id or "", entry.event,
                       describe_properties(entry.properties))
    console.print(events)


@journey_app.command("paths")
def paths(
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
    length: Annotated[int, typer.Option(min=2, max=8, help="Steps per path.")] = 3,
    top: Annotated[int, typer.Option(min=1, help="How many paths to show.")] = 10,
    event: Annotated[Optional[list[str]], typer.Option("--event", help="Count only these events as steps (repeatable).")] = None,
    since: Annotated[Optional[str], typer.Option(help="Only events from this time (ISO-8601).")] = None,
    until: Annotated[Optional[str], typer.Option(help="Only events before this time (ISO-8601).")] = None,
    json_: JsonOption = False,
) -> None:
    """The most frequent sequences of steps across online and offline (repeats collapsed)."""
    from footfall.profiles.paths import top_paths

    with _warehouse(project, engine) as warehouse:
        found = top_paths(warehouse, length=length, top=top, events=event,
                          since=_moment(since, "--since"), until=_moment(until, "--until"))
    if json_:
        _print_json([p.to_json() for p in found])
        return
    table = Table(title=f"Top {len(found)} paths of {length} steps")
    table.add_column("path")
    table.add_column("persons", justify="right")
    table.add_column("occurrences", justify="right")
    for path in found:
        table.add_row(str(path), f"{path.persons:,}", f"{path.occurrences:,}")
    console.print(table)


@journey_app.command("funnel")
def funnel(
    steps: Annotated[list[str], typer.Argument(help='Steps in order: "Product Viewed" "Store Visited" "Order Completed[channel=pos]".')],
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
    within: Annotated[Optional[list[str]], typer.Option("--within", help="Window from one step to the next (12h, 14d, 2w): once for all, or once per step after the first.")] = None,
    since: Annotated[Optional[str], typer.Option(help="Count first steps from this time (ISO-8601).")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Ignore events after this time (default: the latest event).")] = None,
    json_: JsonOption = False,
) -> None:
    """Persons per step, conversion from the previous and first step, and median time between steps."""
    from footfall.profiles.funnel import funnel as run_funnel
    from footfall.profiles.funnel import parse_window

    windows = [parse_window(w) for w in within] if within else None
    with _warehouse(project, engine) as warehouse:
        results = run_funnel(warehouse, steps, windows, as_of=_moment(as_of, "--as-of"), since=_moment(since, "--since"))
    if json_:
        _print_json([r.to_json() for r in results])
        return
    table = Table(title="Funnel")
    for column in ("step", "within", "persons", "from previous", "from first", "median time from previous"):
        table.add_column(column, justify="left" if column == "step" else "right")
    for result in results:
        table.add_row(
            result.step, result.window or "", f"{result.persons:,}",
            "" if result.conversion_from_previous is None else f"{result.conversion_from_previous:.1%}",
            "" if result.conversion_from_first is None else f"{result.conversion_from_first:.1%}",
            "" if result.median_hours_from_previous is None else _duration(result.median_hours_from_previous),
        )
    console.print(table)


def _duration(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else (f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d")
