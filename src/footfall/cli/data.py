"""Project and data commands: init, import, status, demo, synth generate."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from footfall.cli import EngineOption, ProjectOption, app, console, progress_bar
from footfall.errors import FootfallError

synth_app = typer.Typer(help="The synthetic O2O world (with ground truth) for demos, tests and benchmarks.", no_args_is_help=True)
app.add_typer(synth_app, name="synth")


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        left, sep, right = value.partition("=")
        if not sep or not left or not right:
            raise FootfallError(f"{option} expects LEFT=RIGHT, got {value!r}")
        pairs[left.strip()] = right.strip()
    return pairs


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Directory to create the project in.")],
    name: Annotated[Optional[str], typer.Option(help="Project name (default: the directory name).")] = None,
    engine: Annotated[str, typer.Option(help="Analytical engine: duckdb (default) or spark.")] = "duckdb",
    timezone: Annotated[str, typer.Option(help="IANA timezone for naive timestamps in imports.")] = "UTC",
) -> None:
    """Create a project: footfall.toml, the DuckDB warehouse, the operational database and the lake."""
    from footfall.project import init_project

    project = init_project(directory, name=name, engine=engine, timezone=timezone)  # type: ignore[arg-type]
    console.print(f"[green]Created project[/] {project.root} (engine: {project.engine}).")
    console.print(f"Next: footfall import stores FILE --project {directory}")


@app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help="What the files hold: events, receipts, stores, products or postcodes.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, TSV, JSONL or Parquet files; each is imported all-or-nothing.")],
    project: ProjectOption = Path("."),
    map_: Annotated[Optional[list[str]], typer.Option("--map", help="Rename a column: SOURCE=FIELD (repeatable).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Give every row a value: FIELD=VALUE (repeatable), e.g. --set channel=web.")] = None,
    fmt: Annotated[Optional[str], typer.Option("--format", help="csv, tsv, jsonl or parquet (default: from the file extension).")] = None,
    source: Annotated[str, typer.Option(help="Source name recorded on imported events.")] = "import",
) -> None:
    """Import files into the project's lake. Invalid input exits with code 2 and names file, row and column."""
    from footfall.ingest import KINDS, Importer
    from footfall.project import open_project

    if kind not in KINDS:
        raise FootfallError(f"unknown kind {kind!r}: use one of {', '.join(KINDS)}")
    opened = open_project(project)
    mapping, constants = _pairs(map_, "--map"), _pairs(set_, "--set")
    with Importer(opened, source=source) as importer, progress_bar() as progress:
        task = progress.add_task(f"importing {kind}", total=len(files))
        for path in files:
            result = importer.import_file(kind, path, mapping, constants, fmt)  # type: ignore[arg-type]
            progress.advance(task)
            note = f"; ignored columns: {', '.join(result.ignored_columns)}" if result.ignored_columns else ""
            progress.console.print(f"{path}: {result.rows_read} rows read, {result.rows_added} added{note}")


def _print_status(project_dir: Path, engine: str | None) -> None:
    from footfall.project import open_project
    from footfall.status import project_status
    from footfall.warehouse import open_warehouse

    opened = open_project(project_dir, engine=engine)  # type: ignore[arg-type]
    with open_warehouse(opened) as warehouse:
        status = project_status(warehouse)
    tables = Table(title=f"Tables ({status.engine})")
    tables.add_column("table")
    tables.add_column("rows", justify="right")
    for name, rows in status.table_rows.items():
        tables.add_row(name, f"{rows:,}")
    channels = Table(title="Events by realm and channel")
    for column in ("realm", "channel"):
        channels.add_column(column)
    channels.add_column("events", justify="right")
    for realm, channel, count in status.events_by_realm_channel:
        channels.add_row(realm, channel, f"{count:,}")
    console.print(tables)
    console.print(channels)
    span = f"{status.first_event} .. {status.last_event}" if status.first_event else "no events yet"
    console.print(f"Events span {span}; {sum(status.lake_files.values())} lake files; {status.imports_logged} imports logged.")


@app.command()
def status(project: ProjectOption = Path("."), engine: EngineOption = None) -> None:
    """Row counts per table, events per realm and channel, time span and import history."""
    _print_status(project, engine)


@synth_app.command("generate")
def synth_generate(
    out: Annotated[Path, typer.Argument(help="Directory to write the world into.")],
    customers: Annotated[int, typer.Option(min=1)] = 1000,
    stores: Annotated[int, typer.Option(min=1)] = 20,
    days: Annotated[int, typer.Option(min=1)] = 90,
    seed: int = 0,
    workers: Annotated[int, typer.Option(min=1, help="Processes generating chunks in parallel.")] = 1,
) -> None:
    """Write a synthetic O2O world (stores, products, events, receipts, ground truth) as Parquet."""
    manifest = _generate(out, customers, stores, days, seed, workers)
    console.print(f"[green]Wrote[/] {out}: {manifest.row_counts}")


def _generate(out: Path, customers: int, stores: int, days: int, seed: int, workers: int = 1):
    from footfall.synth import generate

    with progress_bar() as progress:
        task = progress.add_task("generating customers", total=customers)
        return generate(out, customers=customers, stores=stores, days=days, seed=seed, workers=workers,
                        progress=lambda done: progress.update(task, completed=done))


@app.command()
def demo(
    project: ProjectOption = Path("demo-project"),
    customers: Annotated[int, typer.Option(min=1, help="Customers in the synthetic world.")] = 10_000,
    stores: Annotated[int, typer.Option(min=1)] = 25,
    days: Annotated[int, typer.Option(min=1)] = 90,
    seed: int = 7,
    import_only: Annotated[bool, typer.Option("--import-only", help="Stop after importing the world.")] = False,
) -> None:
    """Run the loop end to end on a synthetic world: generate and import it, detect store visits,
    resolve identities, build profiles and evaluate every segment."""
    from footfall.ingest import Importer
    from footfall.project import SETTINGS_FILE, init_project
    from footfall.synth import world_files

    if (project / SETTINGS_FILE).exists():
        console.print(f"Replacing the earlier demo project in {project}.")
        shutil.rmtree(project)
    elif project.exists() and any(project.iterdir()):
        raise FootfallError(f"{project} exists and is not a Footfall project; choose another --project")
    opened = init_project(project, name="demo", timezone="Europe/London")
    world = project / "world"
    manifest = _generate(world, customers, stores, days, seed)
    plan = world_files(world)
    with Importer(opened, source="demo") as importer, progress_bar() as progress:
        task = progress.add_task("importing the world", total=sum(len(files) for _, files in plan))
        for kind, files in plan:
            for path in files:
                importer.import_file(kind, path)  # type: ignore[arg-type]
                progress.advance(task)
    _print_status(project, None)
    if not import_only:
        _analyse(project)
    console.print(f"Ground truth for {manifest.row_counts.get('persons', customers):,} customers is in {world / 'truth'}.")
    console.print(f"Explore: footfall status --project {project}")


def _analyse(project: Path) -> None:
    """The analytics steps of the demo, each the same command a user would type next."""
    from footfall.cli.identity import resolve
    from footfall.cli.profiles import build
    from footfall.cli.segments import evaluate
    from footfall.cli.visits import detect

    console.rule("footfall visits detect")
    detect(project=project)
    console.rule("footfall resolve")
    resolve(project=project)
    console.rule("footfall profile build")
    build(project=project)
    console.rule("footfall segment evaluate --all")
    evaluate(all_=True, project=project)
