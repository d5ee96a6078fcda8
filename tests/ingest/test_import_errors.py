"""Bad input is refused with exit code 2 and a message naming file, row and column; nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from footfall.ingest import import_files
from footfall.lake import Lake
from tests.conftest import run_cli

STORES = "store_id,name,lat,lon,radius_m,timezone\nS1,Oxford Street,51.5154,-0.1410,80,Europe/London\n"


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _import(kind: str, file: Path, project, capsys, *extra: str) -> tuple[int, str]:
    code, out, err = run_cli(["import", kind, str(file), "--project", str(project.root), *extra], capsys)
    return code, err


def _lake_files(project) -> int:
    lake = Lake(project.lake_dir)
    return sum(len(lake.files(t)) for t in ("events", "order_lines", "stores", "products"))


@pytest.fixture
def stocked(project, tmp_path):
    """A project that knows store S1."""
    import_files(project, "stores", [_write(tmp_path / "stores.csv", STORES)])
    return project


def test_missing_required_column_names_the_column(stocked, tmp_path, capsys):
    file = _write(tmp_path / "products.csv", "sku,name,price\nA,Shoe,10\n")
    code, err = _import("products", file, stocked, capsys)
    assert code == 2
    assert "products.csv" in err and "missing required column 'category'" in err


def test_wrong_type_names_row_and_column(stocked, tmp_path, capsys):
    file = _write(tmp_path / "products.csv", "sku,name,category,price\nA,Shoe,shoes,10\nB,Hat,hats,ten\n")
    code, err = _import("products", file, stocked, capsys)
    assert code == 2
    assert "row 2" in err and "column 'price'" in err and "'ten'" in err


def test_unparseable_timestamp_names_row_and_column(stocked, tmp_path, capsys):
    file = _write(
        tmp_path / "events.csv",
        "message_id,type,event,anonymous_id,timestamp,channel\n"
        "m1,track,Product Viewed,a1,2026-01-02T10:00:00Z,web\n"
        "m2,track,Product Viewed,a1,yesterday at noon,web\n",
    )
    code, err = _import("events", file, stocked, capsys)
    assert code == 2
    assert "row 2" in err and "column 'timestamp'" in err and "unparseable timestamp" in err
    assert _lake_files(stocked) == 1  # only the stores snapshot: the valid first row was not written


def test_unknown_store_on_receipt_is_refused(stocked, tmp_path, capsys):
    file = _write(
        tmp_path / "receipts.csv",
        "receipt_id,store_id,timestamp,total\nR1,S1,2026-01-04T12:00:00Z,10\nR2,S9,2026-01-04T13:00:00Z,12\n",
    )
    code, err = _import("receipts", file, stocked, capsys)
    assert code == 2
    assert "row 2" in err and "column 'store_id'" in err and "'S9'" in err and "import the stores file first" in err
    assert _lake_files(stocked) == 1


@pytest.mark.parametrize("content", ["", "sku,name,category,price\n"], ids=["zero-bytes", "header-only"])
def test_empty_file_is_refused(stocked, tmp_path, capsys, content):
    file = _write(tmp_path / "products.csv", content)
    code, err = _import("products", file, stocked, capsys)
    assert code == 2
    assert "products.csv" in err and "empty" in err


def test_non_utf8_bytes_name_row_and_column(stocked, tmp_path, capsys):
    file = _write(tmp_path / "products.csv", "sku,name,category,price\nA,Shoe,shoes,10\nB,Caf\xe9 mug,home,5\n".encode("latin-1"))
    code, err = _import("products", file, stocked, capsys)
    assert code == 2
    assert "row 2" in err and "column 'name'" in err and "not valid UTF-8" in err


def test_non_utf8_bytes_in_jsonl_name_the_line(stocked, tmp_path, capsys):
    line = '{"message_id":"m%d","type":"track","event":"X","anonymous_id":"a","timestamp":"2026-01-01T00:00:00Z","channel":"web"}\n'
    file = _write(tmp_path / "events.jsonl", (line % 1).encode() + (line % 2).replace("X", "Caf\xe9").encode("latin-1"))
    code, err = _import("events", file, stocked, capsys)
    assert code == 2 and "row 2" in err and "not valid UTF-8" in err


def test_file_not_found(stocked, tmp_path, capsys):
    code, err = _import("events", tmp_path / "missing.csv", stocked, capsys)
    assert code == 2 and "missing.csv" in err and "file not found" in err


def test_invalid_json_line_names_the_line(stocked, tmp_path, capsys):
    file = _write(tmp_path / "events.jsonl", '{"message_id":"m1"}\n{"message_id": \n')
    code, err = _import("events", file, stocked, capsys)
    assert code == 2 and "row 2" in err and "not valid JSON" in err


def test_event_without_any_identifier_is_refused(stocked, tmp_path, capsys):
    file = _write(
        tmp_path / "events.csv",
        "type,event,user_id,anonymous_id,timestamp,channel\ntrack,Product Viewed,,,2026-01-02T10:00:00Z,web\n",
    )
    code, err = _import("events", file, stocked, capsys)
    assert code == 2 and "row 1" in err and "user_id or an anonymous_id" in err


def test_unknown_channel_lists_the_allowed_ones(stocked, tmp_path, capsys):
    file = _write(
        tmp_path / "events.csv",
        "type,event,anonymous_id,timestamp,channel\ntrack,Product Viewed,a1,2026-01-02T10:00:00Z,telepathy\n",
    )
    code, err = _import("events", file, stocked, capsys)
    assert code == 2 and "column 'channel'" in err and "telepathy" in err and "web" in err


def test_map_naming_a_missing_column_is_refused(stocked, tmp_path, capsys):
    file = _write(tmp_path / "products.csv", "sku,name,category,price\nA,Shoe,shoes,10\n")
    code, err = _import("products", file, stocked, capsys, "--map", "cost=price")
    assert code == 2 and "--map names column 'cost'" in err


def test_not_a_project_is_a_clear_error(tmp_path, capsys):
    code, out, err = run_cli(["status", "--project", str(tmp_path)], capsys)
    assert code == 2 and "is not a Footfall project" in err and "footfall init" in err
