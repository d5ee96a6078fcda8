"""The postcodes reference table: import checks, upsert, and the synthetic world's directory."""

from __future__ import annotations

import pyarrow as pa
import pytest

from footfall.errors import InputFileError
from footfall.ingest import import_files
from footfall.lake import Lake
from footfall.synth.geography import distance_m
from footfall.synth.postcodes import CENTROID_JITTER_M, postcode_directory


def test_postcodes_import_and_upsert_by_postcode(project, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("postcode,lat,lon\nLS1 4AP,53.796,-1.547\nLS2,53.803,-1.55\n")
    second = tmp_path / "second.csv"
    second.write_text("postcode,lat,lon\nLS2,53.9,-1.6\n")
    import_files(project, "postcodes", [first])
    import_files(project, "postcodes", [second])
    rows = {r["postcode"]: (r["lat"], r["lon"]) for r in Lake(project.lake_dir).read("postcodes").to_pylist()}
    assert rows == {"LS1 4AP": (53.796, -1.547), "LS2": (53.9, -1.6)}


@pytest.mark.parametrize("content, column", [
    ("postcode,lat,lon\nLS1 4AP,,-1.5\n", "lat"),
    ("postcode,lat,lon\nLS1 4AP,95,-1.5\n", "lat"),
    ("postcode,lat,lon\nLS1,53.8,-1.5\nLS1,53.9,-1.5\n", "postcode"),
])
def test_invalid_postcode_rows_are_refused_with_their_column(project, tmp_path, content, column):
    path = tmp_path / "postcodes.csv"
    path.write_text(content)
    with pytest.raises(InputFileError) as refused:
        import_files(project, "postcodes", [path])
    assert refused.value.location.column == column


def test_directory_centroids_stay_near_the_homes_and_districts_average_them():
    persons = pa.table({
        "postcode": ["M4 6QT", "M4 6QT", "M4 1AB", None],
        "home_lat": [53.48, 53.482, 53.49, 53.0],
        "home_lon": [-2.24, -2.24, -2.23, -2.0],
    })
    rows = {r["postcode"]: (r["lat"], r["lon"]) for r in postcode_directory(persons).to_pylist()}
    assert set(rows) == {"M4 6QT", "M4 1AB", "M4"}
    assert distance_m(*rows["M4 6QT"], 53.481, -2.24) <= CENTROID_JITTER_M + 1
    assert distance_m(*rows["M4 1AB"], 53.49, -2.23) <= CENTROID_JITTER_M + 1
    assert rows["M4"] == pytest.approx(((rows["M4 6QT"][0] + rows["M4 1AB"][0]) / 2, (rows["M4 6QT"][1] + rows["M4 1AB"][1]) / 2), abs=2e-6)
