"""Fixtures for the ingest tests (helpers live in ingest_helpers.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.mosquitto import MosquittoBroker

# --import-mode=importlib puts no test folder on sys.path; the helpers module lives here.
sys.path.insert(0, str(Path(__file__).parent))
from ingest_helpers import Fleet, GatewayClient, migrate_db, seed_fleet


@pytest.fixture
def db_url(fresh_db_url: str) -> str:
    """A fresh database with every migration applied."""
    migrate_db(fresh_db_url)
    return fresh_db_url


@pytest.fixture
def fleet(db_url: str) -> Fleet:
    return seed_fleet(db_url)


@pytest.fixture
def gateway_client(mqtt_broker: MosquittoBroker, fleet: Fleet) -> Iterator[GatewayClient]:
    client = GatewayClient(mqtt_broker.url, [*fleet.gateways, "unregistered-gw"])
    yield client
    client.close()
