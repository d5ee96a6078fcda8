"""Project directories: what `init` creates, how settings resolve, and clear errors."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from footfall.errors import FootfallError, NotAProjectError, SettingsError
from footfall.opstore import operational_engine
from footfall.project import init_project, open_project


def test_init_creates_settings_warehouse_operational_db_and_lake(tmp_path):
    project = init_project(tmp_path / "shop", timezone="Europe/Paris")
    assert {p.name for p in project.root.iterdir()} >= {"footfall.toml", "footfall.duckdb", "footfall.sqlite", "lake"}
    assert (project.settings.name, project.settings.engine, project.settings.timezone) == ("shop", "duckdb", "Europe/Paris")
    engine = operational_engine(project)
    assert "imports" in inspect(engine).get_table_names()


def test_init_refuses_an_existing_project(tmp_path):
    init_project(tmp_path / "shop")
    with pytest.raises(FootfallError, match="already a Footfall project"):
        init_project(tmp_path / "shop")


def test_open_refuses_a_directory_that_is_not_a_project(tmp_path):
    with pytest.raises(NotAProjectError, match="footfall init"):
        open_project(tmp_path)


def test_bad_setting_names_the_key(tmp_path):
    project = init_project(tmp_path / "shop")
    settings = project.root / "footfall.toml"
    settings.write_text(settings.read_text().replace('timezone = "UTC"', 'timezone = "Mars/Olympus"'))
    with pytest.raises(SettingsError, match="timezone"):
        open_project(project.root)


def test_engine_resolution_argument_beats_environment_beats_file(tmp_path, monkeypatch):
    project = init_project(tmp_path / "shop")
    assert open_project(project.root).engine == "duckdb"
    monkeypatch.setenv("FOOTFALL_ENGINE", "spark")
    assert open_project(project.root).engine == "spark"
    assert open_project(project.root, engine="duckdb").engine == "duckdb"
