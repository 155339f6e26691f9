"""Fixtures for the API tests: a migrated database per module (or per test where a test
breaks it), a seeded world of two care teams, and the app under a TestClient."""

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
from ingest.migrate import migrate

# importlib import mode (pyproject) does not put test folders on sys.path: the helpers module
# beside this file is imported by name from here and from the tests.
sys.path.insert(0, str(Path(__file__).parent))
from api_helpers import World, seed_world, settings_for


@pytest.fixture(scope="session")
def migrated_template(pg_server: PostgresServer) -> Iterator[str]:
    """A database migrated once per session; each test database is a copy of it (much
    faster than running the migrations again)."""
    name = f"api_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(f"postgresql://postgres@127.0.0.1:{pg_server.port}/{name}")
    yield name
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _database(pg_server: PostgresServer, template: str) -> Iterator[str]:
    name = f"api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield f"postgresql://postgres@127.0.0.1:{pg_server.port}/{name}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def module_db(pg_server: PostgresServer, migrated_template: str) -> Iterator[str]:
    yield from _database(pg_server, migrated_template)


@pytest.fixture
def own_db(pg_server: PostgresServer, migrated_template: str) -> Iterator[str]:
    """A database for one test, which it may damage."""
    yield from _database(pg_server, migrated_template)


@pytest.fixture(scope="module")
def world(module_db: str) -> World:
    return seed_world(module_db)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(world.url))) as test_client:
        yield test_client


@pytest.fixture
def own_world(own_db: str) -> World:
    return seed_world(own_db)


@pytest.fixture
def own_client(own_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(own_world.url))) as test_client:
        yield test_client
