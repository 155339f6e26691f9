"""Real servers for the tests: one PostgreSQL and one Mosquitto per session, plus fresh
databases and throwaway brokers for tests that need to break them."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from devstack.mosquitto import MosquittoBroker
from devstack.postgres import PostgresServer

# Helpers shared by several test folders (vigil_stack.py) live here, beside this file.
sys.path.insert(0, str(Path(__file__).parent))

# Shared, noisy machines: hypothesis must judge behaviour, never speed.
settings.register_profile("vigil", deadline=None, max_examples=100)
settings.load_profile("vigil")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("pg") / "data")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_db_url(pg_server: PostgresServer) -> Iterator[str]:
    """An empty database of its own for one test, dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:{pg_server.port}/{name}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    """An anonymous broker for one test. Mosquitto starts in a fraction of a second, and a
    broker shared between tests leaks retained status messages and persistent sessions from
    one test into the next (a consumer subscribing to every gateway sees them all)."""
    broker = MosquittoBroker(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker for one test, which it may kill and restart."""
    broker = MosquittoBroker(tmp_path / "mosquitto")
    broker.start()
    yield broker
    broker.kill()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A PostgreSQL server for one test, which it may stop, kill and restart."""
    server = PostgresServer(tmp_path / "pgdata")
    server.start()
    yield server
    server.kill()
