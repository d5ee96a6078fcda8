"""The synthetic world's postcode directory: where each postcode in use is, like a national directory.

A real directory (ONS NSPL, Ordnance Survey Code-Point) gives the centroid of each unit postcode, a
few dozen addresses within about 100 m, and districts are the centroids of their postcodes. Here a
postcode's location is the mean of the homes that carry it, moved by up to `CENTROID_JITTER_M` (a
centroid is not a front door); a district's is the mean of its postcodes. Built from the truth
table of persons after all chunks are written, so workers need not share anything.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from footfall.schema import POSTCODES
from footfall.synth.geography import offset

CENTROID_JITTER_M = 100.0


def _jitter(postcode: str) -> tuple[float, float]:
    """A deterministic (distance, bearing) for a postcode's centroid offset."""
    digest = hashlib.sha1(postcode.encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32
    bearing = int.from_bytes(digest[4:8], "big") / 2**32 * 2 * math.pi
    return math.sqrt(fraction) * CENTROID_JITTER_M, bearing


def postcode_directory(persons: pa.Table) -> pa.Table:
    """Rows of POSTCODES for every postcode and district found in a truth persons table."""
    homes = persons.select(["postcode", "home_lat", "home_lon"]).filter(pc.is_valid(persons["postcode"]))
    units = homes.group_by("postcode").aggregate([("home_lat", "mean"), ("home_lon", "mean")]).sort_by("postcode")
    rows: list[dict] = []
    districts: dict[str, list[tuple[float, float]]] = {}
    for code, lat, lon in zip(*(units[c].to_pylist() for c in ("postcode", "home_lat_mean", "home_lon_mean"))):
        metres, bearing = _jitter(code)
        lat, lon = offset(lat, lon, metres, bearing)
        rows.append({"postcode": code, "lat": round(lat, 6), "lon": round(lon, 6)})
        districts.setdefault(code.split(" ")[0], []).append((lat, lon))
    for district, points in sorted(districts.items()):
        lat = sum(p[0] for p in points) / len(points)
        lon = sum(p[1] for p in points) / len(points)
        rows.append({"postcode": district, "lat": round(lat, 6), "lon": round(lon, 6)})
    return pa.Table.from_pylist(rows, schema=POSTCODES)


def write_postcode_directory(out_dir: Path) -> int:
    """Write postcodes.parquet next to stores.parquet from truth/persons.parquet; returns its rows."""
    persons = pq.read_table(out_dir / "truth" / "persons.parquet", columns=["postcode", "home_lat", "home_lon"])
    directory = postcode_directory(persons)
    pq.write_table(directory, out_dir / "postcodes.parquet", compression="zstd")
    return directory.num_rows
