"""`footfall keys create | list | revoke`: a key is shown once, stored as a hash, and revocable."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient
from sqlalchemy import select

from footfall.api import create_app
from footfall.opstore import operational_engine, write_keys
from tests.api.conftest import basic_auth
from tests.conftest import run_cli

EVENT = {"userId": "u1", "event": "Product Viewed"}


def _create(project, capsys, source: str = "web-shop") -> tuple[str, str]:
    code, out, err = run_cli(["keys", "create", "--source", source, "--project", str(project.root)], capsys)
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    key_id = out.split("write key ", 1)[1].split()[0]
    return key_id, key


def test_create_prints_a_key_once_and_stores_only_its_hash(project, capsys):
    key_id, key = _create(project, capsys)
    assert key.startswith("ffw_") and len(key) > 40
    engine = operational_engine(project)
    with engine.connect() as connection:
        row = connection.execute(select(write_keys)).one()
    engine.dispose()
    assert row.key_id == key_id and row.source == "web-shop"
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in " ".join(str(value) for value in row)
    code, out, _ = run_cli(["keys", "list", "--project", str(project.root)], capsys)
    assert code == 0 and key_id in out and "web-shop" in out and "active" in out and key not in out


def test_a_created_key_is_accepted_and_a_revoked_one_refused(project, capsys):
    key_id, key = _create(project, capsys)
    with TestClient(create_app(project, loader_interval_s=None, key_cache_s=0)) as client:
        assert client.post("/v1/track", json=EVENT, headers=basic_auth(key)).status_code == 200
        code, out, _ = run_cli(["keys", "revoke", key_id, "--project", str(project.root)], capsys)
        assert code == 0 and key_id in out
        response = client.post("/v1/track", json=EVENT, headers=basic_auth(key))
    assert response.status_code == 401 and "revoked" in response.json()["message"]
    code, out, _ = run_cli(["keys", "list", "--project", str(project.root)], capsys)
    assert "revoked" in out


def test_keys_of_different_sources_tag_their_events(project, capsys):
    _, web = _create(project, capsys, "web-shop")
    _, till = _create(project, capsys, "till.london-1")
    with TestClient(create_app(project, loader_interval_s=None)) as client:
        for key in (web, till):
            assert client.post("/v1/track", json=EVENT, headers=basic_auth(key)).json()["accepted"] == 1
    code, out, _ = run_cli(["load", "--project", str(project.root)], capsys)
    assert code == 0 and "Loaded 2 events" in out
    from footfall.lake import Lake

    assert sorted(Lake(project.lake_dir).read("events")["source"].to_pylist()) == ["till.london-1", "web-shop"]


def test_revoking_an_unknown_key_or_naming_a_bad_source_exits_2(project, capsys):
    code, _, err = run_cli(["keys", "revoke", "wk_nope", "--project", str(project.root)], capsys)
    assert code == 2 and "no write key with id 'wk_nope'" in err
    code, _, err = run_cli(["keys", "create", "--source", "web shop!", "--project", str(project.root)], capsys)
    assert code == 2 and "source name" in err
