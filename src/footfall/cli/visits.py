"""Visit commands: `footfall visits detect` turns location pings and beacon sightings into store visits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from footfall.cli import EngineOption, ProjectOption, app, console

visits_app = typer.Typer(help="Store visits detected from app location pings and beacon sightings.",
                         no_args_is_help=True)
app.add_typer(visits_app, name="visits")


@visits_app.command("detect")
def detect(
    project: ProjectOption = Path("."),
    engine: EngineOption = None,
    settings: Annotated[Optional[Path], typer.Option(
        "--settings", help="TOML or JSON file with visit rules (max_gap_s, min_dwell_s, max_accuracy_m, ...); "
                           "see docs/visits.md. Default: the documented defaults.")] = None,
) -> None:
    """Detect store visits and add the closed ones as `Store Visited` events (reruns add nothing)."""
    from footfall.ingest.visits import detect_store_visits, visit_settings_from_file
    from footfall.project import open_project
    from footfall.warehouse import open_warehouse

    rules = visit_settings_from_file(settings) if settings is not None else None
    opened = open_project(project, engine=engine)  # type: ignore[arg-type]
    with console.status(f"detecting store visits on {opened.engine}..."):
        with open_warehouse(opened, read_only=True) as warehouse:
            result = detect_store_visits(warehouse, rules)
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {warning}")
    if result.horizon is None:
        console.print("No location pings or beacon sightings yet: nothing to detect.")
        return
    kinds = ", ".join(f"{n:,} by {kind}" for kind, n in result.observed_by.items()) or "none"
    console.print(f"{result.visits_closed:,} store visits detected ({kinds}); "
                  f"[green]{result.visits_added:,} new[/] added as Store Visited events.")
    if result.visits_open:
        console.print(f"{result.visits_open:,} visit(s) still open at the newest signal "
                      f"({result.horizon:%Y-%m-%d %H:%M} UTC): a later run adds them once they close.")
