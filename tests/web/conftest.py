"""Fixtures for the dashboard tests: a migrated database with a seeded virtual ward, and the
API app (dashboard included) under a TestClient."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from devstack.postgres import PostgresServer

# importlib import mode does not put test folders on sys.path (see tests/api/conftest.py).
sys.path.insert(0, str(Path(__file__).parent))
from web_seed import Ward, migrate_db, seed_ward, settings_for


@pytest.fixture(scope="module")
def ward_db(pg_server: PostgresServer) -> Iterator[str]:
    name = f"web_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:{pg_server.port}/{name}"
    migrate_db(url)
    yield url
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def ward(ward_db: str) -> Ward:
    return seed_ward(ward_db)


@pytest.fixture(scope="module")
def app_client(ward: Ward) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(ward.url)), follow_redirects=False) as client:
        yield client


@pytest.fixture
def client(app_client: TestClient) -> TestClient:
    """The module's client with no session: each test signs in as it needs."""
    app_client.cookies.clear()
    return app_client
