"""Fixtures for identity tests: hand-written events for exact scenarios, and a synthetic world with
ground truth (imported once per test session and copied for each test that changes it)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from footfall.identity import IdentitySettings, resolve_identities
from footfall.identity.engine import materialized
from footfall.identity.store import IdentityStore
from footfall.ingest import Importer, import_files
from footfall.project import Project, init_project, open_project
from footfall.synth import WorldManifest, generate, world_files
from footfall.warehouse import open_warehouse

# Big enough for every noise the world injects (households, kiosks, typos) to occur many times.
ACCURACY_WORLD = {"customers": 700, "stores": 12, "days": 60, "seed": 1}
# Small, for tests that resolve several times or run on Spark.
SMALL_WORLD = {"customers": 120, "stores": 6, "days": 30, "seed": 5}
RECEIPT_FIELDS = ["receipt_id", "store_id", "timestamp", "total", "loyalty_id", "card_token", "email", "phone", "name", "postcode"]


def event(message_id: str, ts: str, *, type: str = "track", event: str | None = "Product Viewed",
          channel: str = "web", user_id: str | None = None, anonymous_id: str | None = None,
          traits: dict[str, Any] | None = None, properties: dict[str, Any] | None = None,
          device_id: str | None = None, previous_id: str | None = None, store_id: str | None = None) -> dict[str, Any]:
    """A Segment message as an events file holds it."""
    row: dict[str, Any] = {"message_id": message_id, "type": type, "timestamp": ts, "channel": channel}
    if type == "track":
        row["event"] = event
    for key, value in (("user_id", user_id), ("anonymous_id", anonymous_id), ("traits", traits),
                       ("properties", properties), ("previous_id", previous_id), ("store_id", store_id)):
        if value is not None:
            row[key] = value
    if device_id is not None:
        row["context"] = {"device": {"id": device_id}}
    return row


def identify(message_id: str, ts: str, user_id: str | None = None, anonymous_id: str | None = None, **traits: Any) -> dict[str, Any]:
    return event(message_id, ts, type="identify", user_id=user_id, anonymous_id=anonymous_id, traits=traits)


def load(project: Project, directory: Path, events: list[dict[str, Any]], receipts: list[dict[str, Any]] = (),
         name: str = "batch") -> None:
    """Import hand-written events (and receipts, with one store S1) into `project`."""
    stores = directory / "stores.csv"
    if not stores.exists():
        stores.write_text("store_id,name,lat,lon\nS1,Leeds Briggate,53.7974,-1.5437\n")
        import_files(project, "stores", [stores])
    if events:
        path = directory / f"{name}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in events))
        import_files(project, "events", [path])
    if receipts:
        path = directory / f"{name}-receipts.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=RECEIPT_FIELDS)
            writer.writeheader()
            writer.writerows({"store_id": "S1", "total": 10, **r} for r in receipts)
        import_files(project, "receipts", [path])


def resolve(project: Project, engine: str | None = None, probabilistic: bool = False, **protection: Any):
    """Resolve `project` and return (result, id map as {identifier: person_id})."""
    settings = IdentitySettings()
    settings.probabilistic.enabled = probabilistic
    for key, value in protection.items():
        setattr(settings.protection, key, value)
    with open_warehouse(project, engine=engine) as warehouse:
        result = resolve_identities(warehouse, settings)
        rows = materialized(warehouse, "id_map").select("identifier", "person_id").to_pyarrow().to_pylist()
    return result, {r["identifier"]: r["person_id"] for r in rows}


def _import_world(project: Project, manifest: WorldManifest) -> None:
    world = Path(manifest.out_dir)
    with Importer(project, source="synth") as importer:
        for kind, paths in world_files(world):
            for path in paths:
                importer.import_file(kind, path)


def _world_template(tmp_path_factory: pytest.TempPathFactory, name: str, parameters: dict[str, int]) -> tuple[Path, WorldManifest]:
    base = tmp_path_factory.mktemp(name)
    manifest = generate(base / "world", **parameters)
    project = init_project(base / "project", timezone="Europe/London")
    settings_file = project.root / "footfall.toml"
    settings_file.write_text(
        settings_file.read_text().replace('master = "local[*]"', 'master = "local[2]"').replace(
            "shuffle_partitions = 8", "shuffle_partitions = 2"
        )
    )
    _import_world(open_project(project.root), manifest)
    with IdentityStore(project) as store:
        store.id_salt()  # created once, so every copy of the template hashes person ids alike
    return project.root, manifest


@pytest.fixture(scope="session")
def accuracy_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorldManifest]:
    """(project template directory, manifest) of the accuracy world, imported once."""
    return _world_template(tmp_path_factory, "accuracy-world", ACCURACY_WORLD)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorldManifest]:
    return _world_template(tmp_path_factory, "small-world", SMALL_WORLD)


def copy_project(template: Path, destination: Path) -> Project:
    """A private copy of an imported project (resolution writes into it)."""
    shutil.copytree(template, destination)
    return open_project(destination)


def true_persons(manifest: WorldManifest) -> dict[str, str]:
    """message_id → true person of every event and receipt."""
    records = pq.read_table(manifest.path("records"), columns=["message_id", "person_id"])
    return dict(zip(records["message_id"].to_pylist(), records["person_id"].to_pylist()))


def resolved_persons(project: Project, engine: str | None = None) -> dict[str, str]:
    """message_id → resolved person_id (events owned by nobody are absent)."""
    with open_warehouse(project, engine=engine) as warehouse:
        rows = materialized(warehouse, "event_persons").to_pyarrow()
    return dict(zip(rows["message_id"].to_pylist(), rows["person_id"].to_pylist()))


def clusters(predicted: dict[str, str], truth: dict[str, str]) -> tuple[list[str], list[str]]:
    """Aligned (predicted, true) cluster labels; an unowned record is a cluster of its own."""
    ids = sorted(truth)
    return [predicted.get(m, f"unresolved:{m}") for m in ids], [truth[m] for m in ids]
