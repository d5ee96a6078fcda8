"""Segment commands: `footfall segment create | list | show | count | evaluate | export | history | delete | refresh`.

Thin: each parses its arguments, calls `footfall.segments.store` / `membership` / `export`, prints.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Iterator, Optional

import typer
from rich.markup import escape
from rich.table import Table

from footfall.cli import EngineOption, ProjectOption, app, console, progress_bar
from footfall.errors import FootfallError

segment_app = typer.Typer(help="Segments: define them in the segment language, count, evaluate, export, "
                               "and follow their membership over time.", no_args_is_help=True)
app.add_typer(segment_app, name="segment")

AsOfOption = Annotated[Optional[str], typer.Option(
    "--as-of", help="Evaluate at this time, ISO-8601 (UTC unless an offset is given); default: the latest event.")]


def parse_as_of(text: str | None) -> datetime | None:
    """An --as-of value as an aware UTC time (None: the default)."""
    from footfall.schema import parse_utc

    if text is None:
        return None
    moment = parse_utc(text)
    if moment is None:
        raise FootfallError(f"--as-of {text!r} is not an ISO-8601 time; write e.g. 2026-03-31 or 2026-03-31T18:00:00Z")
    return moment


@contextmanager
def _opened(project: Path, engine: str | None = None, warehouse: bool = True) -> Iterator[tuple[Any, Any]]:
    """(warehouse or None, segment store) of the project, closed afterwards."""
    from footfall.project import open_project
    from footfall.segments.store import SegmentStore
    from footfall.warehouse import open_warehouse

    opened = open_project(project, engine=engine)  # type: ignore[arg-type]
    with SegmentStore(opened) as store:
        if not warehouse:
            yield None, store
            return
        with open_warehouse(opened) as house:
            yield house, store


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S}"


@segment_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A slug: lower-case letters, digits, '_' or '-'.")],
    text: Annotated[str, typer.Argument(help='The rule, e.g. \'did "Product Viewed" >= 2 in 30d and nearest_store_km < 10\'.')],
    description: Annotated[Optional[str], typer.Option(help="What the segment is for.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Redefine an existing segment of that name.")] = False,
    project: ProjectOption = Path("."),
) -> None:
    """Define a segment (checked: syntax, referenced segments, cycles) and print its canonical text."""
    with _opened(project, warehouse=False) as (_, store):
        definition = store.create(name, text, description, replace=replace)
    console.print(f"Segment [bold]{definition.name}[/] defined:")
    console.print(definition.text, markup=False, highlight=False, soft_wrap=True)


@segment_app.command("list")
def list_segments(project: ProjectOption = Path("."), engine: EngineOption = None) -> None:
    """List built-in and stored segments with their last evaluation and size."""
    from footfall.segments.membership import last_evaluation

    table = Table(title="Segments")
    for column in ("name", "kind", "definition", "last evaluated as of (UTC)", "size"):
        table.add_column(column, overflow="fold")
    with _opened(project, engine) as (warehouse, store):
        for definition in store.definitions():
            last = last_evaluation(warehouse, definition.name)
            table.add_row(definition.name, "built-in" if definition.builtin else "stored", escape(definition.text),
                          _when(last.at if last else None), "—" if last is None else f"{last.size:,}")
    console.print(table)


@segment_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
) -> None:
    """A segment's text, canonical JSON, and last evaluation."""
    from footfall.segments.membership import last_evaluation

    with _opened(project, engine) as (warehouse, store):
        definition = store.get(name)
        last = last_evaluation(warehouse, name)
    console.print(f"[bold]{definition.name}[/] ({'built-in' if definition.builtin else 'stored'})")
    if definition.description:
        console.print(definition.description, markup=False)
    console.print(definition.text, markup=False, highlight=False, soft_wrap=True)
    console.print_json(json.dumps(definition.rule_json))
    if last is None:
        console.print("Never evaluated: `footfall segment evaluate " + name + "` records its members.", markup=False)
    else:
        console.print(f"Last evaluated as of {_when(last.at)} UTC (on {_when(last.evaluated_at)}, {last.engine}): "
                      f"{last.size:,} members, {last.entered:,} entered, {last.exited:,} left.")


@segment_app.command("count")
def count(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    as_of: AsOfOption = None,
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
) -> None:
    """How many people a segment holds at a moment (computed now; nothing is recorded)."""
    from footfall.segments.membership import count_members, default_as_of

    with _opened(project, engine) as (warehouse, store):
        moment = parse_as_of(as_of) or default_as_of(warehouse)
        size = count_members(warehouse, store, name, moment)
    console.print(f"{size:,} members of {name} as of {_when(moment)} UTC", markup=False, highlight=False)


@segment_app.command("evaluate")
def evaluate(
    name: Annotated[Optional[str], typer.Argument(help="The segment's name (or --all).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Evaluate every segment, built-in and stored.")] = False,
    as_of: AsOfOption = None,
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
) -> None:
    """Compute members and record who entered and left since the last evaluation."""
    from footfall.segments.membership import default_as_of, evaluate_segments

    if (name is None) == (not all_):
        raise FootfallError("give a segment name or --all (not both)")
    table = Table(title="Segment evaluations")
    for column in ("segment", "as of (UTC)", "size", "entered", "exited"):
        table.add_column(column)
    with _opened(project, engine) as (warehouse, store):
        names = [d.name for d in store.definitions()] if all_ else [store.get(name).name]
        moment = parse_as_of(as_of) or default_as_of(warehouse)
        with progress_bar() as progress:
            task = progress.add_task("evaluating segments", total=len(names))
            evaluations = evaluate_segments(warehouse, store, names, moment,
                                            progress=lambda _: progress.advance(task))
    for done in evaluations:
        table.add_row(done.segment, _when(done.at), f"{done.size:,}", f"{done.entered:,}", f"{done.exited:,}")
    console.print(table)


@segment_app.command("export")
def export(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    as_of: AsOfOption = None,
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
) -> None:
    """Write the members (person_id) at a moment to a CSV or Parquet file."""
    from footfall.segments.export import check_format, write_members
    from footfall.segments.membership import default_as_of, segment_members

    check_format(format)
    with _opened(project, engine) as (warehouse, store):
        moment = parse_as_of(as_of) or default_as_of(warehouse)
        with progress_bar() as progress:
            task = progress.add_task(f"computing {name}", total=1)
            members = warehouse.to_arrow(segment_members(warehouse, store, name, moment))
            progress.advance(task)
        rows = write_members(members, output, format)
    console.print(f"Wrote {rows:,} members of {name} as of {_when(moment)} UTC to {output}", markup=False,
                  highlight=False)


@segment_app.command("history")
def history(
    name: Annotated[str, typer.Argument(help="The segment's name.")],
    plot: Annotated[Optional[Path], typer.Option(help="Also write an interactive chart (HTML, Plotly) here.")] = None,
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
) -> None:
    """Size over time: every recorded evaluation with who entered and left."""
    from footfall.segments.membership import segment_history

    with _opened(project, engine) as (warehouse, store):
        store.get(name)
        rows = segment_history(warehouse, name).to_pyarrow().to_pylist()
    table = Table(title=f"History of {name}")
    for column in ("as of (UTC)", "evaluated (UTC)", "engine", "size", "entered", "exited"):
        table.add_column(column)
    for row in rows:
        table.add_row(_when(row["at"]), _when(row["evaluated_at"]), row["engine"], f"{row['size']:,}",
                      f"+{row['entered']:,}", f"-{row['exited']:,}")
    console.print(table)
    if not rows:
        console.print(f"No evaluations yet: `footfall segment evaluate {name}` records one.", markup=False)
    if plot is not None:
        from footfall.segments.charts import history_chart

        history_chart(name, rows, plot)
        console.print(f"Chart written to {plot}", markup=False, highlight=False)


@segment_app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="The stored segment's name.")],
    project: ProjectOption = Path("."),
) -> None:
    """Remove a stored segment (its membership history stays in the lake)."""
    with _opened(project, warehouse=False) as (_, store):
        store.delete(name)
    console.print(f"Deleted segment {name}.", markup=False)


@segment_app.command("refresh")
def refresh(
    name: Annotated[Optional[str], typer.Argument(help="The segment's name (or --all).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Refresh every segment, built-in and stored.")] = False,
    as_of: AsOfOption = None,
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
) -> None:
    """After a load: roll up only the new lake batches, re-evaluate only the people they (or the passing
    of time) may have changed, and record who entered and left."""
    from footfall.segments.membership import default_as_of
    from footfall.segments.refresh import refresh_and_record

    if (name is None) == (not all_):
        raise FootfallError("give a segment name or --all (not both)")
    table = Table(title="Segment refresh")
    for column in ("segment", "evaluated", "people re-evaluated", "size", "entered", "exited"):
        table.add_column(column)
    with _opened(project, engine) as (warehouse, store):
        names = [d.name for d in store.definitions()] if all_ else [store.get(name).name]
        moment = parse_as_of(as_of) or default_as_of(warehouse)
        with progress_bar() as progress:
            task = progress.add_task("updating rollups", total=len(names) + 1)

            def step(message: str) -> None:
                if message.startswith("refreshing"):
                    progress.advance(task)
                progress.update(task, description=message)

            done = refresh_and_record(warehouse, store, names, moment, progress=step)
            progress.advance(task)
    for report, evaluation in done:
        evaluated = "everyone" if report.persons_evaluated is None else f"{report.persons_evaluated:,}"
        table.add_row(report.segment, f"{report.mode} ({report.reason})" if report.mode == "full" else report.mode,
                      evaluated, f"{evaluation.size:,}", f"{evaluation.entered:,}", f"{evaluation.exited:,}")
    console.print(table)
    if done:
        first = done[0][0]
        console.print(f"Rollups {first.rollups}: {first.new_batches:,} lake files and {first.new_events:,} events "
                      f"rolled up; as of {_when(moment)} UTC.", markup=False, highlight=False)


@segment_app.command("rollups")
def rollups(project: ProjectOption = Path("."), engine: EngineOption = None) -> None:
    """Roll up the new lake batches now, so the next `segment refresh` finds them done: for loaders that
    write events whose owners are already known (identity given by an upstream system, appended to
    event_persons), right after each load. A refresh rolls up whatever is new anyway."""
    from footfall.segments.rollups import update_rollups

    with _opened(project, engine, warehouse=True) as (warehouse, _):
        with progress_bar() as progress:
            task = progress.add_task("updating rollups", total=None)
            update = update_rollups(warehouse, lambda message: progress.update(task, description=message))
    console.print(f"Rollups {update.mode}: {update.batches:,} lake files and {update.events:,} events rolled up.",
                  markup=False, highlight=False)
