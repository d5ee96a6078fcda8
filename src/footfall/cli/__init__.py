"""The `footfall` command: thin layers that parse arguments, call one library function, print.

Each command group lives in its own module and registers itself on `app`. Every `FootfallError`
becomes a red one-line message and exit code 2, in `main` and nowhere else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from footfall.errors import FootfallError

app = typer.Typer(
    name="footfall",
    help="Footfall: join what customers do online with what they do in stores and at events, and act on it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

console = Console()
errors = Console(stderr=True)

ProjectOption = Annotated[
    Path, typer.Option("--project", "-p", help="Project directory (made by `footfall init`).", show_default=True)
]
EngineOption = Annotated[
    Optional[str], typer.Option("--engine", help="Override the project's engine: duckdb or spark.")
]


def progress_bar() -> Progress:
    """The progress bar every long-running command shows."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _register_commands() -> None:
    # Imported for their side effect: each module adds its commands to `app`.
    from footfall.cli import data  # noqa: F401
    from footfall.cli import identity  # noqa: F401
    from footfall.cli import collect  # noqa: F401
    from footfall.cli import api_keys  # noqa: F401
    from footfall.cli import visits  # noqa: F401
    from footfall.cli import profiles  # noqa: F401
    from footfall.cli import segments  # noqa: F401


def main() -> None:
    """Entry point: run the app, turning Footfall errors into exit code 2 with a clear message."""
    _register_commands()
    try:
        app(standalone_mode=False)
    except FootfallError as exc:
        # escaped: messages quote user input such as segment text, whose [filters] are not Rich markup
        errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        errors.print("aborted")
        sys.exit(1)
    except Exception as exc:  # click's usage errors arrive here in standalone_mode=False
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
