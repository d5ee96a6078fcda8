"""Each built-in segment against the synthetic world's true archetypes, and the same members on both engines.

Scores are per true person (a resolved person stands for the true person behind most of its events).
The bar (precision and recall ≥ 0.9) applies to every built-in over the *observable* true persons —
those whose whole behaviour the data lets an identity resolver attribute to one person
(`tests/segments/truth.py`, `observable_persons`; computed from the world's truth, not from what
Footfall resolved). Over every true person it also applies where the data allows it. For ROPO, lapsed
and store-only it does not: an anonymous cash receipt, or a card used only at the till and never seen
with any other identifier of its owner, hides the store half of a shopper from any resolver, and even
the best attribution the data allows (every identifier to its true owner, plus a perfect matcher of
personal details) stays below 0.9 for those three on both seeds measured (docs/segments.md, "Accuracy").
A measured floor guards them over everyone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from footfall.project import open_project
from footfall.segments import BUILTIN_SEGMENTS, compile_rule, parse, render
from footfall.synth import WorldManifest
from footfall.warehouse import open_warehouse
from tests.segments.conftest import copy_project, world_end
from tests.segments.test_compiler import share_with_spark, warehouse_on
from tests.segments.truth import TARGETS, load_truth, score

# Built-ins whose score over every true person has a ceiling below 0.9 set by what the data lets any
# identity resolver see, and the floor they are held to there: measured on seed 3 (the lowest of them,
# lapsed recall 0.733 and store-only precision 0.734) and seed 5 at twice the size (0.753 and 0.798).
BOUND_BY_IDENTITY = {"ropo", "lapsed_store_active_online", "store_only"}
OVERALL_FLOOR = 0.7
BAR = 0.9


def members_of(project_dir: Path, engine: str, name: str, as_of) -> set[str]:
    with warehouse_on(open_project(project_dir), engine) as warehouse:
        table = warehouse.to_arrow(compile_rule(parse(BUILTIN_SEGMENTS[name]), warehouse, as_of))
    return set(table["person_id"].to_pylist())


def test_every_built_in_is_written_in_the_language_and_has_a_target() -> None:
    assert set(BUILTIN_SEGMENTS) == set(TARGETS)
    for text in BUILTIN_SEGMENTS.values():
        assert render(parse(text)) == text  # stored in canonical form


@pytest.mark.parametrize("name", sorted(BUILTIN_SEGMENTS))
def test_built_in_finds_its_archetype(accuracy_world: tuple[Path, WorldManifest], name: str) -> None:
    project_dir, manifest = accuracy_world
    truth = load_truth(project_dir, manifest)
    result = score(members_of(project_dir, "duckdb", name, world_end(manifest)), name, truth)
    assert len(truth.observable & truth.target(name)) >= 50, "too few observable targets to measure"
    assert result.observable_precision >= BAR, result
    assert result.observable_recall >= BAR, result
    overall = OVERALL_FLOOR if name in BOUND_BY_IDENTITY else BAR
    assert result.precision >= overall and result.recall >= overall, result


@pytest.mark.spark
@pytest.mark.xdist_group("spark")
def test_built_ins_have_the_same_members_on_duckdb_and_spark(small_segment_world: tuple[Path, WorldManifest],
                                                             tmp_path: Path) -> None:
    template, manifest = small_segment_world
    project = copy_project(template, tmp_path / "project")
    with open_warehouse(project) as warehouse:
        share_with_spark(project, warehouse)
    as_of = world_end(manifest)
    for name in sorted(BUILTIN_SEGMENTS):
        on_duckdb = members_of(project.root, "duckdb", name, as_of)
        assert on_duckdb, f"{name} is empty on the small world: the comparison would prove nothing"
        assert members_of(project.root, "spark", name, as_of) == on_duckdb, name


def test_distance_to_any_store_agrees_with_the_nearest_store_trait(accuracy_world: tuple[Path, WorldManifest]) -> None:
    project_dir, manifest = accuracy_world
    as_of = world_end(manifest)
    with open_warehouse(open_project(project_dir)) as warehouse:
        def ids(text: str) -> set[str]:
            return set(warehouse.to_arrow(compile_rule(text, warehouse, as_of))["person_id"].to_pylist())

        near = ids("within 8km of any store")
        assert near == ids("nearest_store_km <= 8") and len(near) > 100
        store = warehouse.to_arrow(warehouse.table("stores").select("store_id"))["store_id"][0].as_py()
        around_one = ids(f'within 8000m of store "{store}"')
        assert around_one and around_one < near
        assert around_one >= ids(f'nearest_store_id = "{store}" and nearest_store_km <= 8')
