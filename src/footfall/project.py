"""A Footfall project: a directory with `footfall.toml`, the analytical DuckDB file, the operational
database and the Parquet lake. Configuration flows from a `Project`; nothing reads settings elsewhere.

Settings resolve like dlt's configuration specs: explicit arguments win over environment variables
(`FOOTFALL_ENGINE`, `FOOTFALL_TIMEZONE`), which win over `footfall.toml`, which wins over defaults.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from footfall.errors import FootfallError, NotAProjectError, SettingsError

SETTINGS_FILE = "footfall.toml"
Engine = Literal["duckdb", "spark"]


class PathSettings(BaseModel):
    """Where the project keeps its stores, relative to the project directory."""

    model_config = ConfigDict(extra="forbid")
    warehouse: str = "footfall.duckdb"
    # A file name (SQLite) or a full SQLAlchemy URL (e.g. postgresql+psycopg://...).
    operational: str = "footfall.sqlite"
    lake: str = "lake"


class SparkSettings(BaseModel):
    """How to start Spark when `engine = "spark"`."""

    model_config = ConfigDict(extra="forbid")
    master: str = "local[*]"
    driver_memory: str = "4g"
    shuffle_partitions: int = 8


class Settings(BaseModel):
    """The contents of `footfall.toml`."""

    model_config = ConfigDict(extra="forbid")
    name: str = "footfall"
    engine: Engine = "duckdb"
    # Naive timestamps in imported files are read in this timezone, then stored as UTC.
    timezone: str = "UTC"
    # Region used to read phone numbers written without a country code.
    phone_region: str = "GB"
    paths: PathSettings = PathSettings()
    spark: SparkSettings = SparkSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name such as Europe/London)") from exc
        return value


_TEMPLATE = """\
# Footfall project settings.
# Environment variables FOOTFALL_ENGINE and FOOTFALL_TIMEZONE override the values here.
name = "{name}"
engine = "{engine}"          # duckdb (embedded default) | spark
timezone = "{timezone}"      # naive timestamps in imported files are read in this timezone
phone_region = "GB"          # region for phone numbers written without a country code

[paths]
warehouse = "footfall.duckdb"     # analytical store (DuckDB engine)
operational = "footfall.sqlite"   # operational store: a SQLite file or a SQLAlchemy URL
lake = "lake"                     # Parquet lake: the system of record for events

[spark]
master = "local[*]"
driver_memory = "4g"
shuffle_partitions = 8
"""


@dataclass(frozen=True)
class Project:
    """An opened project directory and its resolved settings."""

    root: Path
    settings: Settings

    @property
    def lake_dir(self) -> Path:
        return self.root / self.settings.paths.lake

    @property
    def warehouse_path(self) -> Path:
        return self.root / self.settings.paths.warehouse

    @property
    def operational_url(self) -> str:
        target = self.settings.paths.operational
        if "://" in target:
            return target
        return f"sqlite:///{self.root / target}"

    @property
    def engine(self) -> Engine:
        return self.settings.engine


def _env_overrides() -> dict[str, str]:
    overrides = {}
    for key in ("engine", "timezone"):
        value = os.environ.get(f"FOOTFALL_{key.upper()}")
        if value:
            overrides[key] = value
    return overrides


def _settings_from(raw: dict, origin: str) -> Settings:
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SettingsError(f"{origin}: {problems}") from None


def open_project(directory: str | Path = ".", engine: Engine | None = None) -> Project:
    """Open the project in `directory`; `engine` overrides the configured analytical engine."""
    root = Path(directory).resolve()
    settings_file = root / SETTINGS_FILE
    if not settings_file.is_file():
        raise NotAProjectError(str(directory))
    try:
        raw = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{settings_file}: not valid TOML ({exc})") from None
    raw.update(_env_overrides())
    if engine is not None:
        raw["engine"] = engine
    project = Project(root=root, settings=_settings_from(raw, str(settings_file)))
    from footfall.lake import Lake  # the lake finishes or rolls back interrupted commits on open

    Lake(project.lake_dir).recover()
    return project


def init_project(
    directory: str | Path, name: str | None = None, engine: Engine = "duckdb", timezone: str = "UTC"
) -> Project:
    """Create a project directory with settings, the warehouse file, the operational database and the lake."""
    root = Path(directory).resolve()
    if (root / SETTINGS_FILE).exists():
        raise FootfallError(f"{directory} is already a Footfall project ({SETTINGS_FILE} exists).")
    _settings_from({"name": name or root.name, "engine": engine, "timezone": timezone}, "footfall init")
    root.mkdir(parents=True, exist_ok=True)
    text = _TEMPLATE.format(name=name or root.name, engine=engine, timezone=timezone)
    (root / SETTINGS_FILE).write_text(text, encoding="utf-8")
    project = open_project(root)
    project.lake_dir.mkdir(parents=True, exist_ok=True)

    from footfall.opstore import create_operational_store
    from footfall.warehouse import create_warehouse_file

    create_operational_store(project)
    create_warehouse_file(project)
    return project
