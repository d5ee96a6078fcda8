"""Fixtures for segment tests: a synthetic world with ground truth, imported, visit-detected, resolved
and profiled once per test session (tests that change it take a copy)."""

from __future__ import annotations

import shutil
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from footfall.identity import IdentitySettings, resolve_identities
from footfall.ingest import Importer
from footfall.ingest.visits import detect_store_visits
from footfall.project import Project, init_project, open_project
from footfall.synth import WorldManifest, generate, world_files
from footfall.warehouse import open_warehouse

# Big enough for every archetype to count in the hundreds; 90 days so "lapsed" has room to lapse.
ACCURACY_WORLD = {"customers": 1500, "stores": 12, "days": 90, "seed": 3}
SMALL_WORLD = {"customers": 150, "stores": 5, "days": 60, "seed": 11}


def world_end(manifest: WorldManifest) -> datetime:
    """as_of for a world: the end of its window (tests are deterministic, never 'now')."""
    parameters = manifest.parameters
    start = date.fromisoformat(str(parameters.get("start", "2026-01-01")))
    return datetime.combine(start + timedelta(days=int(parameters.get("days", 90))), time(), tzinfo=timezone.utc)


def build_world(base: Path, parameters: dict[str, int]) -> tuple[Path, WorldManifest]:
    """Generate, import, detect visits, resolve and build profiles: what `footfall` users run."""
    manifest = generate(base / "world", **parameters)
    project = init_project(base / "project", timezone="Europe/London")
    settings_file = project.root / "footfall.toml"
    settings_file.write_text(settings_file.read_text().replace('master = "local[*]"', 'master = "local[2]"')
                             .replace("shuffle_partitions = 8", "shuffle_partitions = 2"))
    project = open_project(project.root)
    world = Path(manifest.out_dir)
    with Importer(project, source="synth") as importer:
        for kind, paths in world_files(world):
            for path in paths:
                importer.import_file(kind, path)
    settings = IdentitySettings()
    settings.probabilistic.enabled = False
    with open_warehouse(project) as warehouse:
        detect_store_visits(warehouse)
        resolve_identities(warehouse, settings)
        from footfall.profiles.traits import materialize_profiles

        materialize_profiles(warehouse, world_end(manifest))
    return project.root, manifest


@pytest.fixture(scope="session")
def accuracy_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorldManifest]:
    return build_world(tmp_path_factory.mktemp("segment-accuracy-world"), ACCURACY_WORLD)


@pytest.fixture(scope="session")
def small_segment_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, WorldManifest]:
    return build_world(tmp_path_factory.mktemp("segment-small-world"), SMALL_WORLD)


def copy_project(template: Path, destination: Path) -> Project:
    shutil.copytree(template, destination)
    return open_project(destination)


@pytest.fixture
def as_of_utc() -> datetime:
    return datetime(2026, 4, 1, tzinfo=timezone.utc)
