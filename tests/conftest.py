"""Shared fixtures: projects in temporary directories and the engines the analytics run on.

Engine-agnostic tests take the `engine` fixture and run on DuckDB and on real PySpark (local[2]).
All Spark tests share one worker (`xdist_group`) and so one SparkSession, started once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from footfall.project import Project, init_project

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

ENGINES = [
    "duckdb",
    pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.xdist_group("spark")]),
]


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """An empty project whose Spark settings keep the local cluster small."""
    created = init_project(tmp_path / "project", timezone="Europe/London")
    settings_file = created.root / "footfall.toml"
    settings_file.write_text(settings_file.read_text().replace('master = "local[*]"', 'master = "local[2]"'))
    from footfall.project import open_project

    return open_project(created.root)


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run the `footfall` entry point in-process; return (exit code, stdout, stderr)."""
    from footfall.cli import main

    saved = sys.argv
    sys.argv = ["footfall", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = saved
    out = capsys.readouterr()
    return code, out.out, out.err
