"""`footfall keys create-api | list-api | revoke-api`: scoped keys for the analytics API.

They join the `keys` group of `footfall.cli.collect` (write keys) and share `footfall.keys` with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from footfall.cli import ProjectOption, console
from footfall.cli.collect import keys_app


@keys_app.command("create-api")
def keys_create_api(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. crm-sync or dashboard.")],
    scope: Annotated[list[str], typer.Option(
        help="A scope the key grants (repeat for several): segments:read, segments:write, profiles:read.")],
    project: ProjectOption = Path("."),
) -> None:
    """Create an API key for the analytics API. It is printed once: only its hash is stored."""
    from footfall.keys import create_api_key
    from footfall.project import open_project

    record, key = create_api_key(open_project(project), name, scope)
    console.print(f"Created API key {record.key_id} [bold]{record.name}[/] with scopes {', '.join(record.scopes)}.")
    console.print("Key (shown only now; send it as 'Authorization: Bearer <key>'):")
    console.print(key, highlight=False, soft_wrap=True)


@keys_app.command("list-api")
def keys_list_api(project: ProjectOption = Path(".")) -> None:
    """List API keys (ids, names, scopes, first characters, revocation); never the keys themselves."""
    from footfall.keys import list_api_keys
    from footfall.project import open_project

    table = Table(title="API keys")
    for column in ("key id", "name", "scopes", "starts with", "created (UTC)", "status"):
        table.add_column(column)
    for record in list_api_keys(open_project(project)):
        status = "active" if record.active else f"revoked {record.revoked_at:%Y-%m-%d %H:%M}"
        table.add_row(record.key_id, record.name, " ".join(record.scopes), f"{record.key_prefix}…",
                      f"{record.created_at:%Y-%m-%d %H:%M}", status)
    console.print(table)


@keys_app.command("revoke-api")
def keys_revoke_api(
    key_id: Annotated[str, typer.Argument(help="The key id shown by `footfall keys list-api`.")],
    project: ProjectOption = Path("."),
) -> None:
    """Revoke an API key: requests with it get 401 (within seconds on a running server)."""
    from footfall.keys import revoke_api_key
    from footfall.project import open_project

    record = revoke_api_key(open_project(project), key_id)
    console.print(f"Revoked API key {record.key_id} ({record.name}).")
