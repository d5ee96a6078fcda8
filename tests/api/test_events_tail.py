"""`footfall events tail`: a live view of the events the server accepted, filtered by source."""

from __future__ import annotations

from fastapi.testclient import TestClient

from footfall.api import create_app
from footfall.keys import create_write_key
from tests.api.conftest import basic_auth
from tests.conftest import run_cli


def test_tail_prints_accepted_events_of_one_source(project, capsys):
    web = create_write_key(project, "web")[1]
    pos = create_write_key(project, "pos")[1]
    with TestClient(create_app(project)) as client:
        page = {"anonymousId": "anon-1", "name": "Shoes", "messageId": "m-page",
                "context": {"page": {"path": "/shoes"}}}
        assert client.post("/v1/page", json=page, headers=basic_auth(web)).status_code == 200
        assert client.post("/v1/track", json={"userId": "u1", "event": "Till Sale"}, headers=basic_auth(pos)).status_code == 200
        assert client.post("/v1/t", json={"anonymousId": "anon-1", "event": "Añadido ✓", "writeKey": web}).status_code == 200
    code, out, err = run_cli(["events", "tail", "--source", "web", "--from-start", "--limit", "2", "--timeout", "10",
                              "--project", str(project.root)], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert "page  Shoes  id=anon-1  /shoes  msg=m-page" in lines[0]
    assert "track  Añadido ✓  id=anon-1" in lines[1]
    assert "Till Sale" not in out


def test_tail_without_from_start_skips_what_was_already_there(project, capsys):
    web = create_write_key(project, "web")[1]
    with TestClient(create_app(project)) as client:
        client.post("/v1/track", json={"userId": "u1", "event": "Old"}, headers=basic_auth(web))
    code, out, _ = run_cli(["events", "tail", "--timeout", "1.2", "--project", str(project.root)], capsys)
    assert code == 0 and out.strip() == ""
