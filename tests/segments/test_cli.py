"""`footfall segment ...`: create (canonical text, located syntax errors), list, show, count, evaluate,
export, history and delete, run in-process against a resolved project."""

from __future__ import annotations

import csv

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli
from tests.identity.conftest import event, load, resolve

# u1 browses on the 1st and 13th, u2 on the 5th, u3 on the 12th (all online, channel web); u3 buys in a store.
VIEWS = [("u1", 1), ("u2", 5), ("u3", 12), ("u1", 13)]


@pytest.fixture
def resolved(project, tmp_path, monkeypatch):
    wide_console(monkeypatch)
    events = [event(f"v{i}", f"2026-01-{day:02d}T10:00:00Z", user_id=user) for i, (user, day) in enumerate(VIEWS)]
    load(project, tmp_path, events, receipts=[{"receipt_id": "R1", "timestamp": "2026-01-12T15:00:00Z",
                                               "loyalty_id": "L3"}])
    load(project, tmp_path, [event("i3", "2026-01-12T09:00:00Z", type="identify", event=None, user_id="u3",
                                   traits={"loyalty_id": "L3"})], name="identify")
    _, id_map = resolve(project)
    return {user: id_map[f"user_id:{user}"] for user in ("u1", "u2", "u3")}


def wide_console(monkeypatch) -> None:
    """Rich tables on one line per row, whatever the terminal (or its absence) says."""
    from footfall.cli import console

    monkeypatch.setattr(console, "_width", 250)
    monkeypatch.setattr(console, "_height", 25)


def cli(project, capsys, *args: str) -> tuple[int, str, str]:
    return run_cli(["segment", *args, "--project", str(project.root)], capsys)


def test_create_prints_the_canonical_text(project, capsys, resolved):
    code, out, err = cli(project, capsys, "create", "browsers", 'did  "Product Viewed"[channel = web]  >= 1 in 7d')
    assert code == 0, err
    assert out.strip().splitlines()[-1] == 'did "Product Viewed"[channel=web] in 7d'


def test_a_syntax_error_exits_2_with_a_caret_under_the_position(project, capsys):
    text = 'did "Product Viewed" >= in 7d'
    code, out, err = cli(project, capsys, "create", "broken", text)
    assert code == 2
    lines = err.splitlines()
    assert lines[0].startswith("error: expected") and f"column {text.index('in 7d') + 1}" in lines[0]
    assert lines[1] == text
    assert lines[2] == " " * text.index("in 7d") + "^"


def test_unknown_references_and_bad_names_exit_2(project, capsys):
    code, _, err = cli(project, capsys, "create", "vip", 'in segment "whales"')
    assert code == 2 and "whales" in err
    code, _, err = cli(project, capsys, "create", "Big Spenders", 'did "Order Completed"')
    assert code == 2 and "not allowed" in err
    code, _, err = cli(project, capsys, "create", "ropo", 'did "Order Completed"')
    assert code == 2 and "built-in" in err


def test_list_and_show(project, capsys, resolved):
    cli(project, capsys, "create", "browsers", 'did "Product Viewed" in 7d', "--description", "recent browsers")
    code, out, err = cli(project, capsys, "list")
    assert code == 0, err
    assert "browsers" in out and "ropo" in out and "built-in" in out and "stored" in out
    assert 'did "Product Viewed" in 7d' in out
    code, out, err = cli(project, capsys, "show", "browsers")
    assert code == 0, err
    assert "recent browsers" in out and '"kind": "did"' in out and "Never evaluated" in out
    code, _, err = cli(project, capsys, "show", "nobody")
    assert code == 2 and "no segment named 'nobody'" in err


def test_count_evaluate_and_history_follow_members_over_time(project, capsys, resolved, tmp_path):
    cli(project, capsys, "create", "browsers", 'did "Product Viewed" in 7d')
    code, out, err = cli(project, capsys, "count", "browsers", "--as-of", "2026-01-06T12:00:00Z")
    assert code == 0, err
    assert out.startswith("2 members of browsers as of 2026-01-06 12:00:00")
    for day in ("06", "10", "13"):
        code, out, err = cli(project, capsys, "evaluate", "browsers", "--as-of", f"2026-01-{day}T12:00:00Z")
        assert code == 0, err
    assert "browsers" in out
    code, out, err = cli(project, capsys, "history", "browsers", "--plot", str(tmp_path / "history.html"))
    assert code == 0, err
    rows = [line for line in out.splitlines() if "2026-01-" in line]
    assert len(rows) == 3
    assert [cells.split()[5:] for cells in (r.replace("│", " ") for r in rows)] == [
        ["2", "+2", "-0"], ["1", "+0", "-1"], ["2", "+2", "-1"]]
    assert "plotly" in (tmp_path / "history.html").read_text()[:5000].lower()
    code, out, _ = cli(project, capsys, "show", "browsers")
    assert "2 members, 2 entered, 1 left" in out
    code, _, err = cli(project, capsys, "evaluate", "browsers", "--as-of", "2026-01-02")
    assert code == 2 and "forward in time" in err


def test_evaluate_all_records_every_segment(project, capsys, resolved):
    cli(project, capsys, "create", "browsers", 'did "Product Viewed" in 7d')
    code, _, err = cli(project, capsys, "evaluate", "--all", "--as-of", "2026-01-13T12:00:00Z")
    assert code == 2 and "footfall profile build" in err  # a built-in compares traits
    code, _, err = run_cli(["profile", "build", "--project", str(project.root)], capsys)
    assert code == 0, err
    code, out, err = cli(project, capsys, "evaluate", "--all", "--as-of", "2026-01-13T12:00:00Z")
    assert code == 0, err
    assert "browsers" in out and "store_only" in out and "omnichannel" in out
    code, out, _ = cli(project, capsys, "list")
    browsers = next(line for line in out.splitlines() if line.startswith("│ browsers") or " browsers " in line)
    assert "2026-01-13 12:00:00" in browsers
    code, _, err = cli(project, capsys, "evaluate")
    assert code == 2 and "--all" in err


def test_export_csv_and_parquet(project, capsys, resolved, tmp_path):
    cli(project, capsys, "create", "browsers", 'did "Product Viewed" in 7d')
    csv_path, parquet_path = tmp_path / "members.csv", tmp_path / "members.parquet"
    code, out, err = cli(project, capsys, "export", "browsers", "--format", "csv", "--output", str(csv_path),
                         "--as-of", "2026-01-13T12:00:00Z")
    assert code == 0, err
    with csv_path.open() as handle:
        assert sorted(row["person_id"] for row in csv.DictReader(handle)) == sorted([resolved["u1"], resolved["u3"]])
    code, _, err = cli(project, capsys, "export", "browsers", "--format", "parquet", "--output", str(parquet_path),
                       "--as-of", "2026-01-06T12:00:00Z")
    assert code == 0, err
    assert pq.read_table(parquet_path)["person_id"].to_pylist() == sorted([resolved["u1"], resolved["u2"]])
    code, _, err = cli(project, capsys, "export", "browsers", "--format", "xlsx", "--output", str(tmp_path / "x"))
    assert code == 2 and "csv or parquet" in err


def test_segments_can_build_on_segments_and_deleting_a_used_one_is_refused(project, capsys, resolved):
    cli(project, capsys, "create", "browsers", 'did "Product Viewed" in 7d')
    code, out, err = cli(project, capsys, "create", "store-browsers", 'in segment browsers and did "Order Completed"[realm=offline]')
    assert code == 0, err
    code, out, _ = cli(project, capsys, "count", "store-browsers", "--as-of", "2026-01-13T12:00:00Z")
    assert out.startswith("1 members")  # u3: browsed on the 12th, bought in the store
    code, _, err = cli(project, capsys, "create", "browsers", 'in segment "store-browsers"', "--replace")
    assert code == 2 and "refer to itself" in err
    code, _, err = cli(project, capsys, "delete", "browsers")
    assert code == 2 and "store-browsers" in err
    assert cli(project, capsys, "delete", "store-browsers")[0] == 0
    assert cli(project, capsys, "delete", "browsers")[0] == 0
