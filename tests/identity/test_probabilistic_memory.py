"""Splink's DuckDB is memory-limited and spills: a tight limit changes nothing in the answer, and the
spill directory does not outlive the run."""

from __future__ import annotations

from footfall.identity import IdentitySettings, resolve_identities
from footfall.identity.probabilistic import ProbabilisticSettings, splink_duckdb_connection
from footfall.warehouse import open_warehouse

from tests.identity.conftest import copy_project


def test_splink_connection_takes_the_configured_limit_threads_and_spill_directory(tmp_path):
    settings = ProbabilisticSettings(duckdb_memory_limit="300MB", duckdb_threads=1)
    con = splink_duckdb_connection(settings, tmp_path / "it's spill")
    try:
        limit, threads, spill = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads'), current_setting('temp_directory')"
        ).fetchone()
    finally:
        con.close()
    assert limit == "286.1 MiB"  # DuckDB reports 300 MB in MiB
    assert threads == 1
    assert spill == str(tmp_path / "it's spill")


def _links(project, **probabilistic) -> list[tuple[str, str, float]]:
    settings = IdentitySettings()
    settings.probabilistic.u_max_pairs = 2e5
    for key, value in probabilistic.items():
        setattr(settings.probabilistic, key, value)
    with open_warehouse(project) as warehouse:
        result = resolve_identities(warehouse, settings)
        edges = warehouse.table("identity_edges")
        rows = edges.filter(edges.source == "probabilistic").select("left", "right", "probability").to_pyarrow().to_pylist()
    assert result.probabilistic_skipped is None
    return sorted((r["left"], r["right"], round(r["probability"], 9)) for r in rows)


def test_a_tight_memory_limit_gives_the_same_links_and_leaves_no_spill_behind(small_world, tmp_path):
    template, _ = small_world
    project = copy_project(template, tmp_path / "project")
    default = _links(project)
    tight = _links(project, duckdb_memory_limit="64MB", duckdb_threads=1)
    assert default and tight == default
    assert not list(project.root.glob(".splink-spill-*"))
