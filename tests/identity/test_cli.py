"""`footfall resolve` and `footfall identity explain | stats | unmerge` end to end, through `main`."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from tests.identity.test_protection import _household


def test_resolve_explain_stats_and_unmerge_from_the_command_line(project, tmp_path, capsys):
    _household(project, tmp_path)
    root = str(project.root)
    code, out, _ = run_cli(["resolve", "--project", root], capsys)
    assert code == 0 and "persons" in out and "done" in out

    code, out, _ = run_cli(["identity", "explain", "alice@mail.co.uk", "--json", "--project", root], capsys)
    explained = json.loads(out)
    assert code == 0 and explained["anchor"] == "user_id:u_alice"
    assert [(e["source"], e["message_id"]) for e in explained["chain"]] == [("identify", "a1")]

    code, out, _ = run_cli(["identity", "explain", "smith.family@mail.co.uk", "--project", root], capsys)
    assert code == 0 and "belongs to no person" in out and "equally close" in out

    code, out, _ = run_cli(["identity", "stats", "--json", "--project", root], capsys)
    stats = json.loads(out)
    assert code == 0 and stats["persons"] == 2  # Alice and Bob; the cash receipt with only the shared email is unowned
    assert stats["detached_identifiers"] == {"conflict": 1} and stats["refused_edges"] == {"conflict": 2}
    assert sum(stats["identifiers_per_person"].values()) == 2 and stats["events"] == 7 and stats["events_resolved"] == 6

    code, out, _ = run_cli(["identity", "unmerge", "--edge", "card_token:tok_alice", "user_id:u_alice",
                            "--reason", "test", "--by", "qa", "--project", root], capsys)
    assert code == 0 and "Decision 1 (block_edge)" in out


def test_user_errors_exit_with_code_2_and_a_message(project, tmp_path, capsys):
    root = str(project.root)
    code, _, err = run_cli(["identity", "explain", "user_id:u1", "--project", root], capsys)
    assert code == 2 and "footfall resolve" in err
    _household(project, tmp_path)
    run_cli(["resolve", "--project", root, "--no-probabilistic"], capsys)
    code, _, err = run_cli(["identity", "explain", "ghost@mail.co.uk", "--project", root], capsys)
    assert code == 2 and "no identifier" in err
    code, _, err = run_cli(["identity", "unmerge", "--identifier", "user_id:u_alice", "--edge", "a", "b",
                            "--reason", "x", "--project", root], capsys)
    assert code == 2 and "not both" in err


def test_resolve_on_a_project_without_events_makes_empty_tables(project, capsys):
    code, out, _ = run_cli(["resolve", "--project", str(project.root)], capsys)
    assert code == 0 and "0 of 0" in out
    code, out, _ = run_cli(["identity", "stats", "--json", "--project", str(project.root)], capsys)
    assert code == 0 and json.loads(out)["persons"] == 0
