"""Resolution runs on every engine and gives the same persons: a small synthetic world resolved on
DuckDB (which trains the Splink model) is resolved again on each engine with that model, and the id
map, the event → person mapping and the probabilistic links must be identical."""

from __future__ import annotations

import shutil

import pytest

from footfall.identity import IdentitySettings, resolve_identities
from footfall.identity.engine import materialized
from footfall.warehouse import open_warehouse

from tests.identity.conftest import copy_project


def _tables(project, engine: str) -> dict[str, object]:
    with open_warehouse(project, engine=engine) as warehouse:
        id_map = materialized(warehouse, "id_map").select("identifier", "person_id").to_pyarrow().to_pylist()
        owners = materialized(warehouse, "event_persons").to_pyarrow().to_pylist()
        edges = materialized(warehouse, "identity_edges").select("left", "right", "status", "source").to_pyarrow().to_pylist()
    return {
        "id_map": {r["identifier"]: r["person_id"] for r in id_map},
        "event_persons": {r["message_id"]: r["person_id"] for r in owners},
        "edges": sorted((r["left"], r["right"], r["status"], r["source"]) for r in edges),
    }


@pytest.fixture(scope="module")
def baseline(small_world, tmp_path_factory):
    """The small world resolved on DuckDB: its tables, result, and the trained model file."""
    template, _ = small_world
    project = copy_project(template, tmp_path_factory.mktemp("baseline") / "project")
    settings = IdentitySettings()
    settings.probabilistic.u_max_pairs = 2e5
    with open_warehouse(project) as warehouse:
        result = resolve_identities(warehouse, settings)
    assert result.probabilistic_skipped is None and result.model_path
    model = tmp_path_factory.mktemp("model") / "splink_model.json"
    shutil.copy(result.model_path, model)
    return _tables(project, "duckdb"), result, model


def test_resolution_gives_the_same_persons_on_every_engine(engine, baseline, small_world, tmp_path):
    expected, expected_result, model = baseline
    project = copy_project(small_world[0], tmp_path / "project")
    settings = IdentitySettings()
    settings.probabilistic.model_file = str(model)
    with open_warehouse(project, engine=engine) as warehouse:
        result = resolve_identities(warehouse, settings)
    assert (result.persons, result.probabilistic_links, result.rule_counts) == (
        expected_result.persons, expected_result.probabilistic_links, expected_result.rule_counts)
    assert expected_result.probabilistic_links > 0
    found = _tables(project, engine)
    assert found["id_map"] == expected["id_map"]  # person ids too: keyed hashes computed by each engine
    assert found["event_persons"] == expected["event_persons"]
    assert found["edges"] == expected["edges"]
