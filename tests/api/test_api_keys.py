"""Scoped API keys: created by the CLI (shown once, stored hashed), checked by `require_scope` (401/403 JSON)."""

from __future__ import annotations

import hashlib

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import select

from footfall.api import create_app
from footfall.api.auth import require_scope
from footfall.errors import FootfallError
from footfall.keys import ApiKey, WriteKeyCache, create_api_key, create_write_key, list_write_keys
from footfall.opstore import operational_engine, write_keys
from tests.api.conftest import basic_auth
from tests.conftest import run_cli


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def guarded(project):
    """The real app with one extra route that needs `segments:read` and answers with the caller's key id."""
    app = create_app(project, loader_interval_s=None, key_cache_s=0)

    @app.get("/api/probe")
    def probe(key: ApiKey = Depends(require_scope("segments:read"))) -> dict[str, str]:
        return {"key_id": key.key_id}

    with TestClient(app) as client:
        yield client


def test_create_api_prints_the_key_once_and_stores_its_hash_with_scopes(project, capsys, monkeypatch):
    from footfall.cli import console

    monkeypatch.setattr(console, "_width", 250)  # the listing's table on one line per key
    monkeypatch.setattr(console, "_height", 25)
    code, out, err = run_cli(["keys", "create-api", "crm-sync", "--scope", "segments:read", "--scope",
                              "profiles:read", "--project", str(project.root)], capsys)
    assert code == 0, err
    key = out.strip().splitlines()[-1]
    key_id = out.split("API key ", 1)[1].split()[0]
    assert key.startswith("ffa_") and len(key) > 40
    engine = operational_engine(project)
    with engine.connect() as connection:
        row = connection.execute(select(write_keys).where(write_keys.c.key_id == key_id)).one()
    engine.dispose()
    assert row.kind == "api" and row.source == "crm-sync" and row.scopes == "segments:read profiles:read"
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in " ".join(str(value) for value in row)
    code, out, _ = run_cli(["keys", "list-api", "--project", str(project.root)], capsys)
    assert code == 0 and key_id in out and "crm-sync" in out and "segments:read" in out and key not in out
    code, out, _ = run_cli(["keys", "list", "--project", str(project.root)], capsys)
    assert key_id not in out  # write keys only


def test_unknown_scope_is_refused_with_exit_2_naming_the_known_ones(project, capsys):
    code, _, err = run_cli(["keys", "create-api", "crm", "--scope", "segments:delete", "--project",
                            str(project.root)], capsys)
    assert code == 2 and "segments:delete" in err and "segments:read" in err


def test_a_key_with_the_scope_is_admitted(project, guarded):
    record, key = create_api_key(project, "dashboard", ["segments:read"])
    response = guarded.get("/api/probe", headers=_bearer(key))
    assert response.status_code == 200 and response.json() == {"key_id": record.key_id}


def test_missing_malformed_and_unknown_keys_get_401_json(project, guarded):
    for headers in ({}, {"Authorization": "Bearer"}, _bearer("ffa_made-up"), {"Authorization": "Token abc"}):
        response = guarded.get("/api/probe", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["code"] == "invalid_api_key"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_key_without_the_scope_gets_403_naming_it(project, guarded):
    _, key = create_api_key(project, "profiles-only", ["profiles:read"])
    response = guarded.get("/api/probe", headers=_bearer(key))
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope" and response.json()["scope"] == "segments:read"
    assert "segments:read" in response.json()["message"]


def test_a_revoked_key_gets_401(project, guarded, capsys):
    record, key = create_api_key(project, "dashboard", ["segments:read"])
    assert guarded.get("/api/probe", headers=_bearer(key)).status_code == 200
    code, out, err = run_cli(["keys", "revoke-api", record.key_id, "--project", str(project.root)], capsys)
    assert code == 0, err
    response = guarded.get("/api/probe", headers=_bearer(key))
    assert response.status_code == 401 and "revoked" in response.json()["message"]


def test_write_keys_and_api_keys_never_stand_in_for_each_other(project, guarded):
    _, write_key = create_write_key(project, "web-shop")
    _, api_key = create_api_key(project, "dashboard", ["segments:read"])
    assert guarded.get("/api/probe", headers=_bearer(write_key)).status_code == 401
    tracked = guarded.post("/v1/track", json={"userId": "u1", "event": "Product Viewed"}, headers=basic_auth(api_key))
    assert tracked.status_code == 401
    cache = WriteKeyCache(project, ttl_s=0)
    try:
        with pytest.raises(FootfallError):
            cache.authenticate(api_key)
    finally:
        cache.close()
    assert [k.source for k in list_write_keys(project)] == ["web-shop"]


def test_revoke_api_refuses_a_write_key_id(project, capsys):
    record, _ = create_write_key(project, "web-shop")
    code, _, err = run_cli(["keys", "revoke-api", record.key_id, "--project", str(project.root)], capsys)
    assert code == 2 and "no API key" in err


def test_openapi_declares_the_bearer_scheme_on_guarded_routes(guarded):
    schema = guarded.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"] == {
        **schema["components"]["securitySchemes"]["ApiKey"], "type": "http", "scheme": "bearer"}
    assert schema["paths"]["/api/probe"]["get"]["security"] == [{"ApiKey": []}]
