"""Fixtures for the tracking API: a project with a write key, the real app under TestClient."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from footfall.api import create_app
from footfall.keys import create_write_key
from footfall.project import Project


def basic_auth(key: str) -> dict[str, str]:
    """The header Segment's clients send: the write key as Basic user name, empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


@pytest.fixture
def write_key(project: Project) -> str:
    return create_write_key(project, "web-shop")[1]


@pytest.fixture
def client(project: Project, write_key: str) -> Iterator[TestClient]:
    """The real app on the project (background loader off: tests load explicitly), authenticated."""
    with TestClient(create_app(project, loader_interval_s=None), headers=basic_auth(write_key)) as test_client:
        yield test_client
